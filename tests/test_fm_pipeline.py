"""CSMAE/CSMoE end to end on a mini-reBEN: pretraining learns, the probe beats a random encoder, subsets from
``bigearth sample`` feed pretraining, retrieval and segmentation run on the pretrained encoder."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import bigearth.cli.fm  # noqa: F401  (registers sample, retrieve, probe)
from bigearth.cli import app
from bigearth.data.synth import plan
from bigearth.errors import ConfigError, MissingDataError
from bigearth.features import extract_features
from bigearth.folders.encoders import load_encoder
from bigearth.folders.foundation import load_foundation_model
from bigearth.folders.segmenter import load_segmenter
from bigearth.models.encoders import FoundationEncoder
from bigearth.retrieval.evaluate import evaluate_retrieval, query_patch
from bigearth.retrieval.metrics import shares_label
from bigearth.tasks.mae.probe import linear_probe
from bigearth.tasks.registry import train_recipe

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "fm"
TINY = CONFIGS / "tiny-cpu.yaml"
CSMOE = ["model.moe.num_experts=4", "model.moe.sensor_experts=1", "model.moe.slots_per_expert=4"]


def text(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def learning_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mini-reBEN store big enough to learn from (about 270 clean training patches)."""
    from bigearth.data.synth_store import synthesize_store

    store = tmp_path_factory.mktemp("fm-learning") / "store"
    synthesize_store(store, patches=600, seed=11, workers=0)
    return store


