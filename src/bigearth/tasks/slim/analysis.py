"""Redundancy of features: PCA explained variance, feature correlation, effective dimensionality (DESIGN 2.8).

For features ``X`` ``(N, D)`` centred over the samples, with covariance eigenvalues ``l_1 >= ... >= l_D``:

- explained variance ratio of component ``i``: ``l_i / sum_j l_j`` (PCA); a rank-k matrix explains everything
  with k components;
- mean absolute correlation: the mean of ``|corr(X_a, X_b)|`` over pairs of distinct feature dimensions (constant
  dimensions left out);
- participation ratio: ``(sum_i l_i)^2 / sum_i l_i^2`` (Gao et al. 2017), between 1 and D, D for an isotropic
  covariance;
- effective rank: ``exp(H(p))`` with ``p_i = l_i / sum_j l_j`` and ``H`` the Shannon entropy (Roy & Vetterli,
  EUSIPCO 2007), between 1 and D, D for an isotropic covariance.

:func:`analyze_widths` reports them for an encoder slimmed to each width.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bigearth.errors import ConfigError
from bigearth.features import extract_features
from bigearth.slim.spec import DEFAULT_WIDTHS
from bigearth.tasks.slim.evaluate import report_header, slimmed_encoders


def covariance_spectrum(features: Tensor) -> Tensor:
    """Return the covariance eigenvalues ``(min(N, D),)`` of ``features`` ``(N, D)``, largest first (float64).

    Raises:
        ValueError: for fewer than two samples or a non-2-D input.
    """
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got {tuple(features.shape)}")
    centred = features.double() - features.double().mean(dim=0)
    return torch.linalg.svdvals(centred) ** 2 / (len(features) - 1)


def explained_variance_ratio(features: Tensor) -> Tensor:
    """Return each principal component's share of the total variance ``(min(N, D),)``, largest first."""
    spectrum = covariance_spectrum(features)
    return spectrum / spectrum.sum().clamp_min(1e-300)


def mean_abs_correlation(features: Tensor) -> float:
    """Return the mean absolute Pearson correlation between distinct dimensions of ``features`` ``(N, D)``."""
    varying = features.double()[:, features.double().std(dim=0) > 1e-12]
    if varying.shape[1] < 2:
        return 0.0
    correlation = torch.corrcoef(varying.T).abs()
    count = correlation.shape[0]
    return float((correlation.sum() - correlation.diagonal().sum()) / (count * (count - 1)))


def participation_ratio(features: Tensor) -> float:
    """Return ``(sum l)^2 / sum l^2`` of the covariance eigenvalues of ``features`` ``(N, D)``."""
    spectrum = covariance_spectrum(features)
    return float(spectrum.sum() ** 2 / (spectrum**2).sum().clamp_min(1e-300))


def effective_rank(features: Tensor) -> float:
    """Return ``exp`` of the entropy of the normalised covariance eigenvalues of ``features`` ``(N, D)``."""
    shares = explained_variance_ratio(features)
    shares = shares[shares > 0]
    return float(torch.exp(-(shares * shares.log()).sum()))


def redundancy(features: Tensor) -> dict[str, Any]:
    """Return every measure of the module docstring for ``features`` ``(N, D)`` (JSON-ready).

    Keys: ``feature_dim``, ``samples``, ``explained_variance_ratio`` (list), ``components_for_90``/``_99`` (the
    fewest components explaining 90 / 99 % of the variance), ``mean_abs_correlation``, ``participation_ratio``,
    ``effective_rank``.
    """
    ratio = explained_variance_ratio(features)
    cumulative = ratio.cumsum(dim=0)
    return {
        "feature_dim": int(features.shape[1]),
        "samples": int(features.shape[0]),
        "explained_variance_ratio": [round(float(value), 8) for value in ratio],
        "components_for_90": int((cumulative < 0.9 - 1e-9).sum()) + 1,
        "components_for_99": int((cumulative < 0.99 - 1e-9).sum()) + 1,
        "mean_abs_correlation": mean_abs_correlation(features),
        "participation_ratio": participation_ratio(features),
        "effective_rank": effective_rank(features),
    }


def analyze_widths(
    model: Path, data: Path, *, widths: Sequence[float] = DEFAULT_WIDTHS, mode: str = "dims",
    embed_below: float = 0.25, attention_scale: str = "original", calibration_batches: int = 8, split: str = "test",
    batch_size: int = 64, label: str | None = None, device: str = "auto",
) -> dict[str, Any]:  # fmt: skip
    """Measure the redundancy of an encoder's pooled features of one split at every width.

    Args:
        model: model or run folder.
        data: store folder or release root.
        widths: widths in (0, 1] (width 1 always included).
        mode: ``dims`` or ``heads`` (transformers).
        embed_below: transformers' widths below this also cut the embedding width.
        attention_scale: softmax scale of cut heads, ``original`` or ``slimmed``.
        calibration_batches: training batches that re-estimate batch-norm statistics at every width (0: keep the
            recorded ones).
        split: the split whose features are analysed.
        batch_size: patches per forward pass.
        label: the name in reports and figures.
        device: ``auto`` (a CUDA GPU if torch sees one), ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The header of :func:`~bigearth.tasks.slim.evaluate.report_header` and ``rows``: per width its spec and
        :func:`redundancy`.

    Raises:
        ConfigError: for a bad width, mode or attention scale, or a split with fewer than two patches.
    """
    rows = []
    encoders = slimmed_encoders(model, data, widths=widths, mode=mode, embed_below=embed_below,
                                attention_scale=attention_scale, calibration_batches=calibration_batches,
                                batch_size=batch_size, device=device)  # fmt: skip
    for spec, slimmed, calibrated in encoders:
        features = extract_features(slimmed, Path(data), split=split, batch_size=batch_size).features
        if len(features) < 2:
            raise ConfigError(f"the {split} split of {data} has {len(features)} patch(es); the analysis needs two")
        rows.append({**spec.to_dict(), "calibration_images": calibrated, **redundancy(features)})
    header = report_header(model, data, split=split, label=label, attention_scale=attention_scale,
                           calibration_batches=calibration_batches, rows=rows)  # fmt: skip
    return {**header, "rows": rows}
