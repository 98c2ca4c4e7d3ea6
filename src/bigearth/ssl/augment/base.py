"""The contract of batch augmentations: whole batches on their device, random parameters per sample.

Every augmentation takes ``(batch_size, bands, height, width)`` images of any number of bands, on any device,
draws its random parameters per sample in a few vectorised operations (no Python loop over samples), applies them
to the samples chosen with probability ``p`` and leaves the others unchanged. Floating-point batches keep their
dtype (float16 and bfloat16 are computed in float32); integer batches (raw digital numbers) are computed in
float32 and rounded back, except by augmentations that only move pixels, which keep the exact values.
Values are in the units of the batch: for normalised reBEN batches 0 is a band's mean and 1 its standard
deviation.
"""

from typing import ClassVar

import torch
from torch import Tensor, nn


def check_images(images: Tensor) -> None:
    """Refuse anything but a ``(batch_size, bands, height, width)`` batch.

    Raises:
        ValueError: naming the shape it got.
    """
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[1] == 0:
        raise ValueError(f"augmentations take (batch_size, bands, height, width) batches, got {tuple(images.shape)}")


def uniform(size: int, low: float, high: float, *, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Return ``(size,)`` float32 draws from U(low, high) on ``like``'s device."""
    return low + (high - low) * torch.rand(size, device=like.device, generator=generator)


def check_range(
    name: str, bounds: tuple[float, float] | list[float], *, low: float | None = None
) -> tuple[float, float]:
    """Return a ``(low, high)`` pair, refusing reversed bounds or values below ``low``.

    Raises:
        ValueError: naming the parameter.
    """
    if len(bounds) != 2 or bounds[0] > bounds[1] or (low is not None and bounds[0] < low):
        raise ValueError(f"{name} must be [low, high] with low <= high{f' and low >= {low}' if low is not None else ''}"
                         f", got {list(bounds)}")  # fmt: skip
    return float(bounds[0]), float(bounds[1])


class BatchAugmentation(nn.Module):
    """Base class: draw which samples to transform, transform them, restore the dtype.

    Subclasses implement :meth:`apply`.

    Args:
        p: probability that a sample is transformed.

    Raises:
        ValueError: if ``p`` is not in [0, 1].
    """

    #: whether the augmentation only moves pixels (then integer batches are transformed in their own dtype)
    moves_pixels_only: ClassVar[bool] = False

    def __init__(self, *, p: float = 1.0) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: the probability p must lie in [0, 1], got {p}")
        self.p = p

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Return the batch with the ``chosen`` samples transformed and the others unchanged.

        Args:
            images: ``(B, C, H, W)`` floating point (or integer for pixel-moving augmentations).
            chosen: ``(B,)`` bool.
            generator: random generator on the batch's device, or None.
        """
        raise NotImplementedError

    def forward(self, images: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Transform each sample with probability ``p``.

        Args:
            images: ``(B, C, H, W)`` batch, any dtype and device.
            generator: random generator on the batch's device, for reproducible draws.

        Returns:
            The augmented batch, same dtype and device (the spatial size may change for crops).

        Raises:
            ValueError: for a batch of another shape.
        """
        check_images(images)
        exact = self.moves_pixels_only or images.dtype in (torch.float32, torch.float64)
        work = images if exact else images.float()
        chosen = torch.rand(len(images), device=images.device, generator=generator) < self.p
        out = self.apply(work, chosen, generator)
        if out.dtype == images.dtype:
            return out
        if images.is_floating_point():
            return out.to(images.dtype)
        info = torch.iinfo(images.dtype)
        return out.round().clamp(info.min, info.max).to(images.dtype)


def per_sample(chosen: Tensor) -> Tensor:
    """Return ``chosen`` ``(B,)`` as ``(B, 1, 1, 1)`` for broadcasting over bands and pixels."""
    return chosen.view(-1, 1, 1, 1)
