"""Models: the timm-like contract of every backbone, metadata, model folders, local weights and compatibility checks."""

import json
from pathlib import Path

import pytest
import safetensors.torch
import timm
import torch

from bigearth.bands import REBEN_STATS, BandStats
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders import load_model, save_model
from bigearth.folders.format import resolve_model_folder
from bigearth.folders.weights import load_backbone_weights
from bigearth.models import BACKBONES, ModelMetadata, SceneClassifier, check_compatible
from bigearth.nomenclature import CLASSES_ALPHABETICAL, CLASSES_TABLE

#: Small enough to run every contract check quickly; the big ones run one step in test_configs.
SMALL_BACKBONES = ["resnet18", "mobilevit_s", "resnet10t_slim", "vit_base_patch15"]


def metadata(backbone: str = "resnet10t_slim", bands: str | int = "s1s2", order: str = "table") -> ModelMetadata:
    return ModelMetadata.create(backbone, bands, class_order=order)  # type: ignore[arg-type]


@pytest.mark.parametrize("backbone", SMALL_BACKBONES)
def test_every_backbone_honours_the_contract(backbone: str) -> None:
    model = SceneClassifier(metadata(backbone, 12)).eval()
    images = torch.randn(2, 12, 120, 120)
    features = model.forward_features(images)
    pooled = model.forward_head(features, pre_logits=True)
    logits = model.forward_head(features)
    assert (model.in_chans, model.num_classes) == (12, 19)
    assert pooled.shape[0] == 2
    assert pooled.ndim == 2
    assert logits.shape == (2, 19)
    assert torch.allclose(logits, model(images), atol=1e-5)


def test_registry_names_map_to_timm_architectures() -> None:
    assert {"resnet18", "resnet50", "resnet101", "convnextv2_base", "mobilevit_s", "vit_base_patch8", "mixer_b16",
            "vit_base_patch15", "resnet10t_slim"} <= set(BACKBONES)  # fmt: skip
    for spec in BACKBONES.values():
        assert timm.is_model(spec.timm_name)
    model = SceneClassifier(metadata("vit_base_patch8", 2))
    assert model.model_args["img_size"] == 120
    assert model.backbone.patch_embed.grid_size == (15, 15)
    assert SceneClassifier(metadata("efficientnet_b0", 2)).architecture == "efficientnet_b0"  # any timm name


