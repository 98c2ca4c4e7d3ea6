"""BatchTransform's CPU (compiled kernels) and torch (GPU) routes against hand-computed resampling and normalising."""

import numpy as np
import pytest
import torch

from bigearth.bands import published_stats, resolve_bands
from bigearth.data.transforms import BatchTransform, BufferPool, group_bands

#: Native size of each band group (DESIGN 2.4), restated so the reference does not trust bigearth's tables.
GROUP_SIZE = {"s1": 120, "s2_10m": 120, "s2_20m": 60, "s2_60m": 20}


def random_groups(bands: tuple[str, ...], batch: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(3)
    groups = {}
    for name, members in group_bands(bands).items():
        size = GROUP_SIZE[name]
        if name == "s1":
            values = rng.normal(-15, 5, (batch, len(members), size, size)).astype(np.float32)
        else:
            values = rng.integers(0, 12000, (batch, len(members), size, size)).astype(np.uint16)
        groups[name] = torch.from_numpy(values)
    return groups


def bilinear_matrix(size: int) -> np.ndarray:
    """``(120, size)`` float64 weights of bilinear upsampling without aligned corners, one output pixel a row.

    Output pixel ``i`` samples the source at ``(i + 0.5) * size / 120 - 0.5``, clamped to ``[0, size - 1]``, and
    mixes its two neighbouring pixels linearly (what ``F.interpolate(mode="bilinear", align_corners=False)``
    computes).
    """
    matrix = np.zeros((120, size))
    for i in range(120):
        position = min(max((i + 0.5) * size / 120 - 0.5, 0.0), size - 1)
        low = int(np.floor(position))
        high = min(low + 1, size - 1)
        matrix[i, low] += 1 - (position - low)
        matrix[i, high] += position - low
    return matrix


def reference(groups: dict[str, torch.Tensor], bands: tuple[str, ...], resample: str = "nearest") -> np.ndarray:
    """Each band resampled to 120 px and standardised in float64, stacked in ``bands`` order."""
    stats = published_stats(resample)
    members = group_bands(bands)
    channels = []
    for band in bands:
        name = next(group for group, names in members.items() if band in names)
        values = groups[name][:, members[name].index(band)].numpy().astype(np.float64)
        size = values.shape[-1]
        if resample == "nearest":
            values = values.repeat(120 // size, axis=-2).repeat(120 // size, axis=-1)
        else:
            matrix = bilinear_matrix(size)
            values = matrix @ values @ matrix.T
        channels.append((values - stats[band].mean) / stats[band].std)
    return np.stack(channels, axis=1)


def test_cpu_route_equals_hand_computed_nearest() -> None:
    bands = resolve_bands(14)
    groups = random_groups(bands, 21)
    image = BatchTransform(bands)(groups)
    assert image.dtype == torch.float32
    assert image.shape == (21, 14, 120, 120)
    np.testing.assert_allclose(image.numpy(), reference(groups, bands), rtol=0, atol=2e-5)


def test_cpu_nearest_blocks_are_exact_copies_of_the_native_pixel() -> None:
    """Every f x f block of a 20 m / 60 m band holds one float32 value, bit for bit, equal to its native pixel
    normalised in float32 (value * (1 / std) + (-mean / std), what the 10 m bands get per pixel)."""
    bands = ("B05", "B01", "B11", "B09")  # the 60 px and 20 px groups, out of file order
    groups = random_groups(bands, 19)
    image = BatchTransform(bands)(groups).numpy()
    stats = published_stats("nearest")
    members = group_bands(bands)
    for channel, band in enumerate(bands):
        name = next(group for group, names in members.items() if band in names)
        native = groups[name][:, members[name].index(band)].numpy().astype(np.float32)
        factor = 120 // GROUP_SIZE[name]
        expected = native * np.float32(1 / stats[band].std) + np.float32(-stats[band].mean / stats[band].std)
        blocks = image[:, channel].reshape(len(image), GROUP_SIZE[name], factor, GROUP_SIZE[name], factor)
        widened = np.broadcast_to(expected[:, :, None, :, None], blocks.shape)
        np.testing.assert_array_equal(blocks.view(np.uint32), widened.view(np.uint32))


def test_torch_route_equals_hand_computed_nearest() -> None:
    bands = ("B8A", "VH", "B01", "B04", "B11", "VV", "B09")  # every group, out of file order
    groups = random_groups(bands, 3)
    transform = BatchTransform(bands)
    image = transform._nearest_torch(groups, torch.empty(3, len(bands), 120, 120))
    np.testing.assert_allclose(image.numpy(), reference(groups, bands), rtol=0, atol=2e-5)
    np.testing.assert_allclose(transform(groups).numpy(), image.numpy(), rtol=0, atol=2e-5)


def test_cpu_bilinear_equals_hand_computed_bilinear_at_any_thread_count() -> None:
    bands = ("B8A", "VH", "B01", "B04", "B11", "VV", "B09")  # every group, out of file order
    groups = random_groups(bands, 19)
    expected = reference(groups, bands, "bilinear")
    transform = BatchTransform(bands, "bilinear")
    threads = torch.get_num_threads()
    try:
        for count in (1, 3):
            torch.set_num_threads(count)
            np.testing.assert_allclose(transform(groups).numpy(), expected, rtol=0, atol=2e-5)
    finally:
        torch.set_num_threads(threads)
    torch_route = transform._bilinear(groups, torch.empty(len(expected), len(bands), 120, 120))
    np.testing.assert_allclose(torch_route.numpy(), expected, rtol=0, atol=1e-4)  # float32 sums of 4 products


def test_buffer_pool_reuses_an_array_only_once_nothing_refers_to_it() -> None:
    pool = BufferPool(size=3)
    first = pool.take((2, 3))
    assert first is pool.buffers[0]
    view = torch.from_numpy(first)[1:]  # a tensor view keeps the array alive after the name is gone
    del first
    second = pool.take((2, 3))
    assert second is not pool.buffers[0]
    other = pool.take((2, 3), np.uint16)  # another dtype is another array
    assert other.dtype == np.uint16
    assert other is not pool.buffers[0]
    del view
    assert pool.take((2, 3)) is pool.buffers[0]  # released: the same array again


def test_cpu_batches_the_caller_holds_are_not_overwritten() -> None:
    bands = resolve_bands(14)
    transform = BatchTransform(bands)
    first_groups, second_groups = random_groups(bands, 4), random_groups(bands, 4)
    second_groups = {name: group.flip(0).contiguous() for name, group in second_groups.items()}
    held = transform(first_groups)
    for _ in range(3):  # more batches than the pool holds
        transform(second_groups)
    np.testing.assert_allclose(held.numpy(), reference(first_groups, bands), rtol=0, atol=2e-5)
    np.testing.assert_allclose(transform(second_groups).numpy(), reference(second_groups, bands), rtol=0, atol=2e-5)


def test_cpu_route_refuses_groups_its_kernels_would_read_outside_of() -> None:
    bands = ("B04", "B05", "VV")
    groups = random_groups(bands, 3)
    transform = BatchTransform(bands)
    short = {**groups, "s2_20m": groups["s2_20m"][:2]}  # one sample fewer in one group
    with pytest.raises(ValueError, match="outside band group s2_20m"):
        transform(short)
    wrong_size = {**groups, "s2_20m": torch.zeros(3, 1, 20, 20, dtype=torch.uint16)}
    with pytest.raises(ValueError, match=r"s2_20m must be \(N, 1, 60, 60\)"):
        transform(wrong_size)
    arrays = {name: group.numpy() for name, group in groups.items()}
    with pytest.raises(ValueError, match=r"rows 0\.\.3"):
        transform.gather(arrays, np.array([0, 3]), group_bands(bands))
    np.testing.assert_array_equal(transform.gather(arrays, np.array([2, 0]), group_bands(bands)).numpy().copy(),
                                  transform(groups).numpy()[[2, 0]])  # fmt: skip
