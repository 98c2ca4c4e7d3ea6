"""Post-hoc slimming: width 1 is the original exactly, narrower widths are real smaller modules whose measured
FLOPs fall monotonically and match the closed-form ViT count, ResNets and the cross-sensor ViT slim, slimmed
model folders save and load through the ordinary loaders, and bad input is refused."""

import copy
import json
import math
from pathlib import Path

import pytest
import timm
import torch
from timm.models.resnet import Bottleneck, ResNet

from bigearth.errors import ConfigError
from bigearth.folders.classifier import save_model
from bigearth.folders.encoders import load_encoder
from bigearth.folders.foundation import save_foundation_model
from bigearth.models.classifier import SceneClassifier
from bigearth.models.encoders import BackboneEncoder, FoundationEncoder
from bigearth.models.fm.config import CrossSensorConfig, MoEConfig
from bigearth.models.fm.csmae import CrossSensorMAE
from bigearth.models.metadata import ModelMetadata
from bigearth.slim.flops import encoder_flops, measure_flops, vit_flops
from bigearth.slim.network import slim_encoder, slim_network
from bigearth.slim.sandwich import SlimmableConfig
from bigearth.slim.spec import SlimSpec, kept, parse_widths, width_spec
from bigearth.tasks.slim.export import save_slimmed_model

WIDTHS = (1.0, 0.75, 0.5, 0.25, 0.1)


def tiny_vit(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    arguments = {"img_size": 32, "patch_size": 8, "in_chans": 3, "embed_dim": 64, "depth": 2, "num_heads": 4,
                 "mlp_ratio": 2.0, "num_classes": 5, **kwargs}  # fmt: skip
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, **arguments).eval()


def cross_sensor(moe: MoEConfig | None = None) -> CrossSensorMAE:
    torch.manual_seed(0)
    config = CrossSensorConfig(
        variant="sesd",
        size="custom",
        embed_dim=32,
        depth=2,
        num_heads=4,
        shared_depth=1,
        mlp_ratio=2.0,
        decoder_dim=16,
        decoder_depth=1,
        decoder_heads=2,
        moe=moe or MoEConfig(),
    )
    metadata = ModelMetadata.create("csmae", list(config.bands))
    return CrossSensorMAE(config=config, metadata=metadata).eval()


def test_width_one_equals_the_original_exactly() -> None:
    images = torch.randn(2, 3, 32, 32)
    vit = tiny_vit(qk_norm=True, init_values=0.1)
    assert torch.equal(slim_network(vit, SlimSpec(1.0))(images), vit(images))
    resnet = timm.create_model("resnet18", pretrained=False, num_classes=5).eval()
    assert torch.equal(slim_network(resnet, SlimSpec(1.0))(images), resnet(images))
    encoder = FoundationEncoder(cross_sensor(MoEConfig(num_experts=4, sensor_experts=1)))
    pair = torch.randn(2, 12, 120, 120)
    assert torch.equal(slim_encoder(encoder, SlimSpec(1.0))(pair), encoder(pair))


@pytest.mark.parametrize("mode", ["dims", "heads"])
def test_vit_flops_fall_with_the_width_and_match_the_closed_form(mode: str) -> None:
    vit = tiny_vit(num_classes=0)
    images = torch.zeros(1, 3, 32, 32)
    measured = []
    for width in WIDTHS:
        spec = width_spec(width, embed_below=0.25, mode=mode)
        slimmed = slim_network(vit, spec)
        heads = 4 if mode == "dims" else kept(4, width)
        head_dim = kept(16, width) if mode == "dims" else 16
        expected = vit_flops(patches=16, patch_values=3 * 64, embed_dim=kept(64, spec.embed_width), depth=2,
                             heads=heads, head_dim=head_dim, mlp_hidden=kept(128, width))  # fmt: skip
        measured.append(measure_flops(slimmed, images))
        assert measured[-1] == expected
        assert slimmed(images).shape == (1, kept(64, spec.embed_width))
        assert sum(p.numel() for p in slimmed.parameters()) <= sum(p.numel() for p in vit.parameters())
    assert measured == sorted(measured, reverse=True)
    assert len(set(measured)) == len(measured)
    assert measured[-1] / measured[0] < 0.05  # width 0.1 with the embedding cut: a few per cent of the FLOPs


def test_cross_sensor_encoder_slims_with_soft_moe_and_its_flops_match_the_closed_form() -> None:
    dense = FoundationEncoder(cross_sensor())
    pair = torch.randn(2, 12, 120, 120)
    for width in (0.5, 0.25):
        slimmed = slim_encoder(dense, width_spec(width, embed_below=0.3))
        embed = kept(32, width) if width < 0.3 else 32
        assert slimmed(pair).shape == (2, embed)
        assert slimmed.feature_dim == embed
        per_sensor = [vit_flops(patches=64, patch_values=bands * 225, embed_dim=embed, depth=2, heads=4,
                                head_dim=kept(8, width), mlp_hidden=kept(64, width)) for bands in (2, 10)]  # fmt: skip
        assert encoder_flops(slimmed) == sum(per_sensor)
    moe = FoundationEncoder(cross_sensor(MoEConfig(num_experts=4, sensor_experts=1, slots_per_expert=2)))
    assert encoder_flops(slim_encoder(moe, SlimSpec(0.5))) < encoder_flops(moe)


