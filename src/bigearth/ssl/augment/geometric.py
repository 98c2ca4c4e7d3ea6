"""Geometric batch augmentations: resized crop, flips, 90-degree rotations, cut-out."""

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from bigearth.ssl.augment.base import BatchAugmentation, check_range, per_sample, uniform


class ResizedCrop(BatchAugmentation):
    """Crop a box of random area and aspect ratio and resize it to ``size``: ``RandomResizedCrop`` per sample.

    Bilinear, one ``grid_sample`` for the whole batch (torchvision's ``RandomResizedCrop`` per sample).

    Samples that are not chosen are resized whole. Downscaling is not antialiased.

    Args:
        size: output height = width in pixels.
        scale: range of the box's area as a fraction of the image's.
        ratio: range of the box's aspect ratio (width / height), drawn log-uniformly.
        p: probability that a sample is cropped.

    Raises:
        ValueError: for a non-positive size or invalid ranges.
    """

    def __init__(
        self, *, size: int = 120, scale: tuple[float, float] = (0.2, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
        p: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__(p=p)
        if size < 1:
            raise ValueError(f"ResizedCrop: size must be a positive number of pixels, got {size}")
        self.size = size
        self.scale = check_range("ResizedCrop scale", scale, low=1e-6)
        self.ratio = check_range("ResizedCrop ratio", ratio, low=1e-6)
        if self.scale[1] > 1:
            raise ValueError(f"ResizedCrop: scale is a fraction of the image area, at most 1, got {list(scale)}")

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Crop and resize every sample (the unchosen ones: the whole image)."""
        batch = len(images)
        area = uniform(batch, *self.scale, like=images, generator=generator)
        log_ratio = uniform(batch, math.log(self.ratio[0]), math.log(self.ratio[1]), like=images, generator=generator)
        # box width and height as fractions of the image side
        width = torch.sqrt(area * log_ratio.exp()).clamp(max=1)
        height = torch.sqrt(area / log_ratio.exp()).clamp(max=1)
        width, height = torch.where(chosen, width, 1.0), torch.where(chosen, height, 1.0)
        centre_x = (1 - width) * torch.rand(batch, device=images.device, generator=generator) + width / 2
        centre_y = (1 - height) * torch.rand(batch, device=images.device, generator=generator) + height / 2
        # affine map from output to input coordinates in [-1, 1]: x_in = width * x_out + (2 centre_x - 1)
        theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
        theta[:, 0, 0], theta[:, 0, 2] = width, 2 * centre_x - 1
        theta[:, 1, 1], theta[:, 1, 2] = height, 2 * centre_y - 1
        grid = F.affine_grid(theta, [batch, images.shape[1], self.size, self.size], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Flip(BatchAugmentation):
    """Mirror the chosen samples: albumentations' ``Flip`` (``A.Flip(p)``, as the GeoRank reference code uses it).

    A chosen sample (probability ``p``) is flipped left-right, top-bottom or both, each with probability 1/3 (with
    only one direction enabled: that one). So ``A.Flip(p=0.75)`` leaves a quarter of the samples as they are.

    Args:
        horizontal: allow left-right flips.
        vertical: allow top-bottom flips.
        p: probability that a sample is flipped.

    Raises:
        ValueError: if neither direction is enabled.
    """

    moves_pixels_only = True

    def __init__(self, *, horizontal: bool = True, vertical: bool = True, p: float = 0.5) -> None:
        super().__init__(p=p)
        if not (horizontal or vertical):
            raise ValueError("Flip: enable horizontal, vertical or both")
        self.horizontal, self.vertical = horizontal, vertical

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Flip each chosen sample in one direction drawn uniformly from the enabled ones (both counts as one)."""
        # 0: left-right, 1: top-bottom, 2: both
        options = torch.tensor([0, 1, 2] if self.horizontal and self.vertical else [0 if self.horizontal else 1],
                               device=images.device)  # fmt: skip
        kind = options[torch.randint(len(options), (len(images),), device=images.device, generator=generator)]
        images = torch.where(per_sample(chosen & (kind != 1)), images.flip(-1), images)
        return torch.where(per_sample(chosen & (kind != 0)), images.flip(-2), images)


class Rot90(BatchAugmentation):
    """Rotate the chosen samples by ``k`` quarter turns, ``k`` uniform in 0..3: albumentations' ``RandomRotate90``.

    As ``A.RandomRotate90(p)`` in the GeoRank reference code: a chosen sample (probability ``p``) may draw ``k = 0``,
    so ``p = 0.75`` leaves 0.25 + 0.75 / 4 = 43.75 % of the samples unrotated. One gather for the whole batch.

    Args:
        p: probability that a sample draws a rotation.

    Raises:
        ValueError: (when called) for non-square images.
    """

    moves_pixels_only = True

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Rotate counter-clockwise by ``k`` quarter turns, ``k`` in {0, 1, 2, 3} for chosen samples, else 0."""
        batch, bands, height, width = images.shape
        if height != width:
            raise ValueError(f"Rot90 needs square images, got {height} x {width}")
        turns = torch.randint(0, 4, (batch,), device=images.device, generator=generator) * chosen
        i = torch.arange(height, device=images.device)[:, None].expand(height, width)
        j = torch.arange(width, device=images.device)[None, :].expand(height, width)
        last = height - 1
        # source pixel of output (i, j) after k turns (torch.rot90 over the last two axes)
        rows = torch.stack([i, j, last - i, last - j])[turns]
        columns = torch.stack([j, last - i, last - j, i])[turns]
        index = (rows * width + columns).view(batch, 1, -1).expand(-1, bands, -1)
        return images.flatten(2).gather(2, index).view_as(images)


class CutOut(BatchAugmentation):
    """Fill one random square of each chosen sample with a constant (DeVries and Taylor 2017, arXiv 1708.04552).

    Args:
        size: range of the square's side as a fraction of the image side.
        value: the fill (0 = the band means of a normalised batch).
        p: probability that a sample gets a hole.

    Raises:
        ValueError: for a size range outside (0, 1].
    """

    def __init__(self, *, size: tuple[float, float] = (0.1, 0.3), value: float = 0.0, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.size = check_range("CutOut size", size, low=0.0)
        if self.size[1] > 1:
            raise ValueError(f"CutOut: size is a fraction of the image side, at most 1, got {list(size)}")
        self.value = value

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Fill a square of side ``size * H`` centred anywhere in the chosen samples (clipped at the border)."""
        batch, _, height, width = images.shape
        side = uniform(batch, *self.size, like=images, generator=generator)
        centre_y = torch.rand(batch, device=images.device, generator=generator)
        centre_x = torch.rand(batch, device=images.device, generator=generator)
        y = (torch.arange(height, device=images.device) + 0.5) / height
        x = (torch.arange(width, device=images.device) + 0.5) / width
        inside_y = (y[None, :] - centre_y[:, None]).abs() <= side[:, None] / 2
        inside_x = (x[None, :] - centre_x[:, None]).abs() <= side[:, None] / 2
        hole = (inside_y[:, :, None] & inside_x[:, None, :] & chosen[:, None, None])[:, None]
        return images.masked_fill(hole, self.value)
