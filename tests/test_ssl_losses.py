"""Soft ranks (Blondel et al. 2020), the GeoRank loss and the location-cluster baseline, against independent
computations, plus their error paths."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from bigearth.ssl.geodesy import EARTH_RADIUS_KM, haversine_distances
from bigearth.ssl.georank_loss import GeoRankLoss, off_diagonal, rank_loss
from bigearth.ssl.location_clusters import LocationClusterHead, fit_location_clusters
from bigearth.ssl.soft_rank import hard_rank, isotonic_decreasing, soft_rank


def pav_reference(values: list[float]) -> list[float]:
    """Sequential pool adjacent violators for a non-increasing fit (the textbook stack algorithm)."""
    blocks: list[list[float]] = []
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    return [total / count for total, count in blocks for _ in range(int(count))]


def permutahedron_projection(z: torch.Tensor, iterations: int = 20000) -> torch.Tensor:
    """Euclidean projection of z onto the permutahedron of (n, ..., 1) by Frank-Wolfe (no isotonic regression)."""
    n = len(z)
    rho = torch.arange(n, 0, -1, dtype=torch.float64)
    x = rho.clone()
    for step in range(iterations):
        gradient = x - z
        vertex = torch.empty_like(x)
        vertex[gradient.argsort(descending=True)] = rho.flip(0)  # smallest weight where the gradient is largest
        direction = vertex - x
        denominator = direction.square().sum()
        if denominator == 0:
            break
        gamma = float((-(gradient * direction).sum() / denominator).clamp(0, 1))
        x = x + gamma * direction
        if gamma == 0 and step > 10:
            break
    return x


@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0])
@pytest.mark.parametrize("max_passes", [0, 1, None])
def test_isotonic_regression_matches_sequential_pav(scale, max_passes) -> None:
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(40, 25, dtype=torch.float64, generator=generator) * scale - torch.arange(25)
    solution, blocks = isotonic_decreasing(values, max_passes=max_passes)  # 0 passes: the majorant alone
    reference = torch.tensor([pav_reference(row.tolist()) for row in values], dtype=torch.float64)
    torch.testing.assert_close(solution, reference, atol=1e-10, rtol=0)
    assert bool((solution[:, 1:] <= solution[:, :-1] + 1e-12).all())
    assert bool((blocks[:, 1:] - blocks[:, :-1]).ge(0).all())


def test_soft_ranks_become_hard_ranks_as_strength_goes_to_zero() -> None:
    values = torch.randn(6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hard = torch.argsort(torch.argsort(values, dim=1), dim=1).double() + 1
    torch.testing.assert_close(soft_rank(values, strength=1e-6), hard)
    torch.testing.assert_close(soft_rank(values, strength=1e-6, descending=True), 10 - hard)
    errors = [float((soft_rank(values, strength=s) - hard).abs().max()) for s in (10.0, 1.0, 0.1, 0.01)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < errors[0]
    torch.testing.assert_close(soft_rank(values, strength=1e6), torch.full_like(values, 5.0), atol=1e-3, rtol=0)


@pytest.mark.parametrize("strength", [0.3, 1.0, 3.0])
def test_soft_rank_is_the_projection_onto_the_permutahedron(strength) -> None:
    theta = torch.tensor([[0.3, -1.2, 0.35, 2.0, 0.1]], dtype=torch.float64)
    reference = permutahedron_projection(theta[0] / strength)
    torch.testing.assert_close(soft_rank(theta, strength=strength)[0], reference, atol=2e-3, rtol=0)


def test_soft_rank_gradient_matches_finite_differences() -> None:
    values = torch.randn(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: soft_rank(v, strength=0.7), (values,))
    assert torch.autograd.gradcheck(lambda v: soft_rank(v, strength=0.7, descending=True), (values,))


def test_hard_ranks_share_the_mean_rank_of_ties() -> None:
    ranks = hard_rank(torch.tensor([[5.0, 1.0, 5.0, 3.0, 5.0]]))
    assert ranks.tolist() == [[4.0, 1.0, 4.0, 2.0, 4.0]]


def test_soft_rank_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="rows, n"):
        soft_rank(torch.zeros(5))
    with pytest.raises(ValueError, match="positive"):
        soft_rank(torch.zeros(2, 3), strength=0.0)
    with pytest.raises(ValueError, match="NaN"):
        soft_rank(torch.tensor([[1.0, math.nan]]))


def test_haversine_distances_match_known_values() -> None:
    distances = haversine_distances(torch.tensor([0.0, 0.0, 90.0]), torch.tensor([0.0, 1.0, 0.0]))
    assert distances[0, 1].item() == pytest.approx(2 * math.pi * EARTH_RADIUS_KM / 360)
    assert distances[0, 2].item() == pytest.approx(math.pi * EARTH_RADIUS_KM / 2)
    assert distances.diagonal().abs().max().item() == 0
    torch.testing.assert_close(distances, distances.T)


def along_a_parallel(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Patches along the 50th parallel and projections on a circle whose angle grows with the longitude."""
    lon = torch.sort(torch.rand(n, generator=torch.Generator().manual_seed(seed)) * 20).values
    angle = lon * 0.05
    return torch.stack([angle.cos(), angle.sin()], dim=1), torch.full((n,), 50.0), lon


