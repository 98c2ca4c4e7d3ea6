"""The ``bigearth slim`` commands on the mini-reBEN: evaluate, analyze, compare, export, and their errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bigearth.cli.slim  # noqa: F401  (registers the slim commands)
from bigearth.cli.app import app
from bigearth.folders.classifier import save_model
from bigearth.folders.encoders import load_encoder
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-weight model folders: a ResNet SSL-style encoder and a small ViT."""
    root = tmp_path_factory.mktemp("slim-models")
    resnet = ModelMetadata.create("resnet10t_slim", 10, class_order="alphabetical")
    vit = ModelMetadata.create("vit_base_patch15", 10, class_order="alphabetical", backbone_args={
        "embed_dim": 32, "depth": 2, "num_heads": 4})  # fmt: skip
    for name, metadata in (("resnet", resnet), ("vit", vit)):
        save_model(SceneClassifier(metadata).eval(), root / name / "model")
    return {"resnet": root / "resnet", "vit": root / "vit"}


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_evaluate_compare_and_analyze_write_reports_and_figures(models: dict[str, Path], mini_store: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    for name, width in (("resnet", 0.5), ("vit", 0.1)):
        output = invoke(
            "slim",
            "evaluate",
            models[name],
            "--data",
            mini_store,
            "--widths",
            f"{width}",
            "--protocol",
            "knn",
            "--calibration-batches",
            "1",
            "--attention-scale",
            "slimmed",
            "--out",
            tmp_path / name,
        )
        report = json.loads((tmp_path / name / "slim-evaluate.json").read_text())
        assert report["attention_scale"] == "slimmed"
        assert "attention scale of cut heads: slimmed" in output
        assert [row["width"] for row in report["rows"]] == [1.0, width]
        assert report["rows"][0]["knn"]["relative_macro_ap"] == 1.0
        flops = [row["flops"] for row in report["rows"]]
        assert flops == sorted(flops, reverse=True)
        assert (tmp_path / name / "slim-evaluate.png").is_file()
    assert report["rows"][1]["embed_width"] == 0.1  # the ViT's embedding is cut below 0.25
    assert report["rows"][1]["attention_scale"] == "slimmed"
    assert report["batchnorm_statistics"] == "none in the network"  # the ViT; the ResNet's:
    resnet = json.loads((tmp_path / "resnet" / "slim-evaluate.json").read_text())
    assert resnet["batchnorm_statistics"].startswith("re-estimated at every width from 1 training batches")
    figure = tmp_path / "compare.png"
    output = invoke("slim", "compare", tmp_path / "resnet" / "slim-evaluate.json",
                    tmp_path / "vit" / "slim-evaluate.json", "--out", figure)  # fmt: skip
    assert figure.is_file()
    assert "wrote" in output
    invoke("slim", "analyze", models["vit"], "--data", mini_store, "--widths", "0.5", "--out", tmp_path / "analysis")
    analysis = json.loads((tmp_path / "analysis" / "slim-analyze.json").read_text())
    assert [row["feature_dim"] for row in analysis["rows"]] == [32, 32]
    assert analysis["attention_scale"] == "original"
    assert (tmp_path / "analysis" / "slim-analyze.png").is_file()


def test_export_writes_a_model_folder_that_loads(models: dict[str, Path], mini_store: Path, tmp_path: Path) -> None:
    output = invoke("slim", "export", models["resnet"], "--width", "0.5", "--data", mini_store, "--out",
                    tmp_path / "half")  # fmt: skip
    assert "batch-norm statistics from" in output
    encoder = load_encoder(tmp_path / "half")
    assert encoder.feature_dim == 128
    assert json.loads((tmp_path / "half" / "config.json").read_text())["batchnorm_statistics"]["images"] > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["evaluate", "{resnet}", "--data", "{store}", "--widths", "1,1.5"], "(0, 1]"),
        (["evaluate", "{resnet}", "--data", "{store}", "--mode", "heads"], "transformers only"),
        (["evaluate", "{resnet}", "--data", "{store}", "--protocol", "full"], "unknown or no probe"),
        (["evaluate", "{resnet}", "--data", "{store}", "--attention-scale", "half"], "use one of ['original',"),
        (["evaluate", "{missing}", "--data", "{store}"], "no model folder"),
        (["export", "{resnet}", "--width", "0", "--out", "{missing}"], "(0, 1]"),
        (["export", "{resnet}", "--width", "0.5", "--out", "{missing}"], "pass --data STORE"),
        (["compare", "{missing}", "--out", "{missing}.png"], "does not exist"),
    ],
)
def test_bad_input_gets_one_clear_error(arguments: list[str], message: str, models: dict[str, Path],
                                        mini_store: Path, tmp_path: Path) -> None:  # fmt: skip
    values = {"resnet": models["resnet"], "store": mini_store, "missing": tmp_path / "missing"}
    result = runner.invoke(app, ["slim", *[argument.format(**values) for argument in arguments]])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
