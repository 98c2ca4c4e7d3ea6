"""Re-estimating batch-norm statistics after slimming.

A slimmed ResNet's channels see other inputs than the full network's (fewer channels feed each convolution),
so its recorded running means and variances no longer fit; a slimmable-trained one shares its statistics across
widths. As in universally slimmable networks (Yu & Huang, ICCV 2019, section 3.3), the statistics are
re-estimated at each width from a few training batches, with no gradient step
(:func:`bigearth.features.calibrate` feeds them from a data set). Networks without batch norm
(ViTs) need nothing.
"""

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


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