@pytest.fixture(scope="module")
def csmae_run(learning_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny CSMAE recipe pretrained through the command line, at its former length (12 of its 400 epochs)."""
    out = tmp_path_factory.mktemp("fm-runs") / "csmae"
    command = ["pretrain", str(TINY), "--data", str(learning_store), "--out", str(out), "trainer.max_epochs=12"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_pretraining_lowers_every_reconstruction_loss(csmae_run: Path) -> None:
    log = pd.read_csv(csmae_run / "logs" / "metrics.csv").groupby("epoch").last()
    for column in ("train/loss_epoch", "train/same_sensor", "train/cross_sensor", "train/contrastive"):
        values = log[column].dropna()
        assert values.iloc[-1] < 0.9 * values.iloc[0], (column, values.tolist())
    for name in ("config.yaml", "model/config.json", "model/model.safetensors", "checkpoints/last.ckpt",
                 "plots/pretraining_curves.png", "metrics.json"):  # fmt: skip
        assert (csmae_run / name).is_file(), name
    metrics = json.loads((csmae_run / "metrics.json").read_text())
    assert (metrics["model_type"], metrics["variant"]) == ("csmae", "sesd")
    assert metrics["linear_probe"]["test"]["macro"]["ap"] > 0.5
    model = load_foundation_model(csmae_run)
    assert model.metadata.class_order == "alphabetical"
    planned = plan(600, seed=11)  # the learning store's draw: its clean training patches
    clean = ~(planned["contains_seasonal_snow"] | planned["contains_cloud_or_shadow"])
    assert model.metadata.trained_on["train_samples"] == int((clean & (planned["split"] == "train")).sum())


@pytest.mark.slow
def test_probe_on_the_pretrained_encoder_beats_a_random_encoder(csmae_run: Path, learning_store: Path) -> None:
    pretrained = load_encoder(csmae_run)
    torch.manual_seed(0)
    random = pretrained.reinitialised().eval()
    ours = linear_probe(pretrained, learning_store).test.macro["ap"]
    baseline = linear_probe(random, learning_store).test.macro["ap"]
    assert ours >= baseline + 0.05, (ours, baseline)


@pytest.mark.slow
def test_thematic_climatic_subset_pretrains_a_csmoe(learning_store: Path, tmp_path: Path) -> None:
    ids = tmp_path / "subset.parquet"
    runner = CliRunner()
    result = runner.invoke(app, ["sample", "--data", str(learning_store), "--size", "96", "--out", str(ids)])
    assert result.exit_code == 0, result.output
    assert "climate zone" in result.output
    assert f"wrote {ids}" in text(result)
    subset = pd.read_parquet(ids)
    assert len(subset) == 96
    assert subset["patch_id"].is_unique
    assert set(subset["split"]) == {"train"}
    report = json.loads((tmp_path / "subset.report.json").read_text())
    assert report["thematic_climatic"]["climate_zone"]["coverage"] == 1.0
    assert report["thematic_climatic"]["land_cover"]["coverage"] >= report["uniform_random"]["land_cover"]["coverage"]
    out = tmp_path / "csmoe"
    run = train_recipe(TINY, data=learning_store, out=out, overrides=[
        *CSMOE, f"data.ids={ids}", "trainer.max_epochs=6", "evaluation.linear_probe=false"])  # fmt: skip
    log = pd.read_csv(run / "logs" / "metrics.csv").groupby("epoch").last()["train/same_sensor"].dropna()
    assert log.iloc[-1] < 0.9 * log.iloc[0], log.tolist()
    model = load_foundation_model(run, model_type="csmoe")
    assert model.metadata.trained_on["train_samples"] == 96
    assert model.metadata.trained_on["ids"] == str(ids)
    with pytest.raises(ConfigError, match="holds a finished run"):
        train_recipe(TINY, data=learning_store, out=out, overrides=[*CSMOE, f"data.ids={ids}"])
    interrupted = tmp_path / "interrupted"
    (interrupted / "checkpoints").mkdir(parents=True)
    shutil.copy(out / "config.yaml", interrupted)
    (interrupted / "checkpoints" / "last.ckpt").touch()
    with pytest.raises(ConfigError, match=r"interrupted run of another recipe .*model\.moe\.num_experts: 4 -> 0"):
        train_recipe(TINY, data=learning_store, out=interrupted, overrides=[f"data.ids={ids}"])
    outside = tmp_path / "test-ids.parquet"
    pd.DataFrame({"patch_id": [report_id for report_id in pd.read_parquet(learning_store / "metadata.parquet")
                               .query("split == 'test'")["patch_id"][:2]]}).to_parquet(outside)  # fmt: skip
    with pytest.raises(MissingDataError, match="not in the metadata"):
        train_recipe(TINY, data=learning_store, out=tmp_path / "bad", overrides=[f"data.ids={outside}"])


@pytest.mark.slow
def test_retrieval_in_four_directions_agrees_with_brute_force(csmae_run: Path, learning_store: Path) -> None:
    encoder = load_encoder(csmae_run)
    results = evaluate_retrieval(encoder, learning_store, protocol="map", k=10)
    assert list(results) == ["S1->S1", "S2->S2", "S1->S2", "S2->S1"]
    archive = extract_features(encoder, learning_store, split="train")
    queries = extract_features(encoder, learning_store, split="test")
    relevant = shares_label(queries.labels, archive.labels)
    for (source, target), name in ((("s2", "s1"), "S2->S1"), (("s1", "s1"), "S1->S1")):
        a = torch.nn.functional.normalize(queries.views[source], dim=1)
        b = torch.nn.functional.normalize(archive.views[target], dim=1)
        top = (a @ b.T).topk(10, dim=1).indices  # test queries are not in the training archive
        hits = relevant.gather(1, top).float()
        assert results[name].precision == pytest.approx(float(hits.mean()), abs=1e-6)
    # protocol csmae: validation queries in the test archive, label overlap per retrieved image
    overlap = evaluate_retrieval(encoder, learning_store, k=10)
    validation, test = (extract_features(encoder, learning_store, split=split) for split in ("validation", "test"))
    a = torch.nn.functional.normalize(validation.views["s1"], dim=1)
    top = (a @ torch.nn.functional.normalize(test.views["s2"], dim=1).T).topk(10, dim=1).indices
    q, r = validation.labels.numpy().astype(bool), test.labels.numpy().astype(bool)[top.numpy()]  # (Q, C), (Q, 10, C)
    common = (q[:, None, :] & r).sum(axis=2)
    precision, recall = (common / r.sum(axis=2)).mean(), (common / q.sum(axis=1)[:, None]).mean()
    assert overlap["S1->S2"].precision == pytest.approx(precision, rel=1e-6)
    assert overlap["S1->S2"].recall == pytest.approx(recall, rel=1e-6)
    assert overlap["S1->S2"].f1 == pytest.approx(2 * precision * recall / (precision + recall), rel=1e-6)
    runner = CliRunner()
    result = runner.invoke(app, ["retrieve", str(csmae_run), "--data", str(learning_store), "--evaluate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["protocol"], report["queries"], report["archive"]) == ("csmae", "validation", "test")
    rows = report["results"]
    assert [row["direction"] for row in rows] == list(results)
    assert set(rows[0]) == {"direction", "k", "precision", "recall", "f1", "queries"}
    assert rows[2]["f1"] == pytest.approx(overlap["S1->S2"].f1)
    binary = runner.invoke(app, ["retrieve", str(csmae_run), "--data", str(learning_store), "--evaluate", "--json",
                                 "--protocol", "map"])  # fmt: skip
    assert json.loads(binary.output)["results"][0]["map"] == pytest.approx(results["S1->S1"].map)
    patch = archive.patch_ids[0]
    _, hits = query_patch(encoder, learning_store, patch, k=5)
    assert all(hit.patch_id != patch for hit in hits["S2->S2"])  # never itself in a same-view direction
    assert [hit.rank for hit in hits["S1->S2"]] == [1, 2, 3, 4, 5]
    shown = runner.invoke(app, ["retrieve", str(csmae_run), "--data", str(learning_store), "--query", patch])
    assert shown.exit_code == 0
    assert "S1->S2" in shown.output
    unknown = runner.invoke(app, ["retrieve", str(csmae_run), "--data", str(learning_store), "--query", "nope"])
    assert unknown.exit_code == 1
    assert "['nope'] are not in the metadata" in text(unknown)
    neither = runner.invoke(app, ["retrieve", str(csmae_run), "--data", str(learning_store)])
    assert neither.exit_code == 1
    assert "--query PATCH_ID or --evaluate" in text(neither)


@pytest.mark.slow
def test_segmentation_and_fine_tuning_on_the_pretrained_encoder(csmae_run: Path, mini_store: Path,
                                                               tmp_path: Path) -> None:  # fmt: skip
    run = train_recipe(CONFIGS / "segmentation-tiny-cpu.yaml", data=mini_store, out=tmp_path / "seg",
                       overrides=[f"model.encoder={csmae_run}"])  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["miou"] <= 1.0
    assert metrics["test"]["pixel_accuracy"] > 0.0
    assert len(metrics["test"]["per_class"]) == 19
    model = load_segmenter(run)
    assert model(torch.zeros(1, 12, 120, 120)).shape == (1, 19, 120, 120)
    with pytest.raises(ConfigError, match=r"model\.encoder is not set"):
        train_recipe(CONFIGS / "segmentation-tiny-cpu.yaml", data=mini_store, out=tmp_path / "x", overrides=[])
    result = CliRunner().invoke(app, ["probe", str(csmae_run), "--data", str(mini_store), "--protocol", "finetune",
                                      "--epochs", "1", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 0.0 < json.loads(result.output)["macro"]["ap"] <= 1.0
    assert isinstance(load_encoder(csmae_run), FoundationEncoder)
