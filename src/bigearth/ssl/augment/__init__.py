"""Multispectral augmentations of whole batches on their device, composable by name in configs.

A pipeline is a list of steps, each a name or ``{name: ..., **arguments}``::

    augment:
      - {name: resized_crop, size: 120, scale: [0.2, 1.0]}
      - {name: flip, p: 0.75}
      - {name: rot90, p: 0.75}

Names: ``resized_crop``, ``flip``, ``rot90``, ``cutout``, ``blur``, ``noise``, ``brightness_contrast``,
``solarize``, ``grayscale``, ``channel_dropout`` (:data:`AUGMENTATIONS`). The default (:data:`DEFAULT_PIPELINE`)
is crop + flip + rot90 with the reference code's probabilities (Burgert et al. 2026).
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.ssl.augment.base import BatchAugmentation
from bigearth.ssl.augment.geometric import CutOut, Flip, ResizedCrop, Rot90
from bigearth.ssl.augment.radiometric import (
    BrightnessContrast,
    ChannelDropout,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    Solarize,
)

AUGMENTATIONS: dict[str, type[BatchAugmentation]] = {
    "resized_crop": ResizedCrop,
    "flip": Flip,
    "rot90": Rot90,
    "cutout": CutOut,
    "blur": GaussianBlur,
    "noise": GaussianNoise,
    "brightness_contrast": BrightnessContrast,
    "solarize": Solarize,
    "grayscale": Grayscale,
    "channel_dropout": ChannelDropout,
}
#: Crop + flip + rot90: the published default (DESIGN 2.6), probabilities of the reference code.
DEFAULT_PIPELINE: tuple[dict[str, Any], ...] = (
    {"name": "resized_crop", "size": 120, "scale": [0.2, 1.0]},
    {"name": "flip", "p": 0.75},
    {"name": "rot90", "p": 0.75},
)


class Augmentations(nn.Module):
    """Apply a sequence of batch augmentations in order.

    Args:
        steps: the augmentations.
    """

    def __init__(self, steps: Sequence[BatchAugmentation]) -> None:
        super().__init__()
        self.steps = nn.ModuleList(steps)

    def forward(self, images: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Return an augmented view of ``images`` ``(B, C, H, W)``."""
        for step in self.steps:
            images = step(images, generator=generator)
        return images


def build_augmentations(specs: Sequence[str | dict[str, Any]]) -> Augmentations:
    """Build a pipeline from config entries (names, or mappings with ``name`` and arguments).

    Raises:
        ConfigError: for an unknown name or arguments the augmentation does not take.
    """
    steps = []
    for spec in specs:
        arguments = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = arguments.pop("name", None)
        if name not in AUGMENTATIONS:
            raise ConfigError(f"unknown augmentation {name!r} in {spec!r}; use one of {sorted(AUGMENTATIONS)}")
        try:
            steps.append(
                AUGMENTATIONS[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in arguments.items()})
            )
        except (TypeError, ValueError) as error:
            raise ConfigError(f"augmentation {name!r}: {error}") from error
    return Augmentations(steps)


__all__ = ["AUGMENTATIONS", "DEFAULT_PIPELINE", "Augmentations", "BatchAugmentation", "build_augmentations"]
