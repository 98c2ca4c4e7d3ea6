"""Differentiable soft ranks with l2 regularisation (Blondel et al. 2020), batched, on any device.

- [0] Blondel, Teboul, Berthet, Djolonga, "Fast Differentiable Sorting and Ranking", ICML 2020,
  https://arxiv.org/abs/2002.08871 (soft rank: eq. 7 and Prop. 3; Jacobian of the isotonic regression: Lemma 1)
- [1] Reference code: https://github.com/google-research/fast-soft-sort (NumPy/Numba) and its PyTorch port
  https://github.com/teddykoker/torchsort

Why by hand: torchsort, the maintained PyTorch port, ships no wheels: it compiles a C++/CUDA extension at install
time, which needs a compiler and a CUDA toolkit matching torch on every machine (CI and CPU-only machines too);
fast-soft-sort runs in NumPy on the CPU (the GeoRank reference code moves every batch there). This module is the
same algorithm in plain PyTorch: a few batched tensor operations per pass, on the batch's device.

The soft rank of ``theta`` (``n`` values) with strength ``eps`` is the Euclidean projection of ``theta / eps`` onto
the permutahedron of ``rho = (n, n - 1, ..., 1)`` [0, eq. 7]. With ``s`` = ``theta / eps`` sorted in descending
order, it is ``s - v`` put back in the original order, where ``v`` is the isotonic regression
``argmin_{v_1 >= ... >= v_n} ||v - (s - rho)||^2`` [0, Prop. 3]. The regression is solved by pool adjacent violators
(PAV), merging every violating pair of neighbouring blocks of every row at once for a few passes, and for rows
that still violate (many near-ties) from the concave majorant of the cumulative sums. Its Jacobian averages the
incoming gradient within each block [0, Lemma 1].

As ``eps -> 0`` the soft ranks become the hard ranks (1 = smallest value); as ``eps`` grows they all tend to
``(n + 1) / 2``. Gradients flow only between values that share a block, i.e. that lie within about ``eps`` of each
other (in the units of ``theta``).
"""

import torch
from torch import Tensor


def _check_rows(values: Tensor, name: str) -> None:
    if values.ndim != 2:
        raise ValueError(f"{name} must have shape (rows, n), got {tuple(values.shape)}")


def block_means(values: Tensor, blocks: Tensor) -> Tensor:
    """Replace every entry by the mean of its block.

    Args:
        values: ``(rows, n)``.
        blocks: ``(rows, n)`` int64 block index of every entry, non-decreasing from 0 along each row.

    Returns:
        ``(rows, n)`` block means, in ``values``' dtype.
    """
    sums = torch.zeros_like(values).scatter_add_(1, blocks, values)
    counts = torch.zeros_like(values).scatter_add_(1, blocks, torch.ones_like(values))
    return (sums / counts.clamp_min(1)).gather(1, blocks)


