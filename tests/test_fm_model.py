"""The cross-sensor ViT in its four variants, with and without Soft MoE; missing sensors; model folders."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.encoders import load_encoder
from bigearth.folders.foundation import load_checkpoint_weights, load_foundation_model, save_foundation_model
from bigearth.models.encoders import FoundationEncoder
from bigearth.models.fm import CrossSensorConfig, CrossSensorMAE, MoEConfig, csmae_objective, preset
from bigearth.models.fm.soft_moe import SoftMoE
from bigearth.models.metadata import ModelMetadata

MOE = MoEConfig(num_experts=4, sensor_experts=1, slots_per_expert=2)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(variant: str = "sesd", moe: MoEConfig | None = None) -> CrossSensorConfig:
    return CrossSensorConfig(
        variant=variant,
        size="test",
        embed_dim=32,
        depth=4,
        num_heads=2,
        shared_depth=2,
        mlp_ratio=2.0,
        decoder_dim=16,
        decoder_depth=1,
        decoder_heads=2,
        moe=moe or MoEConfig(),
    )


def pair(batch: int = 3) -> dict[str, torch.Tensor]:
    return {"s1": torch.randn(batch, 2, 120, 120), "s2": torch.randn(batch, 10, 120, 120)}


@pytest.mark.parametrize("variant", ["cecd", "cesd", "secd", "sesd"])
@pytest.mark.parametrize("moe", [None, MOE], ids=["csmae", "csmoe"])
def test_variants_forward_and_backward(variant: str, moe: MoEConfig | None) -> None:
    torch.manual_seed(0)
    model = CrossSensorMAE(config=tiny(variant, moe))
    output = model(pair())
    assert set(output.predictions) == {("s1", "s1"), ("s1", "s2"), ("s2", "s1"), ("s2", "s2")}
    assert output.predictions[("s1", "s2")].shape == (3, 64, 15 * 15 * 10)
    assert output.masks["s1"].mask.sum().item() == 3 * 32
    assert output.pooled["s2"].shape == (3, 32)
    terms = csmae_objective(output)
    torch.testing.assert_close(terms.total, terms.same_sensor + terms.cross_sensor + terms.contrastive)
    terms.total.backward()
    encoder = model.encoder
    specific = len(encoder.specific_blocks["s1"])
    assert specific == (2 if variant.startswith("se") else 0)
    assert len(encoder.shared_blocks) == 4 - specific
    assert len(model.decoder.decoders) == (1 if variant.endswith("cd") else 2)
    moe_blocks = [block for block in [*encoder.specific_blocks["s1"], *encoder.shared_blocks] if block.is_moe]
    assert len(moe_blocks) == (2 if moe else 0)  # the last half of 4 blocks
    for block in encoder.shared_blocks:
        if block.is_moe:
            assert isinstance(block.mlp, SoftMoE)
            assert block.mlp.groups == {"s1": (0,), "s2": (1,)}
    assert all(p.grad is not None for name, p in model.named_parameters() if "cls_token" in name)


def test_lean_wiring_gives_sensor_specific_blocks_only_their_own_expert_group() -> None:
    full_moe = MoEConfig(num_experts=4, sensor_experts=1, slots_per_expert=2, layers="all")
    lean_moe = replace(full_moe, wiring="lean")
    torch.manual_seed(0)
    full, lean = (CrossSensorMAE(config=tiny("sesd", moe)) for moe in (full_moe, lean_moe))
    for sensor in ("s1", "s2"):
        for block in lean.encoder.specific_blocks[sensor]:
            assert (block.mlp.num_experts, block.mlp.groups) == (1, {})
    for block in lean.encoder.shared_blocks:  # shared blocks keep the S1, S2 and shared groups
        assert (block.mlp.num_experts, block.mlp.groups) == (4, {"s1": (0,), "s2": (1,)})
    # one expert of width 32, hidden 2 x 32 = 64: fc1 64 x 32 + 64, fc2 32 x 64 + 32, its 2 slots' phi 2 x 32
    per_expert = 64 * 32 + 64 + 32 * 64 + 32 + 2 * 32
    # 2 sensors x 2 specific blocks lose 4 - 1 = 3 experts each
    parameters = [sum(p.numel() for p in model.encoder.parameters()) for model in (full, lean)]
    assert parameters[0] - parameters[1] == 2 * 2 * 3 * per_expert
    assert lean(pair()).pooled["s1"].shape == (3, 32)
    common = [sum(p.numel() for p in CrossSensorMAE(config=tiny("cecd", moe)).parameters())
              for moe in (full_moe, lean_moe)]  # fmt: skip
    assert common[0] == common[1]  # a common encoder has no sensor-specific blocks
    payload = lean.config.to_dict()
    assert payload["moe"]["wiring"] == "lean"
    del payload["moe"]["wiring"]  # a model folder written before the option: full wiring
    assert CrossSensorConfig.from_dict(payload).moe.wiring == "full"


def test_a_pair_missing_one_sensor_is_embedded_by_the_other() -> None:
    model = CrossSensorMAE(config=tiny(moe=MOE), metadata=ModelMetadata.create("csmoe", 12)).eval()
    features = FoundationEncoder(model)
    images = torch.randn(2, 12, 120, 120)
    both = features.embed_views(images)
    only_s2 = features.embed_sensors({"s2": images[:, 2:]})  # the pair lacks its S1 image
    assert set(both) == {"s1", "s2"}
    assert set(only_s2) == {"s2"}
    torch.testing.assert_close(only_s2["s2"], both["s2"])
    assert features(images).shape == (2, 32)
    output = model({"s2": torch.randn(2, 10, 120, 120)})  # pretraining step on S2 alone: same-sensor term only
    terms = csmae_objective(output)
    assert set(output.predictions) == {("s2", "s2")}
    assert terms.cross_sensor.item() == terms.contrastive.item() == 0.0
    assert features.dense(images).shape == (2, 32, 8, 8)


def test_bad_inputs__errors() -> None:
    model = CrossSensorMAE(config=tiny())
    with pytest.raises(ConfigError, match=r"reads \(B, 2, 120, 120\)"):
        model.encoder({"s1": torch.randn(2, 3, 120, 120)})
    with pytest.raises(ConfigError, match="not 's3'"):
        model.encoder({"s3": torch.randn(2, 2, 120, 120)})
    with pytest.raises(ConfigError, match="no image"):
        model.encoder({})
    with pytest.raises(ConfigError, match="lacks"):
        model.encoder.split(torch.randn(1, 11, 120, 120), ["VV", *tiny().sensor_bands["s2"]])
    with pytest.raises(ConfigError, match="variant 'xx'"):
        tiny("xx")
    with pytest.raises(ConfigError, match=r"moe\.num_experts 2 < 2 x"):
        tiny(moe=MoEConfig(num_experts=2, sensor_experts=2))
    with pytest.raises(ConfigError, match="outside"):
        tiny(moe=MoEConfig(num_experts=2, layers=[7]))
    with pytest.raises(ConfigError, match=r"moe\.wiring 'thin' is unknown; use one of \['full', 'lean'\]"):
        tiny(moe=replace(MOE, wiring="thin"))
    with pytest.raises(ConfigError, match=r"set moe\.sensor_experts >= 1"):
        tiny(moe=MoEConfig(num_experts=4, wiring="lean"))
    with pytest.raises(ConfigError, match="unknown size"):
        preset("huge")


def test_presets_follow_the_vit_ladder() -> None:
    base = preset("base", moe=MOE)
    assert (base.embed_dim, base.depth, base.num_heads, base.specific_depth, base.num_patches) == (768, 12, 12, 10, 64)
    assert (base.decoder_dim, base.decoder_depth, base.decoder_heads, base.mask_ratio) == (512, 8, 16, 0.5)
    assert base.moe.layer_indices(12) == (6, 7, 8, 9, 10, 11)
    assert preset("base", variant="cecd").specific_depth == 0


def test_model_folder_round_trip_and_its_errors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = CrossSensorMAE(
        config=tiny("cesd", MOE), metadata=ModelMetadata.create("csmoe", 12, class_order="alphabetical")
    ).eval()
    save_foundation_model(model, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (config["task"], config["model_type"], config["variant"]) == ("cross-sensor-mae", "csmoe", "cesd")
    assert config["network"]["moe"]["num_experts"] == 4
    assert config["sensors"] == ["s1", "s2"]
    assert config["bands"][:2] == ["VV", "VH"]
    assert config["class_order"] == "alphabetical"
    assert len(config["class_names"]) == 19
    loaded = load_foundation_model(tmp_path / "model", variant="cesd")
    images = pair(2)
    assert torch.equal(loaded.encoder(images)["s1"], model.encoder(images)["s1"])
    assert isinstance(load_encoder(tmp_path / "model"), FoundationEncoder)
    with pytest.raises(ConfigError, match="csmoe-cesd model but a variant of 'sesd'"):
        load_foundation_model(tmp_path / "model", variant="sesd")
    with pytest.raises(ConfigError, match=r"another architecture .*variant: 'cesd' \(checkpoint\) vs 'sesd'"):
        load_checkpoint_weights(CrossSensorMAE(config=tiny("sesd", MOE)), tmp_path / "model")
    with pytest.raises(MissingDataError):
        load_foundation_model(tmp_path / "nothing")
    (tmp_path / "model" / "config.json").write_text(json.dumps({**config, "network": tiny("cesd").to_dict()}))
    with pytest.raises(CorruptDataError, match="does not fit"):
        load_foundation_model(tmp_path / "model")
