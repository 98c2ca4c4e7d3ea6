"""Compiled CPU kernels of :class:`~bigearth.data.transforms.BatchTransform`: normalise and resample in one pass.

numpy needs several passes over a float32 batch of 128 x 14 x 120 x 120 (103 MB, far more than the CPU caches) to
cast, scale, offset and widen it; these numba kernels read each native pixel once and write each output value once.
They run on one thread and release the GIL (threads of a reader may call them side by side). Compiled on first use
and cached on disk (``cache=True``: numba's ``__pycache__`` beside this file, or its user-wide cache directory when
that is not writable), so a spawned DataLoader worker loads them instead of compiling again.

Arithmetic is float32 throughout and never fused (numba emits no multiply-add contraction without ``fastmath``),
so the results are bit-identical to numpy's ``value * scale + offset`` in float32.
"""

import numba
import numpy as np

from bigearth.bands import IMAGE_SIZE


@numba.njit(nogil=True, cache=True, boundscheck=False)
def normalise_nearest(
    values: np.ndarray,
    rows: np.ndarray,
    order: np.ndarray,
    position: int,
    scale: np.float32,
    offset: np.float32,
    out: np.ndarray,
    channel: int,
) -> None:
    """Write ``values[rows[b], position] * scale + offset``, widened by nearest neighbour, into ``out[b, channel]``.

    Args:
        values: ``(N, n, s, s)`` uint16 or float32 band group at native size ``s`` (120, 60 or 20 px): a batch's
            group, or a whole memory-mapped group of the packed layout.
        rows: ``(B,)`` int64 rows of ``values`` to read, one per output sample.
        order: ``(B,)`` int64 output samples in the order to read them (ascending rows read a memory map best).
        position: the band's index in the group.
        scale: float32 ``1 / std``.
        offset: float32 ``-mean / std``.
        out: ``(B, C, 120, 120)`` float32; each ``f x f`` block (``f = 120 / s``) of channel ``channel`` gets
            its native pixel's normalised value.
        channel: the band's channel in ``out``.
    """
    size = values.shape[2]
    factor = IMAGE_SIZE // size
    for sample in order:
        source = rows[sample]
        for row in range(size):
            first = row * factor
            for column in range(size):
                value = np.float32(values[source, position, row, column]) * scale + offset
                for repeat in range(factor):
                    out[sample, channel, first, column * factor + repeat] = value
            for repeat in range(1, factor):  # the widened row, copied into the block's other rows
                for column in range(IMAGE_SIZE):
                    out[sample, channel, first + repeat, column] = out[sample, channel, first, column]


@numba.njit(nogil=True, cache=True, boundscheck=False)
def normalise_bilinear(
    values: np.ndarray,
    rows: np.ndarray,
    order: np.ndarray,
    position: int,
    scale: np.float32,
    offset: np.float32,
    phases: np.ndarray,
    weights: np.ndarray,
    out: np.ndarray,
    channel: int,
) -> None:
    """Normalise ``values[rows[b], position]`` at native size, then upsample it bilinearly into ``out[b, channel]``.

    Columns first, then rows, each output value ``first * first_weight + second * second_weight`` of two
    neighbours in the edge-padded source (the phases of :func:`~bigearth.data.transforms.bilinear_phases`), which
    is what ``F.interpolate(mode="bilinear", align_corners=False)`` computes.

    Args:
        values: ``(N, n, s, s)`` uint16 or float32 band group at native size ``s`` < 120.
        rows: ``(B,)`` int64 rows of ``values`` to read, one per output sample.
        order: ``(B,)`` int64 output samples in the order to read them.
        position: the band's index in the group.
        scale: float32 ``1 / std``.
        offset: float32 ``-mean / std``.
        phases: ``(f, 2)`` int64 offsets of the two neighbours into the padded source, per output phase ``k``.
        weights: ``(f, 2)`` float32 weights of those neighbours.
        out: ``(B, C, 120, 120)`` float32.
        channel: the band's channel in ``out``.
    """
    size = values.shape[2]
    factor = IMAGE_SIZE // size
    padded = np.empty((size + 2, size + 2), dtype=np.float32)  # normalised source, one edge pixel on each side
    wide = np.empty((size + 2, IMAGE_SIZE), dtype=np.float32)  # its rows interpolated to 120 px
    for sample in order:
        source = rows[sample]
        for row in range(size):
            for column in range(size):
                padded[row + 1, column + 1] = np.float32(values[source, position, row, column]) * scale + offset
            padded[row + 1, 0], padded[row + 1, size + 1] = padded[row + 1, 1], padded[row + 1, size]
        for row in range(1, size + 1):
            for column in range(size):
                for k in range(factor):
                    wide[row, column * factor + k] = (
                        padded[row, column + phases[k, 0]] * weights[k, 0]
                        + padded[row, column + phases[k, 1]] * weights[k, 1]
                    )
        wide[0] = wide[1]
        wide[size + 1] = wide[size]
        for row in range(size):
            for k in range(factor):
                for column in range(IMAGE_SIZE):
                    out[sample, channel, row * factor + k, column] = (
                        wide[row + phases[k, 0], column] * weights[k, 0]
                        + wide[row + phases[k, 1], column] * weights[k, 1]
                    )
