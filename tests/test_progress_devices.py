"""Progress of the passes over a split, and ``--device`` / ``--batch-size`` on every command that runs a model."""

import io
import json
import re
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

import bigearth.cli  # noqa: F401  (registers every command)
from bigearth.cli.app import app
from bigearth.errors import ConfigError
from bigearth.evaluation.predict import predict_dataset, resolve_device
from bigearth.features import open_dataset
from bigearth.folders import load_model, save_model
from bigearth.models import ModelMetadata, SceneClassifier
from bigearth.progress import report_progress


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained 14-band classifier saved as a model folder."""
    folder = tmp_path_factory.mktemp("model") / "model"
    torch.manual_seed(0)
    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", 14, class_order="alphabetical")), folder)
    return folder


def plain(text: str) -> str:
    """Terminal output without its ANSI control sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_a_pass_shows_a_bar_on_a_terminal_and_nothing_elsewhere(model_folder: Path, mini_store: Path) -> None:
    model = load_model(model_folder).eval()
    patches = len(open_dataset(model, mini_store, split=None))
    batches = -(-patches // 50)
    terminal, log = io.StringIO(), io.StringIO()
    with report_progress(Console(file=terminal, force_terminal=True, width=120)):
        predict_dataset(model, mini_store, batch_size=50)
    with report_progress(Console(file=log, force_terminal=False, width=120)):
        predict_dataset(model, mini_store, batch_size=50)
    assert f"predicting {patches} patches" in plain(terminal.getvalue())
    assert f"{batches}/{batches}" in plain(terminal.getvalue())
    assert log.getvalue() == ""


def test_resolve_device__error_for_unknown_or_absent_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match=r"--device 'gpu' is no device: use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")
    with pytest.raises(ConfigError, match=rf"torch sees {torch.cuda.device_count()} CUDA GPU\(s\) on this machine"):
        resolve_device("cuda:99")


@pytest.mark.parametrize(
    "verb",
    [["evaluate"], ["predict"], ["retrieve"], ["probe"], ["ssl", "probe"], ["slim", "evaluate"], ["slim", "analyze"]],
    ids=" ".join,
)
def test_every_command_that_runs_a_model_takes_device_and_batch_size(verb: list[str]) -> None:
    result = CliRunner().invoke(app, [*verb, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--device" in result.output
    assert "--batch-size" in result.output


def test_ssl_probe_on_the_cpu_with_another_batch_size_scores_the_same(model_folder: Path, mini_store: Path) -> None:
    runner = CliRunner()
    scores = []
    for extra in ([], ["--device", "cpu", "--batch-size", "7"]):
        result = runner.invoke(app, ["ssl", "probe", str(model_folder), "--data", str(mini_store), "--json", *extra])
        assert result.exit_code == 0, result.output
        scores.append(json.loads(result.output)["macro"])
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)
    result = runner.invoke(app, ["ssl", "probe", str(model_folder), "--data", str(mini_store), "--device", "tpu:x"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --device 'tpu:x' is no device: use auto, cpu, cuda or cuda:N"