def test_georank_is_zero_when_similarities_rank_like_distances() -> None:
    projections, lat, lon = along_a_parallel(24)
    assert GeoRankLoss()(projections, lat, lon).item() == pytest.approx(0.0, abs=1e-9)


def test_georank_is_largest_when_the_ranking_is_reversed() -> None:
    distance = torch.tensor([[100.0, 200.0, 300.0, 400.0, 500.0, 600.0]])
    losses = {}
    for order in itertools.permutations(range(6)):
        similarity = -torch.tensor([order], dtype=torch.float64)  # the pair ranked k-th by distance is order[k]-th
        losses[order] = rank_loss(similarity, distance).item()
    assert losses[(0, 1, 2, 3, 4, 5)] == 0
    assert losses[(5, 4, 3, 2, 1, 0)] == max(losses.values()) > 0


def test_georank_gradients_reach_the_projector() -> None:
    torch.manual_seed(0)
    projector = nn.Linear(16, 8)
    # near-collapsed features, as early in training: similarities within strength * tau of each other merge
    features = torch.randn(1, 16) + 0.003 * torch.randn(32, 16)
    lat, lon = torch.rand(32) * 20 + 40, torch.rand(32) * 20
    GeoRankLoss()(projector(features), lat, lon).backward()
    assert projector.weight.grad is not None
    assert bool(projector.weight.grad.abs().sum() > 0)
    projector.zero_grad()
    GeoRankLoss(strength=1.0)(projector(torch.randn(32, 16)), lat, lon).backward()
    assert bool(projector.weight.grad.abs().sum() > 0)
    assert bool(torch.isfinite(projector.weight.grad).all())


def test_georank_ignores_pairs_beyond_the_distance_limit() -> None:
    distance = torch.tensor([[100.0, 200.0, 5000.0, 6000.0]])
    similarity = torch.tensor([[4.0, 3.0, 1.0, 2.0]])  # the two far pairs are swapped, the near ones right
    assert rank_loss(similarity, distance, margin=0.0).item() == 0
    assert rank_loss(similarity, distance, margin=0.0, max_distance_km=1e5).item() > 0


def test_georank_honours_the_margin() -> None:
    distance = torch.arange(1.0, 9.0)[None] * 100
    one_step = -torch.tensor([[0.0, 2.0, 1.0, 3.0, 4.0, 5.0, 6.0, 7.0]])  # ranks 2 and 3 swapped: errors of 1 step
    two_steps = -torch.tensor([[0.0, 3.0, 2.0, 1.0, 4.0, 5.0, 6.0, 7.0]])  # ranks 2 and 4 swapped: 2 steps
    assert rank_loss(one_step, distance, margin=1.5).item() == 0
    assert rank_loss(one_step, distance, margin=0.5).item() > 0
    assert rank_loss(two_steps, distance, margin=1.5).item() > 0


