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


#: How target ranks treat equal distances: ``ordinal`` (the reference code [1]) or ``mean`` (bigearth's option).
TIES = ("ordinal", "mean")


def target_ranks(distance: Tensor, *, ties: str = "ordinal") -> Tensor:
    """Return the ranks of every row's distances, nearest = 1, float64.

    Args:
        distance: ``(rows, m)`` distances.
        ties: ``ordinal``: ``argsort(argsort(d)) + 1`` with ties broken by batch order (the reference code [1]);
            ``mean``: tied distances share their mean rank.

    Raises:
        ValueError: for an unknown ``ties``.
    """
    if ties == "ordinal":
        return (distance.argsort(dim=1, stable=True).argsort(dim=1, stable=True) + 1).double()
    if ties == "mean":
        return hard_rank(distance).double()
    raise ValueError(f"GeoRank's ties must be one of {TIES}, got {ties!r}")


def rank_loss(
    similarity: Tensor, distance: Tensor, *, strength: float = 1e-3, max_distance_km: float = 3000.0,
    margin: float = 1.0, ties: str = "ordinal",
) -> Tensor:  # fmt: skip
    """GeoRank's loss from similarity and distance rows (steps 2 to 6 of :class:`GeoRankLoss`).

    Args:
        similarity: ``(rows, m)`` similarities (most similar ranks first), e.g. ``cos / tau`` without the diagonal.
        distance: ``(rows, m)`` distances in km of the same pairs (nearest ranks first).
        strength: soft-rank regularisation strength, in the units of ``similarity``.
        max_distance_km: pairs farther apart are ignored.
        margin: squared errors up to ``(margin / S)^2`` are set to 0, ``S = ||(1, ..., m)||``.
        ties: target ranks of equal distances (:func:`target_ranks`).

    Returns:
        The scalar loss, float32; 0 (with zero gradients) when no pair lies within ``max_distance_km`` or every
        distance is 0 (every patch at one place).

    Raises:
        ValueError: for mismatched shapes or non-finite similarities.
    """
    if similarity.ndim != 2 or similarity.shape != distance.shape or similarity.shape[1] < 1:
        raise ValueError(f"similarity and distance must both be (rows, m >= 1), got {tuple(similarity.shape)} and "
                         f"{tuple(distance.shape)}")  # fmt: skip
    # S = ||(1, ..., m)||: the reference's scale factor, also the norm of an ordinal rank row
    scale = torch.arange(1, similarity.shape[1] + 1, dtype=torch.float64).norm().item()
    # ranks in float64: soft ranks of similarity / strength are differences of values near 1e4
    rank_similar = soft_rank(similarity.double(), strength=strength, descending=True)
    rank_near = target_ranks(distance, ties=ties)
    error = rank_similar / rank_similar.norm(dim=1, keepdim=True) - rank_near / rank_near.norm(dim=1, keepdim=True)
    squared = error.square()
    counted = distance <= max_distance_km
    kept = counted & (squared > (margin / scale) ** 2) & (distance.amax() > 0)  # amax 0: every patch at one place
    total = torch.where(kept, squared, torch.zeros_like(squared)).sum()
    return (total / counted.sum().clamp_min(1) * scale).float()


class GeoRankLoss(nn.Module):
    """Rank the similarities of a batch's embeddings like the geographic distances of its patches [0].

    As the reference code computes it ([1], ``utils.py`` ``SoftRankLoss.forward``). Per row ``i`` of the batch
    (the ``m = n - 1`` pairs ``(i, j)``, ``j != i``):

    1. ``s_ij = cos(z_i, z_j) / tau`` of the L2-normalised outputs;
    2. ``R_s`` = soft ranks of ``s_i`` with the most similar = 1 (strength ``strength``, [2]);
    3. ``R_d`` = ranks of the haversine distances ``d_ij`` with the nearest = 1, ordinal: ``argsort(argsort(d)) + 1``,
       ties broken by batch order (``ties="mean"``: tied distances share their mean rank, bigearth's option);
    4. both rows L2-normalised: ``r_s = R_s / ||R_s||``, ``r_d = R_d / ||R_d||``;
    5. ``e_ij = (r_s - r_d)^2`` over the pairs with ``d_ij <= max_distance_km``; errors at or below
       ``(margin / S)^2`` are set to 0, where ``S = ||(1, 2, ..., m)||`` (one rank step of a unit rank row);
    6. the loss is the mean of those errors times ``S``.

    The value depends on the batch size (it grows about as ``sqrt(n)`` for a fixed quality of ranking): the
    published ``alpha`` 0.5 holds at the published batch 512. A row whose distances are all equal (all other
    patches at one place) is ranked in batch order, as in [1].

    Degenerate batches give a documented zero loss with zero gradients, never NaN: no pair within
    ``max_distance_km`` (the reference code returns NaN there) and every patch at one place (the reference code
    would fit the batch order, which carries no geography). A batch of one patch is refused.

    With the published strength 1e-3 on ``cos / tau`` the soft ranks are the hard ranks except among similarities
    within about ``strength * tau`` = 4e-5 of each other; only those pass gradients (as in [1]).

    Args:
        tau: temperature dividing the cosine similarities (0.04).
        strength: regularisation strength of the soft rank (1e-3).
        max_distance_km: pairs farther apart are ignored (3000 km).
        margin: errors up to ``margin`` rank steps are ignored (1).
        ties: ``ordinal`` (the reference code) or ``mean`` target ranks of equal distances.

    Raises:
        ValueError: for a non-positive ``tau``, ``strength`` or ``max_distance_km``, a negative ``margin`` or an
            unknown ``ties``.
    """

    def __init__(
        self, *, tau: float = 0.04, strength: float = 1e-3, max_distance_km: float = 3000.0, margin: float = 1.0,
        ties: str = "ordinal",
    ) -> None:  # fmt: skip
        super().__init__()
        for name, value in (("tau", tau), ("strength", strength), ("max_distance_km", max_distance_km)):
            if not value > 0:
                raise ValueError(f"GeoRank's {name} must be positive, got {value}")
        if margin < 0:
            raise ValueError(f"GeoRank's margin must be at least 0 rank steps, got {margin}")
        if ties not in TIES:
            raise ValueError(f"GeoRank's ties must be one of {TIES}, got {ties!r}")
        self.tau, self.strength, self.max_distance_km, self.margin, self.ties = (
            tau,
            strength,
            max_distance_km,
            margin,
            ties,
        )

    def forward(self, projections: Tensor, lat: Tensor, lon: Tensor) -> Tensor:
        """Return the GeoRank loss of one view's projections.

        Args:
            projections: ``(batch_size, dim)`` outputs of one view (gradients flow into them).
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
                         margin=self.margin, ties=self.ties)  # fmt: skip
