"""Retrieval metrics and search, thematic-climatic allocation, segmentation metrics and recipe checks, against
hand-made examples and brute force."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import bigearth.cli.fm  # noqa: F401  (registers retrieve)
from bigearth.cli import app
from bigearth.errors import ConfigError
from bigearth.features import FeatureSet
from bigearth.nomenclature import CLASSES_TABLE
from bigearth.retrieval.evaluate import get_protocol, score_direction
from bigearth.retrieval.index import FeatureIndex
from bigearth.retrieval.metrics import overlap_scores, retrieval_scores, shares_label
from bigearth.sampling.descriptors import rarest_label_theme
from bigearth.sampling.select import allocate, thematic_climatic_sample
from bigearth.tasks.mae.config import load_pretrain_config
from bigearth.tasks.mae.segmentation import segmentation_loss
from bigearth.tasks.mae.segmentation_metrics import segmentation_report

TINY = Path(__file__).resolve().parents[1] / "configs" / "fm" / "tiny-cpu.yaml"


def test_retrieval_metrics_on_a_hand_made_example() -> None:
    # query labels {0}, {1, 2}; archive labels {0}, {1}, {0, 2}, {3}, {2}
    queries = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0]])
    archive = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    relevant = shares_label(queries, archive)
    assert relevant.tolist() == [[True, False, True, False, False], [False, True, True, False, True]]
    ranking = torch.tensor([[3, 0, 1], [1, 3, 4]])  # top 3 per query
    scores = retrieval_scores(relevant.gather(1, ranking), relevant.sum(dim=1))
    # query 0: rel = [0, 1, 0], R = 2: P = 1/3, R = 1/2, F1 = 0.4, AP = (1/2) / min(3, 2) = 0.25
    # query 1: rel = [1, 0, 1], R = 3: P = 2/3, R = 2/3, F1 = 2/3, AP = (1 + 2/3) / 3 = 5/9
    assert scores.precision == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert scores.recall == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert scores.f1 == pytest.approx((0.4 + 2 / 3) / 2)
    assert scores.map == pytest.approx((0.25 + 5 / 9) / 2)
    assert (scores.k, scores.queries) == (3, 2)


def test_csmae_protocol_on_a_hand_made_five_patch_case() -> None:
    # two validation queries, three test archive patches; cosine ranking q0 -> a2, a1 and q1 -> a0, a1
    queries = FeatureSet(
        patch_ids=["q0", "q1"],
        views={"s2": torch.tensor([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]])},
        labels=torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
    )  # {0, 1}, {2}
    archive = FeatureSet(
        patch_ids=["a0", "a1", "a2"],
        views={"s2": torch.eye(3)},
        labels=torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]),
    )  # {0} {1,2} {0,1,2}
    scores = score_direction(queries, archive, ("s2", "s2"), k=2, protocol="csmae")
    # q0: a2 shares 2 of its 3 labels (P 2/3, R 2/2), a1 1 of 2 (P 1/2, R 1/2): P 7/12, R 3/4
    # q1: a0 shares none (P 0, R 0), a1 1 of 2 (P 1/2, R 1/1): P 1/4, R 1/2
    # means P = 5/12, R = 5/8; F1 = 2 (5/12)(5/8) / (5/12 + 5/8) = 1/2
    assert scores.precision == pytest.approx(5 / 12, rel=1e-9)
    assert scores.recall == pytest.approx(5 / 8, rel=1e-9)
    assert scores.f1 == pytest.approx(0.5, rel=1e-9)
    assert (scores.k, scores.queries) == (2, 2)
    # the same lists under binary relevance (protocol map): q0 hits 2 of R = 3, q1 1 of R = 2
    binary = score_direction(queries, archive, ("s2", "s2"), k=2, protocol="map")
    assert binary.precision == pytest.approx((1 + 1 / 2) / 2)
    assert binary.recall == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_csmae_protocol__errors() -> None:
    with pytest.raises(ValueError, match="has no label"):
        overlap_scores(torch.tensor([[1, 0]]), torch.tensor([[[0, 0]]]))
    with pytest.raises(ValueError, match=r"\(Q, k, C\)"):
        overlap_scores(torch.tensor([[1, 0]]), torch.tensor([[1, 0]]))
    with pytest.raises(ConfigError, match="use one of csmae, map"):
        get_protocol("unknown")
    result = CliRunner().invoke(app, ["retrieve", "no-model", "--data", "no-data", "--evaluate", "--protocol", "x"])
    assert result.exit_code == 1
    assert "unknown retrieval protocol 'x'; use one of csmae, map" in result.output


def test_retrieval_metrics__errors() -> None:
    with pytest.raises(ValueError, match="no query has a relevant"):
        retrieval_scores(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must be \(Q, k\)"):
        retrieval_scores(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(3, dtype=torch.long))


def test_faiss_index_is_exact_cosine_search() -> None:
    generator = torch.Generator().manual_seed(0)
    archive, queries = torch.randn(50, 8, generator=generator), torch.randn(4, 8, generator=generator)
    ids = [f"p{i}" for i in range(50)]
    rows, similarity = FeatureIndex(archive, ids).search(queries, 5)
    cosine = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(archive, dim=1).T
    expected = cosine.topk(5, dim=1)
    assert torch.equal(rows, expected.indices)
    torch.testing.assert_close(similarity, expected.values)
    self_rows, _ = FeatureIndex(archive, ids).search(archive[:2], 3, exclude=["p0", None])
    assert 0 not in self_rows[0].tolist()
    assert self_rows[1, 0].item() == 1  # without exclusion a patch finds itself first
    with pytest.raises(ConfigError, match=r"k = 50 must lie in 1\.\.49"):
        FeatureIndex(archive, ids).search(queries, 50, exclude=["p0", None, None, None])


def test_allocation_covers_every_group_then_follows_the_power() -> None:
    counts = pd.Series({"a": 100, "b": 25, "c": 1})
    shares = allocate(counts, 20, power=0.5)
    assert shares.sum() == 20
    assert shares["c"] == 1  # coverage first
    assert shares["a"] == pytest.approx(19 * 10 / 15, abs=1)  # sqrt(99):sqrt(24) of the rest, about 2:1
    assert allocate(counts, 126, power=0.5).tolist() == [100, 25, 1]  # capped at each group's size
    equal = allocate(pd.Series({"a": 100, "b": 100}), 10, power=0.0)
    assert equal.tolist() == [5, 5]
    with pytest.raises(ConfigError, match="must lie in"):
        allocate(counts, 500)
    with pytest.raises(ConfigError, match=">= 0"):
        allocate(counts, 5, power=-1)


def test_sample_balances_climate_zones_then_themes() -> None:
    frame = pd.DataFrame({
        "patch_id": [f"p{i}" for i in range(200)],
        "climate_zone": ["Cfb"] * 180 + ["Dfc"] * 20,
        "land_cover": (["Arable land"] * 170 + ["Beaches, dunes, sands"] * 10) + ["Coniferous forest"] * 20,
    })  # fmt: skip
    subset = thematic_climatic_sample(frame, 20, power=0.5, seed=3)
    assert len(subset) == 20
    assert subset["patch_id"].is_unique
    assert set(subset["land_cover"]) == {"Arable land", "Beaches, dunes, sands", "Coniferous forest"}
    zone_share = (subset["climate_zone"] == "Dfc").mean()
    assert 0.1 < zone_share < 0.4  # sqrt-balanced: more than its 10 % of the archive, less than half
    again = thematic_climatic_sample(frame, 20, power=0.5, seed=3)
    assert again.index.tolist() == subset.index.tolist()


def test_rarest_label_theme() -> None:
    labels = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]], dtype=np.float32)
    assert rarest_label_theme(labels, ("a", "b", "c")).tolist() == ["b", "a", "a", "", "c"]


def test_segmentation_report_on_a_hand_made_confusion_matrix() -> None:
    names = ("x", "y", "z")
    confusion = torch.tensor([[3, 1, 0], [0, 2, 2], [0, 0, 0]])  # rows = reference, z never in the reference
    report = segmentation_report(confusion, names)
    assert report.iou[0] == pytest.approx(3 / 4)  # TP 3, FN 1, FP 0
    assert report.iou[1] == pytest.approx(2 / 5)  # TP 2, FN 2, FP 1
    assert np.isnan(report.iou[2])
    assert report.miou == pytest.approx((3 / 4 + 2 / 5) / 2)
    assert report.pixel_accuracy == pytest.approx(5 / 8)
    assert report.to_dict()["absent_classes"] == ["z"]
    with pytest.raises(ValueError, match="no labelled pixel"):
        segmentation_report(torch.zeros(3, 3), names)


def test_segmentation_loss_ignores_unlabelled_pixels() -> None:
    logits = torch.randn(2, len(CLASSES_TABLE), 4, 4, requires_grad=True)
    mask = torch.full((2, 4, 4), 255)
    assert segmentation_loss(logits, mask).item() == 0.0
    mask[0, 0, 0] = 3
    expected = torch.nn.functional.cross_entropy(logits[0, :, 0, 0][None], torch.tensor([3]))
    torch.testing.assert_close(segmentation_loss(logits, mask), expected)


def test_pretraining_recipe_checks() -> None:
    config = load_pretrain_config(TINY, ["model.moe.num_experts=4", "model.moe.sensor_experts=1"])
    assert config.model.model_type == "csmoe"
    assert config.model.network().moe.sensor_experts == 1
    assert config.optimizer.betas == [0.9, 0.95]
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['widht'\] in section 'model'"):
        load_pretrain_config(TINY, ["model.widht=3"])
    with pytest.raises(ConfigError, match="not the model's bands"):
        load_pretrain_config(TINY, ["data.bands=s2"])
    with pytest.raises(ConfigError, match=r"unknown model\.loss_weights"):
        load_pretrain_config(TINY, ["model.loss_weights.typo=1"])
    with pytest.raises(ConfigError, match="no CSMAE/CSMoE recipe"):
        load_pretrain_config(TINY, ["task=ssl"])


@pytest.mark.parametrize("recipe", sorted(TINY.parent.glob("cs*.yaml")), ids=lambda path: path.stem)
def test_shipped_pretraining_recipes_parse(recipe: Path) -> None:
    config = load_pretrain_config(recipe)
    assert (config.model.embed_dim, config.model.depth, config.model.mask_ratio) == (768, 12, 0.5)
    assert config.model.model_type == recipe.stem.split("-")[0]
    assert config.model.variant == recipe.stem.split("-")[1]
