"""Re-estimating batch-norm statistics after slimming.

A slimmed ResNet's channels see other inputs than the full network's (fewer channels feed each convolution),
so its recorded running means and variances no longer fit; a slimmable-trained one shares its statistics across
widths. As in universally slimmable networks (Yu & Huang, ICCV 2019, section 3.3), the statistics are
re-estimated at each width from a few training batches, with no gradient step. Networks without batch norm
(ViTs) need nothing.
"""

import itertools
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from bigearth.evaluation.predict import open_dataset
from bigearth.models.fm.features import FeatureEncoder
from bigearth.tasks.mae.features import iterate_images


def batch_norms(module: nn.Module) -> list[_BatchNorm]:
    """Return the batch-norm layers of ``module`` that track running statistics."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, batches: Iterable[Tensor]) -> int:
    """Replace every running mean and variance by the plain average over ``batches``; return the images used.

    Args:
        module: the network (its training/evaluation mode is restored afterwards).
        batches: image batches ``(B, C, H, W)`` as the network reads them.
    """
    norms = batch_norms(module)
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches
    training, images = module.training, 0
    module.train()
    try:
        for batch in batches:
            module(batch)
            images += len(batch)
    finally:
        module.train(training)
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
    return images


def calibrate(encoder: FeatureEncoder, data: Path, *, batches: int = 8, batch_size: int = 64) -> int:
    """Re-estimate the batch-norm statistics of ``encoder`` from its first training batches; return the images.

    Raises:
        MissingDataError: if the data lacks a sensor the encoder reads.
        ConfigError: if the data's band or class order differs from the encoder's.
    """
    dataset = open_dataset(encoder, Path(data), split="train")  # type: ignore[arg-type]
    images = (images for _, images in iterate_images(encoder, dataset, batch_size=batch_size))
    return recalibrate_batchnorm(encoder, itertools.islice(images, batches))