def test_georank_matches_a_hand_computed_batch_of_four() -> None:
    # 4 patches, 3 pairs per row. Similarities 1000 x strength apart: the soft ranks are the hard ranks.
    # S = ||(1, 2, 3)|| = sqrt(14); every rank row is a permutation of (1, 2, 3) of norm sqrt(14), so
    # e = (R_s - R_d)^2 / 14, and errors <= (1 / S)^2 = 1 / 14 (one rank step) are set to 0.
    similarity = torch.tensor([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    distance = torch.tensor([
        [10.0, 10.0, 500.0],  # tie: ordinal ranks (1, 2, 3) in batch order; R_s = (3, 2, 1): errors 4, 0, 4
        [700.0, 700.0, 700.0],  # all equal: R_d = (1, 2, 3); R_s = (3, 1, 2): errors 4, 1 -> 0, 1 -> 0
        [100.0, 5000.0, 200.0],  # 5000 km not counted; R_d = (1, 3, 2), R_s = (1, 2, 3): errors 0, -, 1 -> 0
        [300.0, 200.0, 100.0],  # R_d = (3, 2, 1), R_s = (1, 2, 3): errors 4, 0, 4
    ])  # fmt: skip
    # 11 counted pairs, 5 errors of 4 / 14 kept: mean 20 / (14 * 11), times sqrt(14)
    expected = 20 / (11 * math.sqrt(14))
    assert rank_loss(similarity, distance).item() == pytest.approx(expected, rel=1e-4)
    # mean ranks of the tie in row 0: R_d = (1.5, 1.5, 3), norm sqrt(13.5); row 1: R_d = (2, 2, 2), norm sqrt(12)
    rows = [
        (torch.tensor([3.0, 2.0, 1.0]) / math.sqrt(14) - torch.tensor([1.5, 1.5, 3.0]) / math.sqrt(13.5)).square(),
        (torch.tensor([3.0, 1.0, 2.0]) / math.sqrt(14) - torch.tensor([2.0, 2.0, 2.0]) / math.sqrt(12)).square(),
        torch.tensor([0.0, 1.0 / 14]),  # the counted pairs of rows 2 and 3, as above
        torch.tensor([4.0, 0.0, 4.0]) / 14,
    ]
    kept = torch.cat(rows)
    expected_mean = float(torch.where(kept > 1 / 14 + 1e-12, kept, 0.0).sum()) / 11 * math.sqrt(14)
    assert rank_loss(similarity, distance, ties="mean").item() == pytest.approx(expected_mean, rel=1e-4)


def numpy_soft_rank_descending(values: np.ndarray, strength: float) -> np.ndarray:
    """Soft ranks (most similar = 1) by projection onto the permutahedron via sequential PAV, row by row."""
    ranks = np.empty_like(values)
    rho = np.arange(values.shape[1], 0, -1, dtype=np.float64)
    for row, theta in enumerate(values):
        # ascending soft rank of -theta = projection of -theta / strength onto the permutahedron of (m, ..., 1)
        scaled = -theta / strength
        order = np.argsort(-scaled, kind="stable")
        ordered = scaled[order]
        ranks[row, order] = ordered - np.asarray(pav_reference(list(ordered - rho)))
    return ranks


def numpy_georank(z: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> float:
    """DESIGN 2.6's GeoRank in NumPy: tau 0.04, strength 1e-3, 3000 km, margin 1, ordinal target ranks."""
    n = len(z)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    off = ~np.eye(n, dtype=bool)
    similarity = (z @ z.T / 0.04)[off].reshape(n, n - 1)
    phi, lam = np.radians(lat), np.radians(lon)
    a = (np.sin((phi[:, None] - phi[None, :]) / 2) ** 2
         + np.cos(phi[:, None]) * np.cos(phi[None, :]) * np.sin((lam[:, None] - lam[None, :]) / 2) ** 2)  # fmt: skip
    distance = (2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1))))[off].reshape(n, n - 1)
    r_s = numpy_soft_rank_descending(similarity, 1e-3)
    r_d = np.argsort(np.argsort(distance, axis=1, kind="stable"), axis=1, kind="stable") + 1.0
    errors = (r_s / np.linalg.norm(r_s, axis=1, keepdims=True) - r_d / np.linalg.norm(r_d, axis=1, keepdims=True)) ** 2
    scale = np.linalg.norm(np.arange(1, n, dtype=np.float64))
    errors = errors[distance <= 3000.0]
    errors[errors <= (1.0 / scale) ** 2] = 0
    return float(errors.mean() * scale)


