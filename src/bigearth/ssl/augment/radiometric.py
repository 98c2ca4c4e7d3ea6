"""Radiometric batch augmentations for any number of bands.

Blur, noise, brightness/contrast, solarisation, grayscale and channel dropout. Amounts are in the batch's units
(standard deviations of normalised bands).
"""

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from bigearth.ssl.augment.base import BatchAugmentation, check_range, per_sample, uniform


class GaussianBlur(BatchAugmentation):
    """Blur every band with a Gaussian of a random standard deviation per sample.

    Separable: one grouped convolution per axis for the whole batch; reflected borders.

    Args:
        sigma: range of the standard deviation, pixels.
        p: probability that a sample is blurred.

    Raises:
        ValueError: for a range that is not positive.
    """

    def __init__(self, *, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5) -> None:
        super().__init__(p=p)
        self.sigma = check_range("GaussianBlur sigma", sigma, low=1e-3)

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Blur the chosen samples."""
        batch, bands, height, width = images.shape
        radius = min(math.ceil(3 * self.sigma[1]), height - 1, width - 1)
        sigma = uniform(batch, *self.sigma, like=images, generator=generator)
        offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
        kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)
        kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(bands, dim=0)  # (B * C, 2r + 1)
        planes = F.pad(images.reshape(1, batch * bands, height, width), (radius,) * 4, mode="reflect")
        planes = F.conv2d(planes, kernel[:, None, None, :], groups=batch * bands)
        planes = F.conv2d(planes, kernel[:, None, :, None], groups=batch * bands)
        return torch.where(per_sample(chosen), planes.view_as(images), images)


class GaussianNoise(BatchAugmentation):
    """Add white Gaussian noise of a random standard deviation per sample.

    Args:
        std: range of the noise's standard deviation.
        p: probability that a sample gets noise.
    """

    def __init__(self, *, std: tuple[float, float] = (0.01, 0.1), p: float = 0.5) -> None:
        super().__init__(p=p)
        self.std = check_range("GaussianNoise std", std, low=0.0)

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Add noise to the chosen samples."""
        std = uniform(len(images), *self.std, like=images, generator=generator) * chosen
        noise = torch.randn(images.shape, device=images.device, dtype=images.dtype, generator=generator)
        return images + per_sample(std) * noise


class BrightnessContrast(BatchAugmentation):
    """Change contrast and brightness: ``x -> (1 + c) x + b`` per sample.

    ``c ~ U(-contrast, contrast)`` and ``b ~ U(-brightness, brightness)``: albumentations'
    ``RandomBrightnessContrast`` on data whose mean is 0.

    Args:
        brightness: largest shift.
        contrast: largest relative change of the spread.
        p: probability that a sample is changed.
    """

    def __init__(self, *, brightness: float = 0.1, contrast: float = 0.3, p: float = 0.5) -> None:
        super().__init__(p=p)
        if brightness < 0 or not 0 <= contrast < 1:
            raise ValueError(f"BrightnessContrast needs brightness >= 0 and 0 <= contrast < 1, got {brightness}, "
                             f"{contrast}")  # fmt: skip
        self.brightness, self.contrast = brightness, contrast

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Scale and shift the chosen samples."""
        gain = 1 + uniform(len(images), -self.contrast, self.contrast, like=images, generator=generator) * chosen
        shift = uniform(len(images), -self.brightness, self.brightness, like=images, generator=generator) * chosen
        return images * per_sample(gain) + per_sample(shift)


class Solarize(BatchAugmentation):
    """Invert values at or above ``threshold`` about the band mean.

    ``x -> -x``: what ``1 - x`` is to images in [0, 1].

    Args:
        threshold: values at or above it are inverted.
        p: probability that a sample is solarised.
    """

    def __init__(self, *, threshold: float = 0.0, p: float = 0.2) -> None:
        super().__init__(p=p)
        self.threshold = threshold

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Solarise the chosen samples."""
        return torch.where(per_sample(chosen) & (images >= self.threshold), -images, images)


class Grayscale(BatchAugmentation):
    """Replace every band by the mean of the sample's bands (the multispectral analogue of a gray image).

    Args:
        p: probability that a sample is made gray.
    """

    def __init__(self, *, p: float = 0.2) -> None:
        super().__init__(p=p)

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Average the bands of the chosen samples."""
        return torch.where(per_sample(chosen), images.mean(dim=1, keepdim=True).expand_as(images), images)


class ChannelDropout(BatchAugmentation):
    """Set each band of a chosen sample to ``value`` with probability ``rate``; at least one band is kept.

    Args:
        rate: probability that a band is dropped.
        value: the fill (0 = the band mean of normalised data).
        p: probability that a sample loses bands.
    """

    def __init__(self, *, rate: float = 0.2, value: float = 0.0, p: float = 0.5) -> None:
        super().__init__(p=p)
        if not 0 <= rate < 1:
            raise ValueError(f"ChannelDropout: rate must lie in [0, 1), got {rate}")
        self.rate, self.value = rate, value

    def apply(self, images: Tensor, chosen: Tensor, generator: torch.Generator | None) -> Tensor:
        """Drop bands of the chosen samples."""
        batch, bands = images.shape[:2]
        drop = torch.rand(batch, bands, device=images.device, generator=generator) < self.rate
        # a sample that would lose every band keeps one, drawn at random
        keep = torch.randint(bands, (batch,), device=images.device, generator=generator)
        everything = drop.all(dim=1, keepdim=True)
        drop &= ~(everything & (torch.arange(bands, device=images.device)[None, :] == keep[:, None]))
        return images.masked_fill((drop & chosen[:, None])[:, :, None, None], self.value)