def test_unknown_backbone__error_lists_the_allowed_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown backbone 'resnet5'; use one of \[.*'resnet50'.*timm"):
        SceneClassifier(metadata("resnet5"))
    with pytest.raises(ConfigError, match="timm cannot build"):
        SceneClassifier(ModelMetadata.create("resnet18", 2, backbone_args={"no_such_option": 1}))


def test_wrong_channel_count__error() -> None:
    model = SceneClassifier(metadata(bands=2))
    with pytest.raises(ValueError, match=r"reads 2 bands \['VV', 'VH'\]"):
        model(torch.randn(1, 3, 120, 120))


def test_metadata_records_bands_classes_statistics_and_sensors() -> None:
    meta = metadata(bands=12, order="alphabetical")
    assert meta.bands[:3] == ("VV", "VH", "B02")
    assert meta.sensors == ("s1", "s2")
    assert meta.in_chans == 12
    assert meta.class_names == CLASSES_ALPHABETICAL
    assert meta.num_classes == 19
    assert meta.mean[2] == REBEN_STATS["B02"].mean
    assert meta.std[0] == REBEN_STATS["VV"].std
    assert ModelMetadata.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    assert metadata(bands="s2").sensors == ("s2",)
    with pytest.raises(ConfigError, match=r"unknown band names \['B10'\]"):
        metadata(bands=["B02", "B10"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown class order"):
        metadata(order="random")
    with pytest.raises(ConfigError, match="lacks"):
        ModelMetadata.from_dict({"backbone": "resnet18"})


def test_model_folder_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    model = SceneClassifier(metadata(bands=12, order="alphabetical")).eval()
    save_model(model, tmp_path / "model", extra={"threshold": 0.5})
    loaded = load_model(tmp_path / "model")
    images = torch.randn(3, 12, 120, 120)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
    assert loaded.metadata == model.metadata
    assert not loaded.training
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["bands"] == list(model.metadata.bands)
    assert config["class_names"] == list(CLASSES_ALPHABETICAL)
    assert config["sensors"] == ["s1", "s2"]
    assert config["image_size"] == 120
    assert config["threshold"] == 0.5
    # the folder is usable without bigearth: timm + safetensors
    plain = timm.create_model(config["architecture"], **config["model_args"]).eval()
    plain.load_state_dict(safetensors.torch.load_file(tmp_path / "model" / "model.safetensors"))
    with torch.no_grad():
        assert torch.equal(plain(images), loaded(images))
    # a run folder resolves to its model/
    assert resolve_model_folder(tmp_path) == tmp_path / "model"


def test_model_folder__errors(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="no model folder"):
        load_model(tmp_path)
    save_model(SceneClassifier(metadata(bands=2)), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(MissingDataError, match=r"model\.safetensors is missing"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CorruptDataError, match="is no bigearth-model v1"):
        load_model(tmp_path)


def test_loading_refuses_other_band_order_class_order_or_statistics() -> None:
    meta = metadata(bands=12, order="alphabetical")
    check_compatible(meta, bands=meta.bands, class_names=CLASSES_ALPHABETICAL, stats=REBEN_STATS)
    swapped = (meta.bands[1], meta.bands[0], *meta.bands[2:])
    with pytest.raises(ConfigError, match=r"reads bands \['VV', 'VH'.*yields \['VH', 'VV'.*another order.*bands="):
        check_compatible(meta, bands=swapped, class_names=CLASSES_ALPHABETICAL)
    with pytest.raises(ConfigError, match=r"missing \['VV', 'VH'\], extra \['B01', 'B09'\]"):
        check_compatible(meta, bands=("B01", "B09", *meta.bands[2:]), class_names=CLASSES_ALPHABETICAL)
    with pytest.raises(ConfigError, match=r"'alphabetical' order.*class_order='alphabetical'"):
        check_compatible(meta, bands=meta.bands, class_names=CLASSES_TABLE)
    other = {**REBEN_STATS, "B02": BandStats(0.0, 1.0)}
    with pytest.raises(ConfigError, match=r"normalises band B02 with mean 0\.0"):
        check_compatible(meta, bands=meta.bands, class_names=CLASSES_ALPHABETICAL, stats=other)


def test_local_rgb_weights_are_adapted_to_the_bands(tmp_path: Path) -> None:
    rgb = timm.create_model("resnet18", num_classes=1000)
    safetensors.torch.save_file(rgb.state_dict(), tmp_path / "rgb.safetensors")
    model = SceneClassifier(metadata("resnet18", 12))
    skipped = load_backbone_weights(model.backbone, tmp_path / "rgb.safetensors")
    assert skipped == ["fc.weight", "fc.bias"]  # 1000 ImageNet classes vs 19: the head stays fresh
    assert torch.equal(model.backbone.layer1[0].conv1.weight, rgb.layer1[0].conv1.weight)
    assert model.backbone.conv1.weight.shape[1] == 12
    # a bigearth model folder works as weights too
    save_model(model, tmp_path / "model")
    again = SceneClassifier(metadata("resnet18", 12))
    assert load_backbone_weights(again.backbone, tmp_path / "model", bands=again.metadata.bands) == []
    assert torch.equal(again.backbone.conv1.weight, model.backbone.conv1.weight)
    # ... but only for the bands it was trained on, in their order
    swapped = (again.metadata.bands[1], again.metadata.bands[0], *again.metadata.bands[2:])
    with pytest.raises(ConfigError, match="trained on bands"):
        load_backbone_weights(again.backbone, tmp_path / "model", bands=swapped)


def test_local_weights__errors(tmp_path: Path) -> None:
    model = SceneClassifier(metadata("resnet18", 2))
    with pytest.raises(MissingDataError, match="never downloaded"):
        load_backbone_weights(model.backbone, tmp_path / "absent.pth")
    torch.save(timm.create_model("resnet34").state_dict(), tmp_path / "resnet34.pth")
    with pytest.raises(ConfigError, match="do not fit the backbone"):
        load_backbone_weights(model.backbone, tmp_path / "resnet34.pth")