def test_resnet_slims_by_channels_and_refuses_what_it_cannot_cut() -> None:
    resnet = timm.create_model("resnet10t", pretrained=False, num_classes=0, in_chans=10).eval()
    images = torch.randn(2, 10, 48, 48)
    flops = [measure_flops(slim_network(resnet, SlimSpec(w)), images) for w in WIDTHS]
    assert flops == sorted(flops, reverse=True)
    assert slim_network(resnet, SlimSpec(0.5))(images).shape == (2, 256)
    with pytest.raises(ConfigError, match="channel width alone"):
        slim_network(resnet, SlimSpec(0.5, mode="heads"))
    with pytest.raises(ConfigError, match="grouped convolution"):
        slim_network(ResNet(block=Bottleneck, layers=[1, 1, 1, 1], cardinality=4, base_width=4), SlimSpec(0.5))
    with pytest.raises(ConfigError, match="cannot slim a Sequential"):
        slim_network(torch.nn.Sequential(torch.nn.Linear(2, 2)), SlimSpec(0.5))


@pytest.mark.parametrize("value", [0, -0.5, 1.5, math.nan])
def test_widths_outside_zero_one_are_refused(value: float) -> None:
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        SlimSpec(value)
    with pytest.raises(ConfigError):
        parse_widths(f"1,{value}")
    with pytest.raises(ConfigError, match="not a number"):
        parse_widths("1,half")
    assert parse_widths("0.5, 1,0.5") == [1.0, 0.5]


def test_slimmed_model_folders_save_and_load_through_the_ordinary_loaders(tmp_path: Path) -> None:
    metadata = ModelMetadata.create("vit_base_patch15", 10, image_size=120, backbone_args={
        "embed_dim": 32, "depth": 1, "num_heads": 2})  # fmt: skip
    classifier = SceneClassifier(metadata).eval()
    save_model(classifier, tmp_path / "vit")
    images = torch.randn(2, 10, 120, 120)
    spec = SlimSpec(0.5, embed_width=0.5)
    save_slimmed_model(tmp_path / "vit", spec, tmp_path / "vit-slim")
    loaded = load_encoder(tmp_path / "vit-slim")
    expected = slim_encoder(BackboneEncoder(classifier), spec)
    torch.testing.assert_close(loaded(images), expected(images))
    assert loaded.feature_dim == 16
    with pytest.raises(ConfigError, match="already slimmed"):
        save_slimmed_model(tmp_path / "vit-slim", spec, tmp_path / "again")
    model = cross_sensor()
    save_foundation_model(model, tmp_path / "csmae")
    save_slimmed_model(tmp_path / "csmae", spec, tmp_path / "csmae-slim")
    pair = torch.randn(2, 12, 120, 120)
    torch.testing.assert_close(load_encoder(tmp_path / "csmae-slim")(pair),
                               slim_encoder(FoundationEncoder(model), spec)(pair))  # fmt: skip


@pytest.mark.parametrize("attention_scale", ["original", "slimmed"])
def test_cut_heads_use_the_chosen_softmax_scale(attention_scale: str) -> None:
    # reference: the full ViT with the cut query/key/value dimensions and MLP units zeroed, run on timm's explicit
    # attention path with the expected scale; head_dim 16 -> 8 at width 0.5
    vit = tiny_vit()
    images = torch.randn(2, 3, 32, 32)
    reference = copy.deepcopy(vit)
    for block in reference.blocks:
        rows = torch.arange(3 * 64).reshape(3, 4, 16)[:, :, 8:].flatten()  # (part, head, dim): dims 8..15
        with torch.no_grad():
            block.attn.qkv.weight[rows] = 0
            block.attn.qkv.bias[rows] = 0
            block.mlp.fc1.weight[64:] = 0  # hidden 128 -> 64
            block.mlp.fc1.bias[64:] = 0
        block.attn.fused_attn = False
        block.attn.scale = 16**-0.5 if attention_scale == "original" else 8**-0.5
    slimmed = slim_network(vit, SlimSpec(0.5, attention_scale=attention_scale))
    torch.testing.assert_close(slimmed(images), reference(images), atol=1e-5, rtol=1e-5)
    other = slim_network(vit, SlimSpec(0.5, attention_scale="slimmed" if attention_scale == "original" else "original"))
    assert not torch.allclose(other(images), reference(images), atol=1e-5, rtol=1e-5)  # the scales differ


def test_attention_scale_records_and_legacy_records(tmp_path: Path) -> None:
    assert SlimSpec(0.5).attention_scale == "original"
    assert SlimSpec.from_dict({"width": 0.5, "embed_width": 1.0, "mode": "dims"}).attention_scale == "slimmed"
    with pytest.raises(ConfigError, match=r"attention_scale 'half' is unknown; use one of \['original', 'slimmed'\]"):
        SlimSpec(0.5, attention_scale="half")
    with pytest.raises(ConfigError, match=r"slimmable\.attention_scale 'x' is unknown"):
        SlimmableConfig(attention_scale="x")
    model = cross_sensor()
    save_foundation_model(model, tmp_path / "csmae")
    save_slimmed_model(tmp_path / "csmae", SlimSpec(0.5), tmp_path / "csmae-slim")
    config = json.loads((tmp_path / "csmae-slim" / "config.json").read_text())
    assert config["slim"]["attention_scale"] == "original"
    del config["slim"]["attention_scale"]  # a folder slimmed before the option existed
    (tmp_path / "csmae-slim" / "config.json").write_text(json.dumps(config))
    pair = torch.randn(2, 12, 120, 120)
    legacy = slim_encoder(FoundationEncoder(model), SlimSpec(0.5, attention_scale="slimmed"))
    torch.testing.assert_close(load_encoder(tmp_path / "csmae-slim")(pair), legacy(pair))
