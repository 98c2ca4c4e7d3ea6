"""The redundancy measures reproduce known values on synthetic features, and their figure draws."""

import math

import pytest
import torch

from bigearth.tasks.slim.analysis import (
    effective_rank,
    explained_variance_ratio,
    mean_abs_correlation,
    participation_ratio,
    redundancy,
)
from bigearth.tasks.slim.plots import plot_redundancy


def test_a_rank_k_matrix_explains_all_its_variance_with_k_components() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(500, 3, generator=generator) @ torch.randn(3, 40, generator=generator)
    ratio = explained_variance_ratio(features)
    assert float(ratio[:3].sum()) == pytest.approx(1.0, abs=1e-9)
    assert float(ratio[3:].sum()) < 1e-12
    report = redundancy(features)
    assert report["components_for_99"] <= 3
    assert report["feature_dim"] == 40


def test_isotropic_features_have_full_effective_dimensionality_and_no_correlation() -> None:
    generator = torch.Generator().manual_seed(1)
    dim = 16
    # exactly identity covariance: orthonormal columns scaled so that X^T X / (N - 1) = I after centring
    basis, _ = torch.linalg.qr(torch.randn(400, dim, generator=generator, dtype=torch.float64))
    basis = basis - basis.mean(dim=0)
    basis, _ = torch.linalg.qr(basis)
    features = basis * math.sqrt(399)
    assert participation_ratio(features) == pytest.approx(dim, rel=1e-6)
    assert effective_rank(features) == pytest.approx(dim, rel=1e-6)
    assert mean_abs_correlation(features) == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(explained_variance_ratio(features), torch.full((dim,), 1 / dim, dtype=torch.float64))


def test_duplicated_features_are_fully_correlated_and_one_dimensional() -> None:
    column = torch.randn(200, 1, generator=torch.Generator().manual_seed(2))
    features = torch.cat([column, 2 * column, -column, torch.zeros(200, 1)], dim=1)  # the constant one is ignored
    assert mean_abs_correlation(features) == pytest.approx(1.0)
    assert participation_ratio(features) == pytest.approx(1.0)
    assert effective_rank(features) == pytest.approx(1.0, abs=1e-6)


def test_too_few_samples_are_refused_and_the_figure_draws() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        explained_variance_ratio(torch.randn(1, 4))
    features = torch.randn(50, 8, generator=torch.Generator().manual_seed(3))
    rows = [{"width": w, "embed_width": 1.0, "mode": "dims", **redundancy(features[:, : int(8 * w)])}
            for w in (1.0, 0.5)]  # fmt: skip
    figure = plot_redundancy({"label": "synthetic", "split": "test", "rows": rows})
    assert len(figure.axes) == 3
