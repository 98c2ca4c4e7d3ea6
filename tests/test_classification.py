"""Scene classification end to end on a tiny mini-reBEN: learning, the run folder, reloading, evaluate/predict,
resuming, and the errors on bad input."""

import json
import shutil
from pathlib import Path

import lightning as L  # noqa: N812
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import bigearth.cli.classification  # noqa: F401  (registers train, evaluate, predict)
from bigearth.cli.app import app
from bigearth.data.datamodule import ReBENDataModule
from bigearth.errors import ConfigError, MissingDataError
from bigearth.evaluation.evaluate import evaluate_model
from bigearth.evaluation.metrics import classification_report
from bigearth.evaluation.predict import iterate_dataset
from bigearth.features import open_dataset
from bigearth.folders import load_model
from bigearth.models import check_compatible
from bigearth.tasks.classification import ClassificationTask
from bigearth.tasks.config import TrainConfig, load_config
from bigearth.tasks.run import RunFolder
from bigearth.tasks.train import train

DEMO = Path(__file__).resolve().parents[1] / "configs" / "classification" / "demo-cpu.yaml"
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def text(result) -> str:
    """A command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def recipe(store: Path, *overrides: str) -> TrainConfig:
    """The demo recipe on a store, quiet, with overrides."""
    return load_config(DEMO, [f"data.path={store}", *QUIET, *overrides])


@pytest.fixture(scope="module")
def learning_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mini-reBEN store big enough to learn from (about 130 training patches)."""
    from bigearth.data.synth_store import synthesize_store

    store = tmp_path_factory.mktemp("learning") / "store"
    synthesize_store(store, patches=300, seed=11, workers=0)
    return store