def test_georank_matches_a_numpy_computation_of_the_formula_at_batch_512() -> None:
    rng = np.random.default_rng(0)
    # 512 patches over Europe (pairs within and beyond 3000 km), projections partly aligned with the position
    lat, lon = rng.uniform(35, 70, 512), rng.uniform(-10, 30, 512)
    z = np.concatenate([np.stack([lat, lon], axis=1) / 50, rng.normal(size=(512, 6))], axis=1)
    expected = numpy_georank(z, lat, lon)
    loss = GeoRankLoss()(torch.tensor(z, dtype=torch.float64), torch.tensor(lat), torch.tensor(lon))
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    assert expected > 0.1  # a value the S scale makes large, not one near 0


def test_georank_with_no_pair_within_the_distance_limit_is_zero_not_nan() -> None:
    projections = torch.randn(4, 3, requires_grad=True)
    loss = GeoRankLoss(max_distance_km=1.0)(projections, torch.tensor([0.0, 10.0, 20.0, 30.0]), torch.zeros(4))
    loss.backward()
    assert loss.item() == 0
    assert bool((projections.grad == 0).all())


def test_georank_with_every_patch_at_one_place_is_zero_with_zero_gradients() -> None:
    projections = torch.randn(8, 4, requires_grad=True)
    loss = GeoRankLoss()(projections, torch.full((8,), 48.3), torch.full((8,), 13.5))
    loss.backward()
    assert loss.item() == 0
    assert bool((projections.grad == 0).all())


def test_georank_refuses_bad_input() -> None:
    projections, lat, lon = along_a_parallel(6)
    loss = GeoRankLoss()
    with pytest.raises(ValueError, match="batch_size >= 2"):
        loss(projections[:1], lat[:1], lon[:1])
    with pytest.raises(ValueError, match="no coordinates"):
        loss(projections, torch.where(torch.arange(6) == 2, math.nan, lat), lon)
    with pytest.raises(ValueError, match=r"\[-90, 90\]"):
        loss(projections, lat + 100, lon)
    with pytest.raises(ValueError, match="got 5 coordinates"):
        loss(projections, lat[:5], lon[:5])
    with pytest.raises(ValueError, match="NaN or infinite projections"):
        loss(projections * math.nan, lat, lon)
    for arguments in ({"tau": 0.0}, {"strength": -1.0}, {"max_distance_km": 0.0}, {"margin": -1.0}, {"ties": "dense"}):
        with pytest.raises(ValueError, match="GeoRank's"):
            GeoRankLoss(**arguments)


def test_off_diagonal_drops_the_diagonal_in_row_order() -> None:
    matrix = torch.arange(16.0).view(4, 4)
    assert off_diagonal(matrix).tolist() == [[1, 2, 3], [4, 6, 7], [8, 9, 11], [12, 13, 14]]


def test_location_clusters_find_separated_places_and_train() -> None:
    generator = torch.Generator().manual_seed(4)
    places = torch.tensor([[40.0, -5.0], [60.0, 25.0], [48.0, 13.0]])
    lat = (places[:, 0, None] + torch.randn(3, 20, generator=generator)).flatten()
    lon = (places[:, 1, None] + torch.randn(3, 20, generator=generator)).flatten()
    centres = fit_location_clusters(lat, lon, clusters=3)
    head = LocationClusterHead(in_dim=4, centres=centres)
    labels = head.assign(lat, lon)
    assert [len(set(labels[i * 20 : (i + 1) * 20].tolist())) for i in range(3)] == [1, 1, 1]
    assert len(set(labels.tolist())) == 3
    features = nn.functional.one_hot(labels, 4).float()
    optimizer = torch.optim.SGD(head.parameters(), lr=1.0)
    first = head(features, lat, lon).item()
    for _ in range(20):
        optimizer.zero_grad()
        head(features, lat, lon).backward()
        optimizer.step()
    assert head(features, lat, lon).item() < first / 4


def test_location_clusters_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="at least k = 10"):
        fit_location_clusters(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="no coordinates"):
        fit_location_clusters(torch.tensor([1.0, math.nan]), torch.zeros(2), clusters=1)
    with pytest.raises(ValueError, match="clusters, 3"):
        LocationClusterHead(in_dim=4, centres=torch.zeros(3, 2))
    head = LocationClusterHead(in_dim=4, centres=torch.eye(3))
    with pytest.raises(ValueError, match="one row per coordinate"):
        head(torch.zeros(2, 4), torch.zeros(3), torch.zeros(3))
