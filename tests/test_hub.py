"""Published BIFOLD reBEN hub folders: band orders of the releases, import, model.weights= and bad folders.

The folders are mocks in the published layout (PyTorchModelHubMixin: ``config.json`` = ``{"config": {...}, "lr",
"warmup"}``, weights under ``model.vision_encoder.``) with random weights; nothing is downloaded.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import timm
import torch
from typer.testing import CliRunner

from bigearth.cli import app
from bigearth.data.store import StoreReader
from bigearth.errors import ConfigError, CorruptDataError
from bigearth.evaluation.predict import predict_dataset
from bigearth.folders import load_model
from bigearth.folders.hub import import_hub_model, read_hub_model
from bigearth.folders.weights import load_backbone_weights
from bigearth.models import SceneClassifier
from bigearth.models.metadata import ModelMetadata
from bigearth.nomenclature import CLASSES_ALPHABETICAL

#: The two releases' orders of the 12-channel (S1 + S2) models, as their model cards list them (DESIGN 2.4).
ORDER_12 = {
    "v0.1": ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B11", "B12", "B8A", "VH", "VV"],
    "v0.2": ["VV", "VH", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
}
#: reBEN's published train-split mean / std (DESIGN 2.4, nearest upsampling).
STATS = {
    "B02": (438.37, 607.03), "B03": (614.06, 603.30), "B04": (588.41, 684.57), "B05": (942.84, 738.43),
    "B06": (1769.93, 1100.46), "B07": (2049.55, 1275.81), "B08": (2193.29, 1369.37), "B8A": (2235.56, 1356.54),
    "B11": (1568.23, 1070.16), "B12": (997.73, 813.53), "VV": (-12.64, 5.13), "VH": (-19.35, 5.59),
}  # fmt: skip


def write_hub_folder(
    folder: Path, *, architecture: str = "resnet18", channels: int = 12, classes: int = 19
) -> torch.nn.Module:
    """Write a mock published folder with random weights; return the plain timm network it holds."""
    torch.manual_seed(0)
    network = timm.create_model(architecture, in_chans=channels, num_classes=classes).eval()
    folder.mkdir(parents=True)
    state = {f"model.vision_encoder.{key}": value for key, value in network.state_dict().items()}
    safetensors.torch.save_file(state, folder / "model.safetensors")
    ilm = {"timm_model_name": architecture, "hf_model_name": None, "image_size": 120, "channels": channels,
           "classes": classes, "class_names": None, "network_type": 0, "drop_rate": 0.15, "drop_path_rate": 0.15,
           "load_pretrained_timm_if_available": False}  # fmt: skip
    (folder / "config.json").write_text(json.dumps({"config": ilm, "lr": 0.001, "warmup": 1000}))
    return network


def hand_stacked(store: Path, patch_id: str, s1_name: str, order: list[str]) -> torch.Tensor:
    """Stack one patch by hand: native arrays from the store, nearest upsampling to 120 px, normalisation."""
    reader = StoreReader(store)
    arrays = {**safetensors.numpy.load(reader.get(patch_id)), **safetensors.numpy.load(reader.get(s1_name))}
    channels = []
    for band in order:
        native = arrays[band].astype(np.float32)
        factor = 120 // native.shape[0]
        upsampled = np.repeat(np.repeat(native, factor, axis=0), factor, axis=1)
        channels.append((upsampled - STATS[band][0]) / STATS[band][1])
    return torch.from_numpy(np.stack(channels))[None]


def first_patch(store: Path) -> tuple[str, str]:
    import pyarrow.parquet as pq

    table = pq.read_table(store / "metadata.parquet", columns=["patch_id", "s1_name"]).to_pylist()
    return table[0]["patch_id"], table[0]["s1_name"]


@pytest.mark.parametrize("release", ["v0.1", "v0.2"])
def test_imported_hub_model_equals_plain_timm_on_the_release_band_order(
    mini_store: Path, tmp_path: Path, release: str
) -> None:
    folder = tmp_path / f"resnet18-all-{release}.0"
    network = write_hub_folder(folder)
    import_hub_model(folder, tmp_path / "model")
    model = load_model(tmp_path / "model")
    assert list(model.metadata.bands) == ORDER_12[release]
    assert model.metadata.class_names == CLASSES_ALPHABETICAL
    patch_id, s1_name = first_patch(mini_store)
    names, probabilities = predict_dataset(model, mini_store, ids=[patch_id])
    assert names == [patch_id]
    with torch.no_grad():
        expected = torch.sigmoid(network(hand_stacked(mini_store, patch_id, s1_name, ORDER_12[release])))
        other = "v0.2" if release == "v0.1" else "v0.1"
        wrong = torch.sigmoid(network(hand_stacked(mini_store, patch_id, s1_name, ORDER_12[other])))
    torch.testing.assert_close(probabilities, expected, rtol=1e-4, atol=1e-5)
    assert (probabilities - wrong).abs().max() > 1e-3


def test_band_order_from_the_user_and_refusal_to_guess(tmp_path: Path) -> None:
    folder = tmp_path / "resnet18-s2"
    write_hub_folder(folder, channels=10)
    with pytest.raises(ConfigError, match=r"no -v0\.1\.x / -v0\.2\.x release suffix.*--band-order"):
        read_hub_model(folder)
    v01 = read_hub_model(folder, band_order="v0.1")
    assert list(v01.metadata.bands) == ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B11", "B12", "B8A"]
    named = read_hub_model(folder, band_order="B02,B03,B04,B05,B06,B07,B08,B8A,B11,B12")
    assert named.metadata.bands == read_hub_model(folder, band_order="v0.2").metadata.bands
    with pytest.raises(ConfigError, match=r"names 2 bands.*reads 10 channels"):
        read_hub_model(folder, band_order="VV,VH")


def test_bad_hub_folders__one_clear_error_each(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown-s2-v0.2.0"
    write_hub_folder(unknown, channels=10)
    config = json.loads((unknown / "config.json").read_text())
    config["config"]["timm_model_name"] = "resnet_made_up_42"
    (unknown / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"unknown-s2-v0\.2\.0 uses the architecture 'resnet_made_up_42'"):
        read_hub_model(unknown)
    five = tmp_path / "resnet18-five-v0.2.0"
    write_hub_folder(five, channels=5)
    with pytest.raises(ConfigError, match=r"five-v0\.2\.0 reads 5 channels.*\[2, 10, 12\].*--band-order"):
        read_hub_model(five)
    misfit = tmp_path / "resnet18-s1-v0.1.1"
    write_hub_folder(misfit, architecture="resnet34", channels=2)
    config = json.loads((misfit / "config.json").read_text())
    config["config"]["timm_model_name"] = "resnet18"
    (misfit / "config.json").write_text(json.dumps(config))
    with pytest.raises(CorruptDataError, match=r"resnet18-s1-v0\.1\.1/model\.safetensors do not fit a resnet18"):
        read_hub_model(misfit)
    # a command that takes bigearth model folders names the conversion
    with pytest.raises(CorruptDataError, match=r"published BIFOLD/ConfigILM.*bigearth import"):
        load_model(misfit)


def test_hub_folder_as_model_weights(tmp_path: Path) -> None:
    folder = tmp_path / "resnet18-s1-v0.1.2"
    network = write_hub_folder(folder, channels=2)
    target = SceneClassifier(ModelMetadata.create("resnet18", ["VH", "VV"], class_order="alphabetical"))
    assert load_backbone_weights(target.backbone, folder, bands=target.metadata.bands) == []
    torch.testing.assert_close(target.backbone.conv1.weight, network.conv1.weight)
    with pytest.raises(ConfigError, match=r"trained on bands \['VH', 'VV'\]"):
        load_backbone_weights(target.backbone, folder, bands=("VV", "VH"))


def test_import_command(tmp_path: Path) -> None:
    write_hub_folder(tmp_path / "resnet18-s2-v0.2.1", channels=10)
    result = CliRunner().invoke(app, ["import", str(tmp_path / "resnet18-s2-v0.2.1"), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "B02,B03,B04,B05,B06,B07,B08,B8A,B11,B12 (v0.2)" in result.output.replace("\n", "")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["imported_from"]["band_order"] == "v0.2"
    result = CliRunner().invoke(app, ["import", str(tmp_path / "resnet18-s2-v0.2.1"), "--out", str(tmp_path / "n"),
                                      "--band-order", "v0.3"])  # fmt: skip
    assert result.exit_code == 1
    assert "unknown band names ['v0.3']" in result.output.replace("\n", "")
