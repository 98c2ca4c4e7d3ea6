"""Multispectral batch augmentations: any band count and dtype, per-sample parameters, exact geometry, configs."""

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from bigearth.errors import ConfigError
from bigearth.ssl.augment import AUGMENTATIONS, DEFAULT_PIPELINE, build_augmentations
from bigearth.ssl.augment.geometric import CutOut, Flip, ResizedCrop, Rot90
from bigearth.ssl.augment.radiometric import (
    BrightnessContrast,
    ChannelDropout,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    Solarize,
)


def batch(bands: int = 10, dtype: torch.dtype = torch.float32, size: int = 16, n: int = 6) -> torch.Tensor:
    values = torch.randn(n, bands, size, size, generator=torch.Generator().manual_seed(0)) * 3
    return (values * 100).round().to(dtype) if not dtype.is_floating_point else values.to(dtype)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.int16])
@pytest.mark.parametrize("bands", [2, 12])
def test_every_augmentation_keeps_bands_dtype_and_device(name, dtype, bands) -> None:
    augmentation = AUGMENTATIONS[name](**({"size": 8} if name == "resized_crop" else {}))
    images = batch(bands, dtype)
    out = augmentation(images)
    size = 8 if name == "resized_crop" else 16
    assert out.shape == (6, bands, size, size)
    assert out.dtype == dtype
    assert out.device == images.device
    if dtype.is_floating_point:
        assert bool(torch.isfinite(out).all())


def test_probability_zero_is_the_identity() -> None:
    images = batch()
    for name, kind in AUGMENTATIONS.items():
        if name != "resized_crop":
            assert torch.equal(kind(p=0.0)(images), images), name


def test_rot90_and_flips_are_exact_and_follow_the_albumentations_distributions() -> None:
    # albumentations: A.RandomRotate90(p=0.75) draws k in 0..3 for 75 % of the samples: P(k=0) = 0.25 + 0.75 / 4;
    # A.Flip(p=0.75) flips 75 % of the samples left-right, top-bottom or both, a third each.
    n = 8000
    image = torch.arange(16.0).view(1, 1, 4, 4)
    images = image.expand(n, 1, 4, 4).contiguous()
    generator = torch.Generator().manual_seed(0)
    rotations = [torch.rot90(image, k, dims=(-2, -1)) for k in range(4)]
    rotated = Rot90(p=0.75)(images, generator=generator)
    turns = torch.stack([(rotated == rotation).flatten(1).all(dim=1) for rotation in rotations], dim=1)
    assert bool((turns.sum(dim=1) == 1).all())  # every output is exactly one of the four rotations
    frequencies = turns.double().mean(dim=0).tolist()
    assert frequencies == pytest.approx([0.4375, 0.1875, 0.1875, 0.1875], abs=0.025)
    flips = [image, image.flip(-1), image.flip(-2), image.flip(-1).flip(-2)]
    flipped = Flip(p=0.75)(images, generator=generator)
    kinds = torch.stack([(flipped == flip).flatten(1).all(dim=1) for flip in flips], dim=1)
    assert bool((kinds.sum(dim=1) == 1).all())
    assert kinds.double().mean(dim=0).tolist() == pytest.approx([0.25, 0.25, 0.25, 0.25], abs=0.025)
    only_vertical = Flip(horizontal=False, p=1.0)(images[:8])
    assert torch.equal(only_vertical, images[:8].flip(-2))


def test_rot90_keeps_integer_values_exactly() -> None:
    images = batch(dtype=torch.int16)
    out = Rot90(p=1.0)(images)
    assert out.dtype == torch.int16
    assert sorted(out.flatten().tolist()) == sorted(images.flatten().tolist())


def test_resized_crop_of_the_whole_image_is_a_bilinear_resize() -> None:
    images = batch(size=20)
    whole = ResizedCrop(size=12, scale=(1.0, 1.0), ratio=(1.0, 1.0))(images)
    reference = F.interpolate(images, size=(12, 12), mode="bilinear", align_corners=False)
    torch.testing.assert_close(whole, reference, atol=1e-4, rtol=0)
    same = ResizedCrop(size=20, scale=(1.0, 1.0), ratio=(1.0, 1.0))(images)
    torch.testing.assert_close(same, images, atol=1e-4, rtol=0)


