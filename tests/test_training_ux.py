"""What a user sees of a training run: the recipe's loggers and callbacks, one line per epoch off a terminal, the
resolved recipe (``--print-config``), "did you mean" for typos, and the run records (``env.json``)."""

import csv
import importlib.util
import json
import platform
import re
import shutil
import subprocess
from pathlib import Path

import lightning as L  # noqa: N812
import pytest
import torch
import yaml
from typer.testing import CliRunner

import bigearth.cli  # registers every command
from bigearth.cli.app import app
from bigearth.errors import ConfigError
from bigearth.folders import load_model
from bigearth.tasks.config import load_config
from bigearth.tasks.extensions import instantiate, resolve_class
from bigearth.tasks.train import train

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "classification" / "demo-cpu.yaml"
TINY = ["trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "data.batch_size=8"]  # fmt: skip


def checkout_revision() -> dict[str, object] | None:
    """The git revision of the checkout that bigearth is imported from (None for an installed copy or no git)."""
    source = Path(bigearth.__file__).resolve().parent
    if shutil.which("git") is None or ROOT not in source.parents or not (ROOT / ".git").exists():
        return None
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    changes = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, check=False).returncode
    return {"revision": head.stdout.strip(), "dirty": changes != 0}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.slow
def test_recipe_loggers_and_callbacks_run_beside_bigearths_own(
    mini_store: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = load_config(DEMO, [f"data.path={mini_store}", *TINY,
                                "trainer.logger={class_path: CSVLogger, init_args: {name: extra}}",
                                "trainer.callbacks=[{class_path: GradientAccumulationScheduler, "
                                "init_args: {scheduling: {0: 2}}}]"])  # fmt: skip
    run = train(config, out=tmp_path / "run")
    captured = capfd.readouterr()

    # the extra CSV logger (under logs/, as no save_dir was given) saw the same validation values as bigearth's own
    extra = [row for row in read_csv(run.logs_dir / "extra" / "version_0" / "metrics.csv") if row["val/macro_ap"]]
    own = [row for row in read_csv(run.metrics_csv) if row["val/macro_ap"]]
    assert [row["epoch"] for row in extra] == ["0", "1"]
    assert [row["val/macro_ap"] for row in extra] == [row["val/macro_ap"] for row in own]
    # the extra callback accumulated the gradients of 2 batches: 2 epochs of 2 batches made 2 optimiser steps
    assert torch.load(run.last_checkpoint, map_location="cpu", weights_only=True)["global_step"] == 2
    assert json.loads(run.metrics_file.read_text())["best_checkpoint"].startswith("best-epoch")

    # standard output is no terminal here: the start, the recipe and one line per epoch, without Lightning's noise
    out = captured.out
    assert f"run folder: {run.path} (new run)" in out
    printed = yaml.safe_load(out.split("resolved config:\n", 1)[1].split("\nmodel: ", 1)[0])
    assert printed["trainer"]["logger"] == [{"class_path": "CSVLogger", "init_args": {"name": "extra"}}]
    assert printed["data"]["path"] == str(mini_store)
    assert re.search(r"^model: [\d.]+ [KM]? ?parameters \([\d.]+ [KM]? ?trainable\), [\d.]+ MB$", out, re.M), out
    lines = re.findall(r"^epoch (\d)/2 train/loss [\d.]+ val/loss [\d.]+ val/macro_ap ([\d.e-]+) .* [\d.]+ s$", out,
                       re.M)  # fmt: skip
    assert [epoch for epoch, _ in lines] == ["1", "2"], out
    assert [float(value) for _, value in lines] == [float(f"{float(row['val/macro_ap']):.4g}") for row in own]
    noise = captured.out + captured.err
    for text in ("Total FLOPs", "💡 Tip", "litlogger", "LeafSpec"):
        assert text not in noise

    # run records: the run folder and its model folder name this process's Python, torch and command
    for folder in (run.path, run.model_dir):
        record = json.loads((folder / "env.json").read_text())
        assert record["python"] == platform.python_version()
        assert record["packages"]["torch"] == torch.__version__.split("+")[0]
        assert record["packages"]["lightning"] == L.__version__
        assert record["cuda"] == torch.version.cuda
        assert isinstance(record["command"], list)
        assert record["git"] == checkout_revision()


def test_model_folder_without_env_json_loads(mini_store: Path, tmp_path: Path) -> None:
    from bigearth.folders import save_model
    from bigearth.models import ModelMetadata, SceneClassifier

    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", 14, class_order="alphabetical")), tmp_path / "m")
    assert (tmp_path / "m" / "env.json").is_file()
    shutil.copytree(tmp_path / "m", tmp_path / "old")
    (tmp_path / "old" / "env.json").unlink()  # a folder written before run records existed
    images = torch.rand(2, 14, 120, 120)
    new, old = load_model(tmp_path / "m").eval(), load_model(tmp_path / "old").eval()
    torch.testing.assert_close(old(images), new(images))


@pytest.mark.parametrize(
    ("logger", "modules", "package"),
    [("TensorBoardLogger", ("tensorboard", "tensorboardX"), "tensorboard"), ("WandbLogger", ("wandb",), "wandb"),
     ("MLFlowLogger", ("mlflow",), "mlflow")],
)  # fmt: skip
def test_logger_without_its_package__one_line_naming_it(logger: str, modules: tuple[str, ...], package: str) -> None:
    if any(importlib.util.find_spec(module) for module in modules):
        pytest.skip(f"{package} is installed here")
    with pytest.raises(ConfigError, match=rf"^trainer.logger {logger} needs the package {package}: pip install "):
        load_config(DEMO, [f"trainer.logger=[{{class_path: {logger}, init_args: {{project: x}}}}]"])
    result = CliRunner().invoke(app, ["train", str(DEMO), f"trainer.logger={logger}", "--print-config"])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: trainer.logger {logger} needs the package {package}: pip install {package}"


def test_callbacks_from_an_installed_packages_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ux_plugin.py").write_text(
        "import lightning as L\n\n\nclass Marker(L.Callback):\n    def __init__(self, label='x'):\n"
        "        self.label = label\n"
    )
    dist = tmp_path / "ux_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ux-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[bigearth.callbacks]\nmarker = ux_plugin:Marker\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = resolve_class("marker", "callbacks")
    assert (found.__module__, found.__name__) == ("ux_plugin", "Marker")
    (callback,) = instantiate([{"class_path": "marker", "init_args": {"label": "y"}}], "callbacks", logs_dir=tmp_path)
    assert callback.label == "y"
    with pytest.raises(ConfigError, match=r"trainer.callbacks Marker: init_args \{'colour': 'y'\} are refused"):
        instantiate([{"class_path": "marker", "init_args": {"colour": "y"}}], "callbacks", logs_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'markr' is unknown; use one of \['BackboneFinetuning'"):
        resolve_class("markr", "callbacks")


def test_print_config_prints_the_resolved_recipe_and_trains_nothing(
    mini_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(DEMO), "--print-config", "--data", str(mini_store), "--out", "run",
                                 "trainer.max_epochs=3", "model.lr=5e-4"])  # fmt: skip
    assert result.exit_code == 0, result.output
    printed, written = yaml.safe_load(result.output), yaml.safe_load(DEMO.read_text())
    assert printed["trainer"] == {**written["trainer"], "max_epochs": 3}
    assert printed["model"] == {**written["model"], "lr": 5e-4}
    assert printed["data"]["path"] == str(mini_store)
    patience = written["early_stopping"]["patience"]
    assert printed["early_stopping"] == {"patience": patience, "min_delta": 0.0}  # min_delta: the default
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "runs").exists()
    for verb, recipe, *extra in (
        ("pretrain", "configs/ssl/tiny-cpu.yaml"),
        ("pretrain", "configs/fm/tiny-cpu.yaml"),
        ("train", "configs/vqa/demo-cpu.yaml"),
        ("train", "configs/fm/segmentation-tiny-cpu.yaml", "model.encoder=runs/csmae/model"),
    ):
        result = runner.invoke(app, [verb, str(ROOT / recipe), "--print-config", "trainer.max_epochs=4", *extra])
        assert result.exit_code == 0, (recipe, result.output)
        printed = yaml.safe_load(result.output)
        assert printed["task"] == yaml.safe_load((ROOT / recipe).read_text())["task"]
        assert printed["trainer"]["max_epochs"] == 4
    result = runner.invoke(app, ["pretrain", str(DEMO), "--print-config"])  # the alias runs every task, as train
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["task"] == "classification"
    (tmp_path / "unknown.yaml").write_text("task: detection\n")
    result = runner.invoke(app, ["train", str(tmp_path / "unknown.yaml"), "--print-config"])
    assert result.exit_code == 1
    assert "task = 'detection' is no bigearth task; tasks are ['classification', 'clip', 'csmae'" in result.output


@pytest.mark.parametrize(
    ("arguments", "hint"),
    [
        (["train", str(DEMO), "--print-config", "trainer.max_epoch=3"], "(did you mean 'max_epochs'?)"),
        (["train", str(DEMO), "--print-config", "data.batchsize=3"], "(did you mean 'batch_size'?)"),
        (["train", str(DEMO), "--print-config", "optimiser.name=sgd"], "(did you mean 'optimizer'?)"),
        (["pretrain", str(ROOT / "configs/ssl/tiny-cpu.yaml"), "model.methd=byol"], "(did you mean 'method'?)"),
    ],
)
def test_typos_get_did_you_mean(arguments: list[str], hint: str) -> None:
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: unknown ")
    assert hint in line


@pytest.mark.parametrize("verb", ["train", "pretrain"])
def test_help_of_training_verbs_names_sections_and_overrides(verb: str) -> None:
    result = CliRunner().invoke(app, [verb, "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "overrides... <list[str]> dotted key=value overrides" in text
    assert "--print-config" in text
    for section in ("trainer", "model", "data", "optimizer", "scheduler", "logger and callbacks"):
        assert section in text
