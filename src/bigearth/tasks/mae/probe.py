"""Linear probing of any bigearth encoder: a linear multi-label classifier on frozen pooled features.

Protocol: pooled features of the training, validation and test splits are extracted once (no augmentation),
standardised with the training mean and standard deviation, and a linear layer is fitted with binary
cross-entropy and AdamW (full batches of up to 4096 patches) for each weight decay of a small grid; the weight
decay with the best validation macro AP is kept and its test metrics are reported
(:mod:`bigearth.evaluation.metrics` definitions: macro over the classes present).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bigearth.evaluation.metrics import ClassificationReport, classification_report
from bigearth.features import FeatureSet, extract_features
from bigearth.models.encoders import FeatureEncoder

#: Weight decays tried by the probe.
WEIGHT_DECAYS: tuple[float, ...] = (0.0, 1e-3, 1e-1)


def fit_linear(features: Tensor, labels: Tensor, *, weight_decay: float, steps: int = 300, lr: float = 1e-2,
               seed: int = 0) -> nn.Module:  # fmt: skip
    """Fit a standardising linear classifier ``(N, D) -> (N, C)`` logits with BCE and AdamW.

    Returns:
        ``nn.Sequential(standardise, linear)`` in evaluation mode.
    """
    generator = torch.Generator().manual_seed(seed)
    mean, std = features.mean(dim=0), features.std(dim=0).clamp_min(1e-6)
    standardise = _Standardise(mean, std)
    linear = nn.Linear(features.shape[1], labels.shape[1])
    optimizer = torch.optim.AdamW(linear.parameters(), lr=lr, weight_decay=weight_decay)
    loss = nn.BCEWithLogitsLoss()
    inputs = standardise(features)
    batch = min(len(features), 4096)
    with torch.enable_grad():
        for _ in range(steps):
            rows = torch.randperm(len(features), generator=generator)[:batch]
            optimizer.zero_grad()
            loss(linear(inputs[rows]), labels[rows].float()).backward()
            optimizer.step()
    return nn.Sequential(standardise, linear).eval()


class _Standardise(nn.Module):
    """``(x - mean) / std`` with fixed statistics."""

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, features: Tensor) -> Tensor:
        return (features - self.mean) / self.std


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's outcome.

    Attributes:
        test: test metrics of the chosen probe.
        validation: validation metrics of the chosen probe (None without validation patches).
        weight_decay: the chosen weight decay.
    """

    test: ClassificationReport
    validation: ClassificationReport | None
    weight_decay: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"protocol": "linear probe on frozen pooled features", "weight_decay": self.weight_decay,
                "validation": self.validation.to_dict() if self.validation else None,
                "test": self.test.to_dict()}  # fmt: skip


def probe_features(
    train: FeatureSet, validation: FeatureSet, test: FeatureSet, class_names: tuple[str, ...], *, steps: int = 300,
    weight_decays: Sequence[float] = WEIGHT_DECAYS, seed: int = 0,
) -> ProbeResult:  # fmt: skip
    """Fit probes on training features, choose by validation macro AP, report test metrics.

    Raises:
        ValueError: if the training or test split is empty.
    """
    if not len(train.labels) or not len(test.labels):
        raise ValueError("the linear probe needs training and test patches; the data has none in one of them")
    best: tuple[float, float, nn.Module] | None = None
    for decay in weight_decays:
        probe = fit_linear(train.features, train.labels, weight_decay=decay, steps=steps, seed=seed)
        score = 0.0
        if len(validation.labels):
            with torch.no_grad():
                scores = torch.sigmoid(probe(validation.features))
            score = classification_report(scores, validation.labels.long(), class_names).macro["ap"]
        if best is None or score > best[0]:
            best = (score, decay, probe)
    _, decay, probe = best  # type: ignore[misc]
    with torch.no_grad():
        report = classification_report(torch.sigmoid(probe(test.features)), test.labels.long(), class_names)
        validation_report = (
            classification_report(torch.sigmoid(probe(validation.features)), validation.labels.long(), class_names)
            if len(validation.labels) else None
        )  # fmt: skip
    return ProbeResult(test=report, validation=validation_report, weight_decay=decay)


def linear_probe(
    encoder: FeatureEncoder, data: Path, *, steps: int = 300, batch_size: int = 64,
    weight_decays: Sequence[float] = WEIGHT_DECAYS, seed: int = 0,
) -> ProbeResult:  # fmt: skip
    """Extract features of the three splits and run :func:`probe_features`."""
    splits = [extract_features(encoder, data, split=name, batch_size=batch_size)
              for name in ("train", "validation", "test")]  # fmt: skip
    return probe_features(*splits, encoder.metadata.class_names, steps=steps, weight_decays=weight_decays, seed=seed)
