"""Classification metrics against computations by hand, score collection across processes, schedule, plots."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from bigearth.evaluation.metrics import (
    MultilabelScores,
    classification_report,
    report_from_dict,
    sample_ids,
)
from bigearth.evaluation.plots import error_cooccurrence, write_plots
from bigearth.tasks.schedule import warmup_cosine, warmup_cosine_factor

# 6 samples, 3 classes; class 2 has no positive sample (absent from this "split"). No tied scores.
PROBABILITIES = torch.tensor(
    [
        [0.9, 0.2, 0.6],
        [0.8, 0.7, 0.1],
        [0.3, 0.6, 0.2],
        [0.6, 0.1, 0.3],
        [0.1, 0.4, 0.4],
        [0.4, 0.95, 0.05],
    ]
)
TARGETS = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]])
NAMES = ("a", "b", "c")


def average_precision_by_hand(scores: list[float], labels: list[int]) -> float:
    """Sum over the distinct score thresholds, high to low, of (recall gain) x (precision at that threshold)."""
    positives = sum(labels)
    total, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores), reverse=True):
        chosen = [y for s, y in zip(scores, labels, strict=True) if s >= threshold]
        recall = sum(chosen) / positives
        total += (recall - previous_recall) * sum(chosen) / len(chosen)
        previous_recall = recall
    return total


def counts_by_hand(scores: list[float], labels: list[int]) -> tuple[int, int, int]:
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= 0.5 and y)
    fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= 0.5 and not y)
    fn = sum(1 for s, y in zip(scores, labels, strict=True) if s < 0.5 and y)
    return tp, fp, fn


def test_report_matches_a_computation_by_hand() -> None:
    report = classification_report(PROBABILITIES, TARGETS, NAMES)
    columns = [(PROBABILITIES[:, c].tolist(), TARGETS[:, c].tolist()) for c in range(3)]
    # class a: ranks 1 (0.9, pos), 2 (0.8), 3 (0.6, pos), 4 (0.4), 5 (0.3, pos) -> (1 + 2/3 + 3/5) / 3
    assert average_precision_by_hand(*columns[0]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    expected_ap = [average_precision_by_hand(*columns[c]) for c in (0, 1)]
    assert report.per_class["ap"][:2] == pytest.approx(expected_ap)
    assert math.isnan(report.per_class["ap"][2])  # absent class: no defined AP
    assert report.support == (3, 3, 0)
    assert report.present == ("a", "b")
    precisions, recalls, f1s = [], [], []
    for c in (0, 1):
        tp, fp, fn = counts_by_hand(*columns[c])
        precisions.append(tp / (tp + fp))
        recalls.append(tp / (tp + fn))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    assert report.per_class["precision"][:2] == pytest.approx(precisions)
    assert report.per_class["recall"][:2] == pytest.approx(recalls)
    assert report.per_class["f1"][:2] == pytest.approx(f1s)
    # macro: over the two present classes only
    assert report.macro["ap"] == pytest.approx(sum(expected_ap) / 2)
    assert report.macro["f1"] == pytest.approx(sum(f1s) / 2)
    # micro: all 18 decisions pooled (class c contributes its false positive at 0.6)
    pooled = [counts_by_hand(*columns[c]) for c in range(3)]
    tp, fp, fn = (sum(values) for values in zip(*pooled, strict=True))
    assert report.micro["precision"] == pytest.approx(tp / (tp + fp))
    assert report.micro["recall"] == pytest.approx(tp / (tp + fn))
    assert report.micro["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    flat = average_precision_by_hand(PROBABILITIES.ravel().tolist(), TARGETS.ravel().tolist())
    assert report.micro["ap"] == pytest.approx(flat)


def test_report_says_which_classes_the_macro_average_covers() -> None:
    report = classification_report(PROBABILITIES, TARGETS, NAMES)
    assert "2 of 3 classes present" in report.note
    assert "absent: c" in report.note
    payload = report.to_dict()
    assert payload["per_class"]["c"]["ap"] is None
    assert payload["present_classes"] == ["a", "b"]
    assert "macro" in payload["definitions"]
    again = report_from_dict(payload)
    assert again.macro == pytest.approx(report.macro)
    assert again.support == report.support
    assert set(report.scalars()) == {
        f"{k}_{m}" for k in ("macro", "micro") for m in ("ap", "f1", "precision", "recall")
    }


def test_report__error_on_bad_shapes_and_empty_splits() -> None:
    with pytest.raises(ValueError, match="must both be"):
        classification_report(PROBABILITIES, TARGETS[:, :2], NAMES)
    with pytest.raises(ValueError, match="no samples"):
        classification_report(torch.empty(0, 3), torch.empty(0, 3), NAMES)


def test_scores_count_every_sample_once() -> None:
    """DistributedSampler pads a split by repeating samples; the collector keeps each patch id once, in order."""
    ids = sample_ids([f"patch_{i}" for i in range(6)])
    assert len(set(ids.tolist())) == 6
    assert torch.equal(ids, sample_ids([f"patch_{i}" for i in range(6)]))
    scores = MultilabelScores()
    scores.update(PROBABILITIES[:4], TARGETS[:4], ids[:4])
    scores.update(PROBABILITIES[4:], TARGETS[4:], ids[4:])
    scores.update(PROBABILITIES[:2], TARGETS[:2], ids[:2])  # padding: samples 0 and 1 again
    probabilities, targets = scores.compute()
    assert torch.equal(probabilities, PROBABILITIES)
    assert torch.equal(targets, TARGETS)


def test_warmup_cosine_schedule() -> None:
    factor = {step: warmup_cosine_factor(step, warmup_steps=10, total_steps=110, final_fraction=0.1) for step in
              (0, 9, 10, 60, 110, 500)}  # fmt: skip
    assert factor[0] == pytest.approx(0.1)
    assert factor[9] == pytest.approx(1.0)
    assert factor[10] == pytest.approx(1.0)
    assert factor[60] == pytest.approx(0.55)  # half-way down the cosine: (1 + 0.1) / 2
    assert factor[110] == pytest.approx(0.1)
    assert factor[500] == pytest.approx(0.1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, warmup_steps=1000, total_steps=50, final_fraction=0.1)
    rates = []
    for _ in range(50):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[4] == pytest.approx(1.0)
    assert rates[-1] == pytest.approx(0.1, abs=2e-3)


def test_error_cooccurrence_by_hand() -> None:
    counts = error_cooccurrence(PROBABILITIES, TARGETS)
    # sample 2: class a missed (0.3) while nothing is wrongly predicted -> a pure miss of a
    # sample 0: class c wrongly predicted (0.6), nothing missed -> no entry
    # sample 3 ... 5: no errors; sample 1: class a predicted (0.8) while absent, class b found
    expected = np.zeros((3, 3), dtype=np.int64)
    expected[0, 0] = 1
    assert np.array_equal(counts, expected)
    both = error_cooccurrence(torch.tensor([[0.1, 0.9]]), torch.tensor([[1, 0]]))
    assert both.tolist() == [[0, 1], [0, 0]]  # class 0 missed while class 1 invented


def test_plots_are_written(tmp_path) -> None:
    report = classification_report(PROBABILITIES, TARGETS, NAMES)
    csv = tmp_path / "metrics.csv"
    rows = []
    for epoch in range(3):
        rows += [{"epoch": epoch, "step": epoch * 4 + s, "lr-AdamW": 1e-3 * (s + 1) / 4} for s in range(4)]
        losses = {"train/loss_epoch": 0.5 - 0.1 * epoch, "val/loss": 0.55 - 0.1 * epoch}
        rows.append({"epoch": epoch, "step": epoch * 4 + 3, **losses, "val/macro_ap": 0.3 + 0.1 * epoch})
    pd.DataFrame(rows).to_csv(csv, index=False)
    paths = write_plots(tmp_path / "plots", report, PROBABILITIES, TARGETS, metrics_csv=csv)
    assert sorted(p.name for p in paths) == [
        "error_cooccurrence.png", "per_class_ap.png", "precision_recall.png", "training_curves.png"
    ]  # fmt: skip
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
