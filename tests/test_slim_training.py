"""Slimmable training: the sandwich sampler, the width switch (gradients reach the full weights, outputs equal
post-hoc slimming), the sandwich step's state handling, tiny slimmable MoCo and CSMAE runs on the mini-reBEN, and the
dead-leaves contrast encoder."""

import random
from pathlib import Path

import pytest
import timm
import torch

from bigearth.bands import resolve_bands
from bigearth.errors import ConfigError
from bigearth.folders.encoders import load_encoder
from bigearth.slim.network import slim_network
from bigearth.slim.sandwich import Sandwich, SlimmableConfig, sandwich_widths
from bigearth.slim.spec import SlimSpec
from bigearth.slim.switch import WidthSwitch
from bigearth.tasks.mae.config import load_pretrain_config
from bigearth.tasks.mae.pretrain import pretrain as pretrain_csmae
from bigearth.tasks.slim.contrast import DeadLeaves, dead_leaves, train_contrast_encoder
from bigearth.tasks.ssl.config import load_ssl_config
from bigearth.tasks.ssl.pretrain import pretrain as pretrain_ssl

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
QUICK = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.log_every_n_steps=1",
         "data.batch_size=8", "evaluation.linear_probe=false"]  # fmt: skip


def test_the_sandwich_rule_takes_the_largest_the_smallest_and_random_widths() -> None:
    rng = random.Random(0)
    draws = [sandwich_widths([1.0, 0.75, 0.5, 0.25], 4, rng) for _ in range(50)]
    assert all(d[:2] == [1.0, 0.25] and len(d) == 4 and set(d[2:]) <= {0.75, 0.5} for d in draws)
    assert {w for d in draws for w in d[2:]} == {0.75, 0.5}
    uniform = [sandwich_widths([1.0, 0.25], 3, rng)[2] for _ in range(50)]
    assert all(0.25 <= w <= 1.0 for w in uniform)
    assert len(set(uniform)) > 3
    assert sandwich_widths([1.0], 3, rng) == [1.0]
    assert sandwich_widths([1.0, 0.5], 1, rng) == [1.0]
    with pytest.raises(ConfigError, match="largest"):
        SlimmableConfig(widths=[0.5, 0.25])
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        SlimmableConfig(widths=[1.0, 0.0])


def test_the_switch_equals_post_hoc_slimming_and_trains_the_full_weights() -> None:
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=32,
                            depth=1, num_heads=2, num_classes=0).eval()  # fmt: skip
    resnet = timm.create_model("resnet10t", pretrained=False, num_classes=0, in_chans=3).eval()
    images = torch.randn(2, 3, 32, 32)
    for network in (vit, resnet):
        switch = WidthSwitch(network, pad_to=network.num_features).eval()
        with switch.at(SlimSpec(0.5)):
            switched = switch(images)
        slimmed = slim_network(network, SlimSpec(0.5))(images)
        torch.testing.assert_close(switched[:, : slimmed.shape[1]], slimmed)
        assert switched.shape == (2, network.num_features)  # zero-padded to the full width
        switched.sum().backward()
        first = next(network.parameters())
        assert first.grad is not None
        assert bool(first.grad.abs().sum() > 0)


def test_a_sandwich_step_keeps_the_state_the_full_width_leaves() -> None:
    queue = torch.nn.Module()
    queue.register_buffer("keys", torch.zeros(3))
    network = torch.nn.Sequential(torch.nn.Linear(4, 4))
    switch = WidthSwitch(timm.create_model("resnet10t", pretrained=False, num_classes=0))
    calls = []

    def run() -> torch.Tensor:
        calls.append(switch.spec.width)
        queue.keys += 1  # every forward pass changes the state, as a MoCo queue does
        return network(torch.ones(2, 4))

    sandwich = Sandwich(SlimmableConfig(enabled=True, widths=[1.0, 0.5, 0.25], sandwich=3), switch)
    output, extra = sandwich(run, step=0, loss=lambda out: out.sum(), target=lambda out: out, state=[queue])
    assert calls[:2] == [1.0, 0.25]
    assert len(calls) == 3
    assert torch.equal(queue.keys, torch.ones(3))  # the full width's update alone
    assert torch.equal(extra, 2 * output.sum())
    distilled = Sandwich(SlimmableConfig(enabled=True, widths=[1.0, 0.5], sandwich=2, distill=True), switch)
    _, extra = distilled(run, step=0, loss=lambda out: out.sum(), target=lambda out: out, state=[queue])
    assert float(extra.detach()) == pytest.approx(0.0, abs=1e-6)  # the same output: nothing to distil


def test_slimmable_moco_and_csmae_pretrain_on_the_mini_reben(mini_store: Path, tmp_path: Path) -> None:
    ssl = load_ssl_config(CONFIGS / "ssl" / "tiny-cpu-slimmable.yaml", [*QUICK, f"data.path={mini_store}",
                          "evaluation.knn=false", "augment=[{name: resized_crop, size: 32}]"])  # fmt: skip
    run = pretrain_ssl(ssl, out=tmp_path / "moco")
    metrics = (run.path / "metrics.json").read_text()
    assert '"slim"' in metrics
    assert load_encoder(run.path).feature_dim == 256
    mae = load_pretrain_config(CONFIGS / "fm" / "tiny-cpu-slimmable.yaml", [*QUICK, f"data.path={mini_store}",
                               "slimmable.distill=true"])  # fmt: skip
    run = pretrain_csmae(mae, out=tmp_path / "csmae")
    assert "train/slim" in (run.path / "logs" / "metrics.csv").read_text()
    with pytest.raises(ConfigError, match="largest"):
        load_ssl_config(CONFIGS / "ssl" / "tiny-cpu-slimmable.yaml", ["slimmable.widths=[0.5]"])


def test_the_contrast_encoder_pretrains_on_dead_leaves_and_reads_reben_bands(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    image = dead_leaves(bands=10, size=48, generator=generator)
    assert image.shape == (10, 48, 48)
    assert float(image.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(image.std()) == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(DeadLeaves(4, bands=10, size=48)[3]["image"], DeadLeaves(4, bands=10, size=48)[3]["image"])
    folder = train_contrast_encoder(CONFIGS / "ssl" / "tiny-cpu.yaml", tmp_path / "contrast", images=16,
                                    overrides=["trainer.max_epochs=1", "data.batch_size=8"])  # fmt: skip
    encoder = load_encoder(folder)
    assert encoder.metadata.trained_on["data"].startswith("dead-leaves")
    assert encoder.bands == resolve_bands(10)
