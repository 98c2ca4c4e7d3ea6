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

from bigearth.bands import BAND_GSD, IMAGE_SIZE, BandStats, native_size, published_stats, sensor
from bigearth.data.kernels import normalise_bilinear, normalise_nearest
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


def bilinear_phases(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The phases of bilinear upsampling from ``size`` to 120 px without aligned corners.

    ``F.interpolate(mode="bilinear", align_corners=False)`` samples output pixel ``i = factor * j + k`` at source
    position ``j + d`` with ``d = (k + 0.5) / factor - 0.5``, between pixels ``j - 1`` and ``j`` (``d < 0``) or
    ``j`` and ``j + 1``, clamped to the edges. In a source padded by one edge pixel on each side (index ``j + 1``
    is pixel ``j``) each phase ``k`` is then two shifted neighbours with two constant weights.

    Returns:
        ``(factor, 2)`` int64 offsets of the two neighbours into the padded source and ``(factor, 2)`` float32
        weights, one row per phase ``k``.
    """
    factor = IMAGE_SIZE // size
    offsets, weights = np.empty((factor, 2), dtype=np.int64), np.empty((factor, 2), dtype=np.float32)
    for k in range(factor):
        d = (k + 0.5) / factor - 0.5
        offsets[k], weights[k] = ((0, 1), (-d, 1 + d)) if d < 0 else ((1, 2), (1 - d, d))
    return offsets, weights


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

    On the CPU, both resamplings run as compiled kernels (:mod:`bigearth.data.kernels`) on one thread, whatever
    ``torch.get_num_threads()`` is: torch's intra-op threads gain nothing on this memory-bound work and collapse
    when other processes keep the cores busy (a DataLoader's workers, a trainer, other jobs). Each kernel reads a
    native pixel once and writes each output value once, in float32 (``value * (1 / std) + (-mean / std)``, as
    numpy computes it, bit for bit); bilinear normalises at native size and interpolates columns, then rows, with
    the weights of ``F.interpolate(mode="bilinear", align_corners=False)`` (:func:`bilinear_phases`). On a GPU the
    same steps run as torch operations (bilinear: ``F.interpolate`` per group).

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
        sizes = {native_size(band) for band in self.bands}
        self._phases = {size: bilinear_phases(size) for size in sizes if size != IMAGE_SIZE}

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
        arrays = {name: groups[name].numpy() for name in self.groups}
        return self._finish_cpu(arrays, np.arange(len(first), dtype=np.int64), self.groups)

    def gather(
        self, arrays: Mapping[str, np.ndarray], rows: np.ndarray, members: Mapping[str, tuple[str, ...]]
    ) -> Tensor:
        """Resample and normalise rows of whole band-group arrays into a batch, on the CPU.

        The CPU route of :meth:`forward` without a batch of raw groups in between: each value is read once from
        ``arrays`` (e.g. the packed layout's memory maps) and written once into the output.

        Args:
            arrays: ``{group: (N, n, s, s)}`` uint16 (S2) or float32 (S1) arrays holding every needed group.
            rows: ``(B,)`` rows of the arrays to read, in output order.
            members: the bands of each array, in its order.

        Returns:
            ``(B, len(bands), 120, 120)`` float32.

        Raises:
            ConfigError: if the arrays lack a band.
            ValueError: if an array is not ``(N, n, s, s)`` at its bands' native size or a row is outside it.
        """
        missing = [band for band in self.bands if band not in members.get(band_group(band), ()) or
                   band_group(band) not in arrays]  # fmt: skip
        if missing:
            raise ConfigError(f"the arrays lack band(s) {missing}; they hold {dict(members)}")
        return self._finish_cpu(arrays, np.asarray(rows, dtype=np.int64), members)

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

    def _finish_cpu(
        self, arrays: Mapping[str, np.ndarray], rows: np.ndarray, members: Mapping[str, tuple[str, ...]]
    ) -> Tensor:
        """Resample (nearest or bilinear) and normalise ``rows`` of CPU arrays into a new batch, one thread.

        Raises:
            ValueError: if an array is not ``(N, n, s, s)`` at its bands' native size or a row is outside it (the
                kernels do not check their indices).
        """
        for group in {entry[0] for entry in self.plan}:
            values, size = arrays[group], native_size(members[group][0])
            if values.ndim != 4 or values.shape[1] != len(members[group]) or values.shape[2:] != (size, size):
                raise ValueError(f"band group {group} must be (N, {len(members[group])}, {size}, {size}) for bands "
                                 f"{list(members[group])}, got {tuple(values.shape)}")  # fmt: skip
            if len(rows) and (rows.min() < 0 or rows.max() >= len(values)):
                raise ValueError(f"rows {rows.min()}..{rows.max()} are outside band group {group}'s {len(values)}")
        shape = (len(rows), len(self.bands), IMAGE_SIZE, IMAGE_SIZE)
        # in a DataLoader worker the batch goes to a reused shared-memory segment, sent without another copy
        out = (
            ring().take({"image": (shape, torch.float32)})["image"]
            if in_worker()
            else torch.from_numpy(self.pool.take(shape))
        )
        target, order = out.numpy(), np.argsort(rows, kind="stable")
        for group, _, channel, scale, offset in self.plan:
            values = np.asarray(arrays[group])  # a memory map as a plain array: one compiled variant
            position = members[group].index(self.bands[channel])
            size = values.shape[-1]
            if self.resample == "nearest" or size == IMAGE_SIZE:
                normalise_nearest(values, rows, order, position, scale, offset, target, channel)
            else:
                phases, weights = self._phases[size]
                normalise_bilinear(values, rows, order, position, scale, offset, phases, weights, target, channel)
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