def _hull_blocks(values: Tensor) -> Tensor:
    """Return the block starts ``(rows, n)`` bool of the isotonic regression of every row, in one shot.

    The solution's blocks lie between the vertices of the least concave majorant of the cumulative sums
    ``P_k = (k, S_k)``, ``S_k = y_1 + ... + y_k`` (Barlow et al. 1972): ``P_k`` is a vertex iff no chord
    ``P_a P_b`` (``a < k < b``) passes above it, i.e. iff ``min_{a<k} slope(a, k) >= max_{b>k} slope(k, b)``.
    ``O(n^2)`` memory per row, computed in float64 and in chunks of rows.
    """
    rows, n = values.shape
    starts = torch.ones(rows, n, dtype=torch.bool, device=values.device)
    chunk = max(1, 2**24 // (n + 1) ** 2)
    points = torch.arange(n + 1, device=values.device, dtype=torch.float64)
    upper = points[:, None] < points[None, :]  # a < b
    for first in range(0, rows, chunk):
        sums = torch.cat([torch.zeros_like(values[first : first + chunk, :1]), values[first : first + chunk]], dim=1)
        sums = sums.double().cumsum(dim=1)
        # slope[a, b] = (S_b - S_a) / (b - a), used where a < b
        slope = (sums[:, None, :] - sums[:, :, None]) / (points[None, :] - points[:, None]).clamp_min(1)
        incoming = slope.masked_fill(~upper, torch.inf).amin(dim=1)  # min over a < k, per k
        outgoing = slope.masked_fill(~upper, -torch.inf).amax(dim=2)  # max over b > k, per k
        starts[first : first + chunk, 1:] = (incoming >= outgoing)[:, 1:n]
    return starts


@torch.no_grad()
def isotonic_decreasing(values: Tensor, *, max_passes: int | None = None) -> tuple[Tensor, Tensor]:
    """Solve ``argmin_{v_1 >= v_2 >= ... >= v_n} ||v - y||^2`` for every row ``y``.

    Pool adjacent violators, every violating pair of neighbouring blocks of every row merged at once, for up to
    ``max_passes`` passes (one or a few suffice unless many values are nearly tied); rows still violating then get
    their blocks from the concave majorant of their cumulative sums (:func:`_hull_blocks`), exactly and in one
    shot. Both give the unique solution.

    Args:
        values: ``(rows, n)`` float.
        max_passes: PAV passes before the remaining rows are solved by the majorant; default: 4 on a GPU (where
            every pass waits for the device) and ``n`` (PAV to the end) on the CPU.

    Returns:
        The solution ``(rows, n)`` and the block index of every entry ``(rows, n)`` int64 (entries of one block
        share one value, the mean of their inputs).
    """
    _check_rows(values, "values")
    starts = torch.ones_like(values, dtype=torch.bool)  # every entry starts a block of its own
    blocks = torch.arange(values.shape[1], device=values.device).expand_as(values).contiguous()
    solution = values.clone()
    if max_passes is None:
        max_passes = values.shape[1] if values.device.type == "cpu" else 4
    for done in range(max_passes + 1):
        # a block whose mean exceeds the mean of the block on its left violates the order: merge the two
        violating = starts[:, 1:] & (solution[:, 1:] > solution[:, :-1])
        if not bool(violating.any()):
            return solution, blocks
        if done == max_passes:
            break
        starts[:, 1:] &= ~violating
        blocks = starts.cumsum(dim=1) - 1
        solution = block_means(values, blocks)
    unsolved = violating.any(dim=1).nonzero().squeeze(1)
    starts[unsolved] = _hull_blocks(values[unsolved])
    blocks = starts.cumsum(dim=1) - 1
    return block_means(values, blocks), blocks


class _IsotonicDecreasing(torch.autograd.Function):
    """Isotonic regression whose backward pass averages the gradient within each block [0, Lemma 1]."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, values: Tensor) -> Tensor:
        solution, blocks = isotonic_decreasing(values)
        ctx.save_for_backward(blocks)
        return solution

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        (blocks,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return block_means(grad, blocks)


def soft_rank(values: Tensor, *, strength: float = 1.0, descending: bool = False) -> Tensor:
    """Return the l2-regularised soft ranks of every row [0].

    Args:
        values: ``(rows, n)`` float scores.
        strength: regularisation strength ``eps`` > 0 (in the units of ``values``): smaller is closer to the
            hard ranks and passes gradients between fewer values.
        descending: rank 1 for the largest value instead of the smallest.

    Returns:
        ``(rows, n)`` soft ranks in ``[1, n]`` (each row sums to ``n (n + 1) / 2``), in ``values``' dtype
        (float32 at least).

    Raises:
        ValueError: for a wrong shape, a non-positive strength or non-finite values.
    """
    _check_rows(values, "values")
    if not strength > 0:
        raise ValueError(f"the soft rank's regularisation strength must be positive, got {strength}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError("soft_rank got NaN or infinite values; check the scores it ranks")
    dtype = torch.promote_types(values.dtype, torch.float32)
    scaled = values.to(dtype) / (-strength if descending else strength)
    # s = the scaled values sorted in descending order; rho = (n, ..., 1)
    ordered, order = scaled.sort(dim=1, descending=True)
    rho = torch.arange(values.shape[1], 0, -1, device=values.device, dtype=dtype)
    ranks_sorted = ordered - _IsotonicDecreasing.apply(ordered - rho)
    return torch.empty_like(ranks_sorted).scatter(1, order, ranks_sorted)


@torch.no_grad()
def hard_rank(values: Tensor, *, descending: bool = False) -> Tensor:
    """Return the ranks of every row (1 = smallest value), tied values sharing their mean rank.

    Args:
        values: ``(rows, n)``.
        descending: rank 1 for the largest value.

    Returns:
        ``(rows, n)`` float32 ranks.
    """
    _check_rows(values, "values")
    ordered, order = values.sort(dim=1, descending=descending)
    # runs of equal values are blocks; each entry gets the mean position of its run
    blocks = torch.cat(
        [torch.zeros_like(ordered[:, :1], dtype=torch.long), (ordered[:, 1:] != ordered[:, :-1]).long()], dim=1
    ).cumsum(dim=1)
    positions = torch.arange(1, values.shape[1] + 1, device=values.device, dtype=torch.float32).expand(len(values), -1)
    ranks_sorted = block_means(positions.contiguous(), blocks)
    return torch.empty_like(ranks_sorted).scatter(1, order, ranks_sorted)
