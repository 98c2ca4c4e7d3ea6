"""Batch transforms: native-size band groups -> resampled, normalised images; multispectral augmentations.

Workers only decode; :class:`BatchTransform` turns a whole batch of raw band groups into the model input on
whatever device the batch is on (CPU or GPU), so both paths give the same tensors.

Band groups: bands of one sensor and ground sampling distance are stacked at their native size, in the order
they appear in the requested band list: ``s1`` (10 m, 120 px), ``s2_10m`` (120 px), ``s2_20m`` (60 px),
``s2_60m`` (20 px).
"""

import sys
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from bigearth.bands import BAND_GSD, IMAGE_SIZE, BandStats, published_stats, sensor
from bigearth.data.shared import in_worker, ring
from bigearth.errors import ConfigError

RESAMPLING_MODES = ("nearest", "bilinear")


def band_group(band: str) -> str:
    """Return the name of the native-size group a band is stacked in (``s1``, ``s2_10m``, ``s2_20m``, ``s2_60m``)."""
    return "s1" if sensor(band) == "s1" else f"s2_{BAND_GSD[band]}m"


def group_bands(bands: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Split a band list into native-size groups, keeping the requested order inside each group."""
    groups: dict[str, list[str]] = {}
    for band in bands:
        groups.setdefault(band_group(band), []).append(band)
    return {name: tuple(members) for name, members in groups.items()}


#: One phase of an integer bilinear upsampling: output offset ``k`` in each block of ``factor`` pixels, then
#: (first source offset, its weight, second source offset, its weight) in the edge-padded source.
Phase = tuple[int, int, np.float32, int, np.float32]


def bilinear_phases(size: int) -> list[Phase]:
    """The phases of bilinear upsampling from ``size`` to 120 px without aligned corners.

    ``F.interpolate(mode="bilinear", align_corners=False)`` samples output pixel ``i = factor * j + k`` at source
    position ``j + d`` with ``d = (k + 0.5) / factor - 0.5``, between pixels ``j - 1`` and ``j`` (``d < 0``) or
    ``j`` and ``j + 1``, clamped to the edges. In a source padded by one edge pixel on each side (index ``j + 1``
    is pixel ``j``) each phase ``k`` is then two shifted slices and two constant weights.

    Returns:
        ``(k, first, first weight, second, second weight)`` per phase, the offsets into the padded source.
    """
    factor = IMAGE_SIZE // size
    phases = []
    for k in range(factor):
        d = (k + 0.5) / factor - 0.5
        phases.append(
            (k, 0, np.float32(-d), 1, np.float32(1 + d)) if d < 0 else (k, 1, np.float32(1 - d), 2, np.float32(d))
        )
    return phases


def _bilinear_numpy(values: np.ndarray, target: np.ndarray) -> None:
    """Bilinear upsampling of ``values`` ``(B, s, s)`` into ``target`` ``(B, 120, 120)``: columns, then rows."""
    count, size = len(values), values.shape[-1]
    phases, factor = bilinear_phases(size), IMAGE_SIZE // size
    padded = np.empty((count, size, size + 2), dtype=np.float32)  # one edge column on each side
    padded[..., 1:-1], padded[..., :1], padded[..., -1:] = values, values[..., :1], values[..., -1:]
    wide = np.empty((count, size + 2, size, factor), dtype=np.float32)  # 120 px rows, one edge row on each side
    for k, first, first_weight, second, second_weight in phases:
        np.multiply(padded[..., first : first + size], first_weight, out=wide[:, 1:-1, :, k])
        wide[:, 1:-1, :, k] += padded[..., second : second + size] * second_weight
    wide[:, 0], wide[:, -1] = wide[:, 1], wide[:, -2]
    wide = wide.reshape(count, size + 2, IMAGE_SIZE)
    rows = target.reshape(count, size, factor, IMAGE_SIZE)
    for k, first, first_weight, second, second_weight in phases:
        np.multiply(wide[:, first : first + size], first_weight, out=rows[:, :, k])
        rows[:, :, k] += wide[:, second : second + size] * second_weight


def _nearest_numpy(values: np.ndarray, target: np.ndarray, pairs: np.ndarray) -> None:
    """Nearest upsampling of ``values`` ``(B, s, s)`` float32 into ``target`` ``(B, 120, 120)`` by ``f = 120 / s``.

    ``f`` is even (reBEN's 20 m and 60 m bands: 2 and 6), so a widened row is ``s * f / 2`` pairs of equal values:
    each value's bits are put twice into one 64-bit word (``pairs``, ``(B, s, s)`` uint64, overwritten), which is
    repeated ``f / 2`` times along the row and then copied into the ``f`` output rows. Bit copies only: the result
    is exactly ``np.repeat`` along both axes, with half the elements to move and no float32 repeat.
    """
    count, size = values.shape[:2]
    factor = IMAGE_SIZE // size
    np.copyto(pairs, values.view(np.uint32))
    pairs |= pairs << np.uint64(32)
    wide = pairs if factor == 2 else np.repeat(pairs, factor // 2, axis=-1)  # (B, s, 60) words: 120 px rows
    rows = target.view(np.uint64).reshape(count, size, factor, IMAGE_SIZE // 2)
    rows[...] = wide[:, :, None, :]


#: Samples normalised per step on the CPU: one band of 16 samples (0.9 MB of float32) stays in the CPU caches
#: between its conversion, scaling and offset (measured: blocks of 8 and 16 alike, 1 to 4 slower, whole batches
#: slower still).
CPU_CHUNK = 16


def _references(buffers: list[np.ndarray], position: int) -> int:
    """Return the reference count of ``buffers[position]`` as seen from here (one call path for every count)."""
    return sys.getrefcount(buffers[position])


class BufferPool:
    """Arrays reused once nothing outside the pool refers to them any more (safe for threads).

    A batch larger than the C library's largest reused heap block (32 MB for glibc) is otherwise mapped anew for
    every batch, and writing it page-faults every 4 KiB (measured: a float32 batch of 128 x 14 x 120 x 120 filled
    at 2,490 samples/s when allocated per batch, 3,806/s when reused). An array handed out stays referenced as long
    as any tensor made from it (``torch.from_numpy``) or any view of that tensor lives, so an array is reused only
    when its reference count is back to the pool's own, counted the same way on a fresh array: a batch the caller
    still holds is never overwritten. Not copied when pickled (a DataLoader worker starts with an empty pool).

    Args:
        size: arrays kept; a request that finds none free allocates one and replaces the oldest.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.buffers: list[np.ndarray] = []
        self._free = _references([np.empty(0)], 0)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["size"])  # type: ignore[misc]

    def take(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Return an array of ``shape`` and ``dtype`` that nothing else refers to (contents undefined)."""
        dtype = np.dtype(dtype)
        with self._lock:
            for position in range(len(self.buffers)):  # by position: a loop variable would hold a reference
                buffer = self.buffers[position]
                matches = buffer.shape == shape and buffer.dtype == dtype
                del buffer
                if matches and _references(self.buffers, position) == self._free:
                    return self.buffers[position]
            fresh = np.empty(shape, dtype=dtype)
            self.buffers = [*self.buffers[-(self.size - 1) :], fresh] if self.size > 1 else [fresh]
            return fresh


class BatchTransform(torch.nn.Module):
    """Resample band groups to 120 px and normalise them per band, stacked in the requested band order.

    On the CPU, both resamplings run in numpy, single-threaded whatever ``torch.get_num_threads()`` is: torch's
    intra-op threads gain nothing on this memory-bound work and collapse when other processes keep the cores busy
    (a DataLoader's workers, a trainer, other jobs). It converts, scales and offsets one band of 16 samples at a
    time while they sit in the CPU caches (a plain integer-to-float cast into the output, then two in-place passes
    in cache; numpy's fused cast-and-multiply is slower) and normalises 20 m and 60 m bands at native size; nearest
    then widens each row as pairs of values in 64-bit words and copies it ``f`` times into the output
    (:func:`_nearest_numpy`, exact), bilinear interpolates columns, then rows, with the
    weights of ``F.interpolate(mode="bilinear", align_corners=False)`` (:func:`bilinear_phases`). On a
    GPU the same steps run as torch operations (bilinear: ``F.interpolate`` per group).

    Args:
        bands: output band order.
        resample: ``"nearest"`` (as the public readers) or ``"bilinear"`` for the 20 m and 60 m bands.
        stats: per-band mean/std (default: reBEN's published train statistics for this resampling).

    Shapes:
        input: ``{group: (B, n_group, s, s)}`` uint16 (S2) or float32 (S1), s = 120, 60 or 20;
        output: ``(B, len(bands), 120, 120)`` float32.
    """

    def __init__(
        self, bands: tuple[str, ...], resample: str = "nearest", stats: Mapping[str, BandStats] | None = None
    ) -> None:
        super().__init__()
        if resample not in RESAMPLING_MODES:
            raise ConfigError(f"unknown resampling {resample!r}: use one of {RESAMPLING_MODES}")
        self.bands = tuple(bands)
        self.resample = resample
        self.groups = group_bands(self.bands)
        self.pool = BufferPool()
        stats = published_stats(resample) if stats is None else stats
        self.stats = {band: stats[band] for band in self.bands}
        # (group, position in group, output channel, scale 1/std, offset -mean/std) per band, float32 scalars
        self.plan = [
            (band_group(band), self.groups[band_group(band)].index(band), channel,
             np.float32(1 / stats[band].std), np.float32(-stats[band].mean / stats[band].std))
            for channel, band in enumerate(self.bands)
        ]  # fmt: skip

    def forward(self, groups: Mapping[str, Tensor]) -> Tensor:
        """Turn raw band groups into a normalised ``(B, C, 120, 120)`` float32 image batch."""
        missing = [name for name in self.groups if name not in groups]
        if missing:
            raise ConfigError(f"the batch lacks band group(s) {missing} needed for bands {list(self.bands)}")
        first = groups[next(iter(self.groups))]
        shape = (first.shape[0], len(self.bands), IMAGE_SIZE, IMAGE_SIZE)
        if first.device.type != "cpu":
            out = torch.empty(shape, dtype=torch.float32, device=first.device)
            return self._bilinear(groups, out) if self.resample == "bilinear" else self._nearest_torch(groups, out)
        # in a DataLoader worker the batch goes to a reused shared-memory segment, sent without another copy
        out = (
            ring().take({"image": (shape, torch.float32)})["image"]
            if in_worker()
            else torch.from_numpy(self.pool.take(shape))
        )
        self._resample_numpy({name: groups[name].numpy() for name in self.groups}, out.numpy())
        return out

    def _nearest_torch(self, groups: Mapping[str, Tensor], out: Tensor) -> Tensor:
        """Nearest resampling and normalisation as torch operations (the GPU route) into ``out``."""
        for group, position, channel, scale, offset in self.plan:
            values = groups[group][:, position]
            size = values.shape[-1]
            factor = IMAGE_SIZE // size
            if factor == 1:
                torch.mul(values, float(scale), out=out[:, channel])
                out[:, channel].add_(float(offset))
            else:  # repeat columns into contiguous 120 px rows, then copy each row `factor` times
                normalised = values * float(scale) + float(offset)
                wide = normalised[..., None].expand(-1, -1, -1, factor).reshape(-1, size, IMAGE_SIZE)
                rows = out[:, channel].view(-1, size, factor, IMAGE_SIZE)
                rows.copy_(wide[:, :, None, :].expand_as(rows))
        return out

    def _resample_numpy(self, groups: Mapping[str, np.ndarray], out: np.ndarray) -> np.ndarray:
        """Resample (nearest or bilinear) and normalise CPU arrays into ``out`` ``(B, C, 120, 120)``, one thread."""
        scratch: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}  # per block shape: reused arrays
        for start in range(0, len(out), CPU_CHUNK):
            part = slice(start, start + CPU_CHUNK)
            for group, position, channel, scale, offset in self.plan:
                values, target = groups[group][part, position], out[part, channel]
                size = values.shape[-1]
                if size == IMAGE_SIZE:
                    target[...] = values
                    target *= scale
                    target += offset
                    continue
                shape = values.shape
                if shape not in scratch:
                    scratch[shape] = (np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.uint64))
                normalised, pairs = scratch[shape]
                np.multiply(values, scale, out=normalised)  # at native size, then widened
                normalised += offset
                if self.resample == "nearest":
                    _nearest_numpy(normalised, target, pairs)
                else:
                    _bilinear_numpy(normalised, target)
        return out

    def _bilinear(self, groups: Mapping[str, Tensor], out: Tensor) -> Tensor:
        for name in self.groups:
            entries = [entry for entry in self.plan if entry[0] == name]
            scale = torch.tensor([float(e[3]) for e in entries], device=out.device).view(1, -1, 1, 1)
            offset = torch.tensor([float(e[4]) for e in entries], device=out.device).view(1, -1, 1, 1)
            values = groups[name].float() * scale + offset
            if values.shape[-1] != IMAGE_SIZE:
                values = F.interpolate(values, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
            for position, entry in enumerate(entries):
                out[:, entry[2]] = values[:, position]
        return out


def random_flip_rot90(
    image: Tensor, mask: Tensor | None = None, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor | None]:
    """Flip horizontally and rotate by a multiple of 90 degrees, independently per sample (the 8 dihedral views).

    Args:
        image: ``(B, C, H, W)`` with H = W.
        mask: optional ``(B, H, W)`` reference mask, transformed identically.
        generator: random generator on the batch's device, for reproducible augmentation.

    Returns:
        The transformed image and mask.
    """
    batch = image.shape[0]
    draws = torch.randint(0, 8, (batch,), device=image.device, generator=generator)
    flip = (draws % 2 == 1).view(-1, 1, 1, 1)
    image = torch.where(flip, image.flip(-1), image)
    if mask is not None:
        mask = torch.where(flip[:, 0], mask.flip(-1), mask)
    turns = draws // 2
    for k in (1, 2, 3):
        chosen = turns == k
        if chosen.any():
            image[chosen] = torch.rot90(image[chosen], k, dims=(-2, -1))
            if mask is not None:
                mask[chosen] = torch.rot90(mask[chosen], k, dims=(-2, -1))
    return image, mask
