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


def test_rot90_and_flips_are_exact_and_drawn_per_sample() -> None:
    images = batch(n=64)
    rotated = Rot90(p=1.0)(images)
    turns = []
    for original, out in zip(images, rotated, strict=True):
        matches = [k for k in range(4) if torch.equal(torch.rot90(original, k, dims=(-2, -1)), out)]
        assert len(matches) == 1
        turns.append(matches[0])
    assert 0 not in turns
    assert set(turns) == {1, 2, 3}
    flipped = Flip(p=0.5)(images)
    variants = []
    for original, out in zip(images, flipped, strict=True):
        options = {(h, v): original.flip(-1) if h else original for h in (0, 1) for v in (0, 1)}
        options = {key: value.flip(-2) if key[1] else value for key, value in options.items()}
        variants += [key for key, value in options.items() if torch.equal(value, out)]
    assert set(variants) == {(0, 0), (0, 1), (1, 0), (1, 1)}


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
    with pytest.raises(ValueError, match="square"):
        Rot90(p=1.0)(torch.zeros(2, 3, 16, 12))