@pytest.fixture(scope="module")
def trained_run(learning_store: Path, tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    """The demo recipe trained for a few epochs."""
    config = recipe(learning_store, "trainer.max_epochs=8", "data.batch_size=16")
    return train(config, out=tmp_path_factory.mktemp("runs") / "demo")


@pytest.mark.slow
def test_training_learns(trained_run: RunFolder, learning_store: Path) -> None:
    log = pd.read_csv(trained_run.metrics_csv).groupby("epoch")["train/loss_epoch"].last().dropna()
    assert log.iloc[-1] < 0.8 * log.iloc[0]
    metrics = json.loads(trained_run.metrics_file.read_text())
    test = ReBENDataModule(learning_store, "s1s2", class_order="alphabetical").dataset("test")
    targets = torch.from_numpy(test.index.labels).long()
    frequency = torch.from_numpy(ReBENDataModule(learning_store, "s1s2", class_order="alphabetical")
                                 .dataset("train").index.labels).mean(dim=0)  # fmt: skip
    baseline = classification_report(frequency.expand(len(targets), -1), targets, test.class_names)
    assert metrics["test"]["samples"] == len(test)
    assert metrics["test"]["macro"]["ap"] >= baseline.macro["ap"] + 0.2, (metrics["test"]["macro"], baseline.macro)
    assert "classes present" in metrics["test"]["note"]


@pytest.mark.slow
def test_run_folder_holds_model_metrics_plots_logs_and_checkpoints(trained_run: RunFolder) -> None:
    path = trained_run.path
    for name in ("config.yaml", "metrics.json", "model/config.json", "model/model.safetensors", "logs/metrics.csv",
                 "checkpoints/last.ckpt"):  # fmt: skip
        assert (path / name).is_file(), name
    assert len(list((path / "checkpoints").glob("best-*.ckpt"))) == 1
    assert sorted(p.name for p in (path / "plots").glob("*.png")) == [
        "error_cooccurrence.png", "per_class_ap.png", "precision_recall.png", "training_curves.png"
    ]  # fmt: skip
    config = json.loads((path / "model" / "config.json").read_text())
    assert config["bands"][:2] == ["VV", "VH"]
    assert len(config["bands"]) == 14
    assert config["class_order"] == "alphabetical"
    assert len(config["mean"]) == 14
    assert config["image_size"] == 120
    assert config["backbone"] == "resnet10t_slim"
    assert config["trained_on"]["kind"] == "store"
    assert config["trained_on"]["train_samples"] > 100
    assert trained_run.read_config().model.backbone == "resnet10t_slim"


@pytest.mark.slow
def test_saved_model_reloads_with_identical_predictions(trained_run: RunFolder, learning_store: Path) -> None:
    model = load_model(trained_run.path)
    best = next((trained_run.checkpoints_dir).glob("best-*.ckpt"))
    network = ClassificationTask.load_from_checkpoint(best, map_location="cpu").network.eval()
    dataset = open_dataset(model, learning_store, split="validation")
    batch = next(iterate_dataset(network, dataset, batch_size=8))
    again = next(iterate_dataset(model, dataset, batch_size=8))
    assert batch["patch_id"] == again["patch_id"]
    assert torch.equal(batch["probabilities"], again["probabilities"])


@pytest.mark.slow
def test_evaluate_reproduces_the_test_metrics_of_training(trained_run: RunFolder, learning_store: Path) -> None:
    metrics = json.loads(trained_run.metrics_file.read_text())["test"]
    report, _, _ = evaluate_model(load_model(trained_run.path), learning_store, split="test")
    assert report.macro["ap"] == pytest.approx(metrics["macro"]["ap"], abs=1e-5)
    result = CliRunner().invoke(app, ["evaluate", str(trained_run.path), "--data", str(learning_store), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["micro"]["ap"] == pytest.approx(metrics["micro"]["ap"], abs=1e-5)
    table = CliRunner().invoke(
        app, ["evaluate", str(trained_run.path), "--data", str(learning_store), "--split", "val"]
    )
    assert table.exit_code == 0
    assert "macro (present classes)" in text(table)
    assert "classes present" in text(table)


@pytest.mark.slow
def test_predict_geotiff_folders_as_the_store(trained_run: RunFolder, mini_root: Path, mini_store: Path,
                                             tmp_path: Path) -> None:  # fmt: skip
    s2_tile = sorted((mini_root / "BigEarthNet-S2").iterdir())[0]
    s1_tree = mini_root / "BigEarthNet-S1"  # the sensor's whole tree: partners are found by tile and x_y
    runner = CliRunner()
    folders = runner.invoke(app, ["predict", str(trained_run.path), "--s2-dir", str(s2_tile), "--s1-dir",
                                  str(s1_tree), "--out", str(tmp_path / "folders.csv")])  # fmt: skip
    assert folders.exit_code == 0, folders.output
    from_folders = pd.read_csv(tmp_path / "folders.csv").set_index("patch_id")
    ids = ",".join(from_folders.index[:5])
    store = runner.invoke(app, ["predict", str(trained_run.path), "--data", str(mini_store), "--ids", ids,
                                "--out", str(tmp_path / "store.csv")])  # fmt: skip
    assert store.exit_code == 0, store.output
    from_store = pd.read_csv(tmp_path / "store.csv").set_index("patch_id")
    assert list(from_store.columns[:2]) == ["labels", "Agro-forestry areas"]
    assert len(from_store) == 5
    pd.testing.assert_frame_equal(from_store, from_folders.loc[from_store.index], check_exact=False, atol=1e-5)
    patch = sorted(s2_tile.iterdir())[0]
    one = runner.invoke(app, ["predict", str(trained_run.path), "--s2-dir", str(patch), "--s1-dir", str(s1_tree)])
    assert one.exit_code == 0, one.output
    assert patch.name in one.output


class InterruptError(Exception):
    """Stands for a crash or a killed job."""


class InterruptAtEpoch(L.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise InterruptError


@pytest.mark.slow
def test_resume_continues_identically(mini_store: Path, tmp_path: Path) -> None:
    tiny = ["trainer.max_epochs=3", "data.batch_size=8", "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2", "model.drop_rate=0.5"]  # fmt: skip
    config = recipe(mini_store, *tiny)
    straight = train(config, out=tmp_path / "straight")
    with pytest.raises(InterruptError):
        train(config, out=tmp_path / "interrupted", callbacks=[InterruptAtEpoch(1)])
    interrupted = RunFolder(tmp_path / "interrupted")
    assert interrupted.is_interrupted
    assert not interrupted.is_complete
    with pytest.raises(ConfigError, match=r"interrupted run of another recipe \(model.lr: 0.003 -> 0.001\)"):
        train(recipe(mini_store, *tiny, "model.lr=1e-3"), out=interrupted.path)
    result = CliRunner().invoke(app, ["train", str(interrupted.path)])  # a run folder resumes with its own recipe
    assert result.exit_code == 0, result.output
    resumed = RunFolder(interrupted.path)
    first = torch.load(straight.last_checkpoint, map_location="cpu", weights_only=False)
    second = torch.load(resumed.last_checkpoint, map_location="cpu", weights_only=False)
    assert first["epoch"] == second["epoch"] == 2
    assert first["global_step"] == second["global_step"]
    for name, value in first["state_dict"].items():
        assert torch.equal(value, second["state_dict"][name]), name
    a, b = (json.loads(run.metrics_file.read_text())["test"]["macro"] for run in (straight, resumed))
    assert a == b
    with pytest.raises(ConfigError, match="holds a finished run"):
        train(config, out=straight.path)


def test_store_without_the_requested_modality__error(mini_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "s2-only"
    root.mkdir()
    for name in ("BigEarthNet-S2", "Reference_Maps"):
        (root / name).symlink_to(mini_root / name)
    for parquet in mini_root.glob("*.parquet"):
        shutil.copy(parquet, root)
    with pytest.raises(MissingDataError, match="no BigEarthNet-S1 folder but S1 bands were requested"):
        train(recipe(root), out=tmp_path / "run")


def test_data_of_another_band_or_class_order__error(mini_store: Path, tmp_path: Path) -> None:
    from bigearth.folders import save_model
    from bigearth.models import ModelMetadata, SceneClassifier

    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", 12, class_order="alphabetical")), tmp_path)
    model = load_model(tmp_path)
    swapped = ReBENDataModule(mini_store, ["VH", "VV", *model.metadata.bands[2:]], class_order="alphabetical")
    with pytest.raises(ConfigError, match=r"reads bands \['VV', 'VH'.*the same names in another order"):
        check_compatible(model.metadata, bands=swapped.bands, class_names=swapped.class_names)
    table = ReBENDataModule(mini_store, 12, class_order="table")
    with pytest.raises(ConfigError, match="class_order='alphabetical'"):
        check_compatible(model.metadata, bands=table.bands, class_names=table.class_names, stats=table.stats)


def test_cli_errors_are_clear(mini_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(DEMO), "--data", str(mini_store), "--out", str(tmp_path / "run"),
                                 "model.backbone=resnet5O"])  # fmt: skip
    assert result.exit_code == 1
    assert "unknown backbone 'resnet5O'" in text(result)
    result = runner.invoke(app, ["predict", str(tmp_path), "--data", str(mini_store), "--s2-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "not both" in text(result)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "nothing"), "--data", str(mini_store)])
    assert result.exit_code == 1
    assert "no model folder" in text(result)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="no run folder"):
        train(recipe(mini_store), out=tmp_path / "junk")