def test_resized_crops_differ_between_samples_and_repeat_with_a_seed() -> None:
    images = batch(n=1).expand(8, -1, -1, -1)
    crop = ResizedCrop(size=8, scale=(0.2, 0.5))
    out = crop(images, generator=torch.Generator().manual_seed(5))
    assert len({tuple(sample.flatten().tolist()[:5]) for sample in out}) == 8
    torch.testing.assert_close(out, crop(images, generator=torch.Generator().manual_seed(5)))


def test_radiometric_augmentations_do_what_they_say() -> None:
    images = batch()
    gray = Grayscale(p=1.0)(images)
    torch.testing.assert_close(gray, images.mean(dim=1, keepdim=True).expand_as(images))
    solar = Solarize(threshold=0.5, p=1.0)(images)
    assert torch.equal(solar, torch.where(images >= 0.5, -images, images))
    constant = torch.full((2, 3, 16, 16), 2.5)
    torch.testing.assert_close(GaussianBlur(sigma=(1.0, 2.0), p=1.0)(constant), constant)
    noise = torch.randn(4, 3, 32, 32)
    assert GaussianBlur(sigma=(1.5, 2.0), p=1.0)(noise).std() < 0.5 * noise.std()
    zeros = torch.zeros(64, 2, 32, 32)
    spread = GaussianNoise(std=(0.05, 0.1), p=1.0)(zeros).flatten(1).std(dim=1)
    assert bool((spread > 0.04).all())
    assert bool((spread < 0.11).all())
    assert spread.std() > 0.005
    changed = BrightnessContrast(brightness=0.2, contrast=0.3, p=1.0)(images)
    for original, out in zip(images, changed, strict=True):  # one gain and one shift per sample
        gain = (out.flatten()[1] - out.flatten()[0]) / (original.flatten()[1] - original.flatten()[0])
        shift = out.flatten()[0] - gain * original.flatten()[0]
        assert 0.7 - 1e-4 <= gain <= 1.3 + 1e-4
        assert abs(shift) <= 0.2 + 1e-4
        torch.testing.assert_close(out, gain * original + shift, atol=1e-4, rtol=0)


def test_cutout_fills_one_square_and_channel_dropout_keeps_a_band() -> None:
    images = batch(n=32, size=20) + 10
    holes = CutOut(size=(0.3, 0.3), value=0.0, p=1.0)(images)
    for out in holes:
        hole = (out == 0).all(dim=0)
        rows, columns = hole.any(dim=1).sum().item(), hole.any(dim=0).sum().item()
        assert 0 < hole.sum().item() == rows * columns  # one axis-aligned rectangle
        assert rows <= 7
        assert columns <= 7
    dropped = ChannelDropout(rate=0.99, p=1.0)(images)
    kept = (dropped != 0).flatten(2).any(dim=2).sum(dim=1)
    assert bool((kept >= 1).all())
    assert bool((kept < images.shape[1]).all())


def test_pipelines_build_from_configs() -> None:
    steps = [dict(step, size=8) if step["name"] == "resized_crop" else step for step in DEFAULT_PIPELINE]
    pipeline = build_augmentations([*steps, "blur", {"name": "noise", "std": [0.0, 0.1]}])
    assert pipeline(batch()).shape == (6, 10, 8, 8)
    with pytest.raises(ConfigError, match="unknown augmentation 'sharpen'"):
        build_augmentations(["sharpen"])
    with pytest.raises(ConfigError, match="'flip'"):
        build_augmentations([{"name": "flip", "strength": 2}])
    with pytest.raises(ConfigError, match="probability p"):
        build_augmentations([{"name": "rot90", "p": 2}])
    with pytest.raises(ConfigError, match="low <= high"):
        build_augmentations([{"name": "blur", "sigma": [2.0, 1.0]}])


def test_augmentations_refuse_batches_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"\(batch_size, bands, height, width\)"):
        Flip()(torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match="enable horizontal, vertical or both"):
        Flip(horizontal=False, vertical=False)
    with pytest.raises(ValueError, match="square"):
        Rot90(p=1.0)(torch.zeros(2, 3, 16, 12))
