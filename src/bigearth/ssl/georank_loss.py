"""GeoRank: the rank-based geographic regulariser of contrastive self-supervised learning.

- [0] Burgert, Hackel, Rota, Demir, "Rank-based Geographical Regularization: Revisiting Contrastive
  Self-Supervised Learning for Multispectral Remote Sensing Imagery", WACV 2026, https://arxiv.org/abs/2601.02289
- [1] Reference code: https://github.com/tomburgert/georank (``SoftRankLoss`` in ``utils.py``)
- [2] Soft ranks: Blondel et al., ICML 2020 (:mod:`bigearth.ssl.soft_rank`)
"""

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.ssl.geodesy import check_coordinates, haversine_distances
from bigearth.ssl.soft_rank import hard_rank, soft_rank


def off_diagonal(matrix: Tensor) -> Tensor:
    """Return a square ``(n, n)`` matrix without its diagonal, as ``(n, n - 1)`` (row order kept; no host sync)."""
    n = matrix.shape[0]
    rows = torch.arange(n, device=matrix.device)[:, None]
    columns = torch.arange(n - 1, device=matrix.device)[None, :]
    return matrix.gather(1, (columns + (columns >= rows)).expand(n, -1))


def rank_loss(
    similarity: Tensor, distance: Tensor, *, strength: float = 1e-3, max_distance_km: float = 3000.0,
    margin: float = 1.0,
) -> Tensor:  # fmt: skip
    """GeoRank's loss from similarity and distance rows (steps 2 to 5 of :class:`GeoRankLoss`).

    Args:
        similarity: ``(rows, m)`` similarities (most similar ranks first), e.g. ``cos / tau`` without the diagonal.
        distance: ``(rows, m)`` distances in km of the same pairs (nearest ranks first).
        strength: soft-rank regularisation strength, in the units of ``similarity``.
        max_distance_km: pairs farther apart are ignored.
        margin: errors up to this many rank steps are ignored.

    Returns:
        The scalar loss, float32.

    Raises:
        ValueError: for mismatched shapes or non-finite similarities.
    """
    if similarity.ndim != 2 or similarity.shape != distance.shape or similarity.shape[1] < 1:
        raise ValueError(f"similarity and distance must both be (rows, m >= 1), got {tuple(similarity.shape)} and "
                         f"{tuple(distance.shape)}")  # fmt: skip
    # ranks in float64: soft ranks of similarity / strength are differences of values near 1e4
    rank_similar = soft_rank(similarity.double(), strength=strength, descending=True)
    rank_near = hard_rank(distance).double()
    target_norm = rank_near.norm(dim=1, keepdim=True)
    error = rank_similar / rank_similar.norm(dim=1, keepdim=True) - rank_near / target_norm
    # pairs within reach, in rows whose distances are not all equal, with errors above the margin
    informative = (rank_near.amax(dim=1) > rank_near.amin(dim=1))[:, None]
    counted = (distance <= max_distance_km) & informative
    kept = counted & (error.abs() > margin / target_norm)
    squared = torch.where(kept, error.square(), torch.zeros_like(error))
    return (squared.sum() * similarity.shape[1] / counted.sum().clamp_min(1)).float()


class GeoRankLoss(nn.Module):
    """Rank the similarities of a batch's embeddings like the geographic distances of its patches [0].

    Per row ``i`` of the batch (the pairs ``(i, j)``, ``j != i``):

    1. ``s_ij = cos(z_i, z_j) / tau`` of the L2-normalised projections;
    2. ``R_s`` = soft ranks of ``s_i`` with the most similar = 1 (strength ``strength``, [2]);
    3. ``R_d`` = hard ranks of the haversine distances ``d_ij`` with the nearest = 1 (ties share their mean rank);
    4. both rows L2-normalised: ``r_s = R_s / ||R_s||``, ``r_d = R_d / ||R_d||``;
    5. ``e_ij = (r_s - r_d)^2``, set to 0 where ``|r_s - r_d|`` is at most ``margin`` rank steps
       (``margin / ||R_d||``: errors below one rank step are ignored) and where ``d_ij > max_distance_km``.

    The loss is the mean of ``e`` over the pairs within ``max_distance_km``, times ``n - 1``: a unit rank vector's
    entries shrink as ``1 / sqrt(n)``, so the plain mean shrinks as ``1 / n``; with the factor the value does not
    depend on the batch size (0 for equal rankings, about 1 for reversed ones when every pair is in range). The
    reference code [1] multiplies the mean by ``||(1, ..., n - 1)||`` instead (13.07 times this value at the
    published batch size 512). Rows whose distances are all equal (every patch at one place) carry no ranking and
    are left out; a batch without any informative pair gives 0 (with a gradient of zeros).

    With the published strength 1e-3 on ``cos / tau`` the soft ranks are the hard ranks except among similarities
    within about ``strength * tau`` = 4e-5 of each other; only those pass gradients (as in [1]).

    Args:
        tau: temperature dividing the cosine similarities (0.04).
        strength: regularisation strength of the soft rank (1e-3).
        max_distance_km: pairs farther apart are ignored (3000 km).
        margin: errors up to this many rank steps are ignored (1).

    Raises:
        ValueError: for a non-positive ``tau``, ``strength`` or ``max_distance_km`` or a negative ``margin``.
    """

    def __init__(
        self, *, tau: float = 0.04, strength: float = 1e-3, max_distance_km: float = 3000.0, margin: float = 1.0
    ) -> None:
        super().__init__()
        for name, value in (("tau", tau), ("strength", strength), ("max_distance_km", max_distance_km)):
            if not value > 0:
                raise ValueError(f"GeoRank's {name} must be positive, got {value}")
        if margin < 0:
            raise ValueError(f"GeoRank's margin must be at least 0 rank steps, got {margin}")
        self.tau, self.strength, self.max_distance_km, self.margin = tau, strength, max_distance_km, margin

    def forward(self, projections: Tensor, lat: Tensor, lon: Tensor) -> Tensor:
        """Return the GeoRank loss of one view's projections.

        Args:
            projections: ``(batch_size, dim)`` projections of one view (gradients flow into them).
            lat: ``(batch_size,)`` patch-centre latitudes, degrees.
            lon: ``(batch_size,)`` patch-centre longitudes, degrees.

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: for fewer than 2 patches, mismatched shapes, non-finite projections, or missing (NaN)
                or impossible coordinates.
        """
        if projections.ndim != 2 or len(projections) < 2:
            raise ValueError(
                f"GeoRank ranks the other patches of a batch: projections must be (batch_size >= 2, dim), got "
                f"{tuple(projections.shape)}"
            )
        check_coordinates(lat, lon, batch_size=len(projections))
        if not bool(torch.isfinite(projections).all()):
            raise ValueError("GeoRank got NaN or infinite projections; check the input images and the learning rate")
        z = F.normalize(projections.float(), dim=1)
        # similarities s_ij = <z_i, z_j> / tau and distances d_ij, each without the diagonal: (n, n - 1)
        similarity = off_diagonal(torch.einsum("id,jd->ij", z, z) / self.tau)
        distance = off_diagonal(haversine_distances(lat.to(z.device), lon.to(z.device)))
        return rank_loss(similarity, distance, strength=self.strength, max_distance_km=self.max_distance_km,
                         margin=self.margin)  # fmt: skip
