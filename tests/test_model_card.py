"""timm- and hub-native model folders: ``timm.create_model("local-dir:...")`` and ``bigearth export`` model cards."""

import json
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import ModelCard
from typer.testing import CliRunner

from bigearth.cli import app
from bigearth.folders import save_model
from bigearth.models import ModelMetadata, SceneClassifier
from bigearth.nomenclature import CLASSES_ALPHABETICAL

#: reBEN's published train-split mean of B02 and std of VV (DESIGN 2.4).
B02_MEAN, VV_STD = 438.37, 5.13


def test_timm_loads_a_bigearth_model_folder(tmp_path: Path) -> None:
    model = SceneClassifier(ModelMetadata.create("resnet10t_slim", 12, class_order="alphabetical")).eval()
    save_model(model, tmp_path / "model")
    plain = timm.create_model(f"local-dir:{tmp_path / 'model'}", pretrained=True).eval()
    images = torch.randn(2, 12, 120, 120)
    with torch.no_grad():
        assert torch.equal(plain(images), model(images))
    config = plain.pretrained_cfg
    assert tuple(config["input_size"]) == (12, 120, 120)
    assert config["label_names"] == list(CLASSES_ALPHABETICAL)
    assert config["num_classes"] == 19
    assert config["mean"][2] == pytest.approx(B02_MEAN, abs=0.01)  # channel 2 of the 12-band preset is B02
    assert config["std"][0] == pytest.approx(VV_STD, abs=0.01)
    assert config["first_conv"] == "conv1.0"  # resnet10t's deep stem
    assert config["classifier"] == "fc"


def write_run(run: Path) -> SceneClassifier:
    """A finished run folder by hand: ``model/`` and a ``metrics.json`` with a test report."""
    model = SceneClassifier(ModelMetadata.create("resnet10t_slim", 10, class_order="alphabetical")).eval()
    save_model(model, run / "model", extra={"threshold": 0.5})
    averages = {"ap": 0.61, "f1": 0.52, "precision": 0.58, "recall": 0.49}
    test = {"samples": 40, "threshold": 0.5, "macro": averages, "micro": {**averages, "ap": 0.7}}
    (run / "metrics.json").write_text(json.dumps({"run": "hand", "test": test}))
    return model


def test_export_writes_a_hub_ready_folder_with_a_model_card(mini_store: Path, tmp_path: Path) -> None:
    model = write_run(tmp_path / "run")
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "hub"), "--data", str(mini_store)]
    )
    assert result.exit_code == 0, result.output
    hub = tmp_path / "hub"
    assert sorted(path.name for path in hub.iterdir()) == [
        "README.md",
        "config.json",
        "example.png",
        "model.safetensors",
    ]
    card = ModelCard.load(hub / "README.md")
    assert card.data.library_name == "timm"
    assert "sentinel-2" in card.data.tags
    text = card.text
    assert "| 0 | B02 | 438.3721 | 607.0269 |" in text  # the first band, its mean and std
    assert "| 9 | B12 | 997.7325 | 813.5276 |" in text
    assert "0. Agro-forestry areas" in text
    assert "18. Urban fabric" in text
    assert "| macro | 0.61 | 0.52 | 0.58 | 0.49 |" in text
    assert "| micro | 0.7 | 0.52 | 0.58 | 0.49 |" in text
    assert "(example.png)" in text
    plain = timm.create_model(f"local-dir:{hub}", pretrained=True).eval()
    images = torch.randn(1, 10, 120, 120)
    with torch.no_grad():
        assert torch.equal(plain(images), model(images))


def test_export__errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "hub")])
    assert result.exit_code == 1
    assert "no model folder" in result.output
