"""SSL methods, the pretraining task and its bad-input behaviour, the recipes end to end on the mini-reBEN, the kNN
probe against a brute-force reference, and the commands."""

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

from bigearth.cli.app import app
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.encoders import load_encoder
from bigearth.models.metadata import ModelMetadata
from bigearth.ssl.methods import METHODS, build_method
from bigearth.tasks.ssl.config import SSLModelConfig, load_ssl_config
from bigearth.tasks.ssl.data import build_pretraining_datamodule
from bigearth.tasks.ssl.evaluate import evaluate_encoder
from bigearth.tasks.ssl.knn import knn_scores
from bigearth.tasks.ssl.module import SSLPretrainingTask, ema_momentum
from bigearth.tasks.ssl.pretrain import pretrain

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "ssl"
SHIPPED = sorted(path for path in CONFIGS.glob("*.yaml") if not path.stem.startswith("tiny-cpu"))
TINY_ARGS = {
    "simclr": {"hidden_dim": 32, "output_dim": 16},
    "mocov2": {"hidden_dim": 32, "output_dim": 16, "memory_bank_size": 32},
    "byol": {"hidden_dim": 32, "output_dim": 16},
    "simsiam": {"hidden_dim": 32, "output_dim": 16, "prediction_dim": 8},
    "dino": {"hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64},
}


def tiny(method: str) -> list[str]:
    """Overrides that make any shipped recipe a one-step CPU run with a tiny encoder and 32 px views."""
    return [
        "trainer.accelerator=cpu", "trainer.devices=1", "trainer.precision=32-true", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1", "model.backbone=resnet10t_slim", "data.batch_size=8", "data.num_workers=0",
        "augment=[{name: resized_crop, size: 32}, {name: flip}, {name: rot90}]", "scheduler.warmup_steps=1",
        "evaluation.knn=false", "evaluation.linear_probe=false", f"model.method_args={json.dumps(TINY_ARGS[method])}",
        "multicrop.local_size=16",
    ]  # fmt: skip


def small_backbone() -> nn.Module:
    return nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_trains_its_online_network_and_follows_with_its_momentum_copy(name) -> None:
    torch.manual_seed(0)
    method = build_method(name, backbone=small_backbone(), feature_dim=8, arguments=TINY_ARGS[name])
    images = torch.randn(6, 4, 16, 16)
    output = method(images, images + 0.1 * torch.randn_like(images))
    assert output.loss.ndim == 0
    assert bool(torch.isfinite(output.loss))
    assert output.features.shape == (6, 8)
    assert output.projections.shape[0] == 6
    output.loss.backward()
    assert method.backbone[0].weight.grad is not None
    assert bool(method.backbone[0].weight.grad.abs().sum() > 0)
    assert method.uses_momentum == (name in ("mocov2", "byol", "dino"))
    if method.uses_momentum:
        assert all(not p.requires_grad for p in method.momentum_backbone.parameters())
        before = method.momentum_backbone[0].weight.clone()
        with torch.no_grad():
            method.backbone[0].weight.add_(1.0)
        method.update_momentum(0.5)
        torch.testing.assert_close(method.momentum_backbone[0].weight, before + 0.5)


def test_georank_ranks_the_outputs_the_reference_code_ranks() -> None:
    # tomburgert/georank ssl_base.py: MoCo, SimCLR, SimSiam view 0's projection; BYOL the predictor's output;
    # DINO the teacher's and the student's outputs of view 0 (0.5 each)
    torch.manual_seed(0)
    view0, view1 = torch.randn(6, 4, 16, 16), torch.randn(6, 4, 16, 16)
    for name in sorted(METHODS):
        method = build_method(name, backbone=small_backbone(), feature_dim=8, arguments=TINY_ARGS[name])
        output = method(view0, view1)
        projection = method.projector(method.backbone(view0))
        expected = (projection,)
        if name == "byol":
            expected = (method.predictor(projection),)
        if name == "dino":
            expected = (method.encode_momentum(view0), projection)
        assert len(output.ranked) == len(expected), name
        for ranked, reference in zip(output.ranked, expected, strict=True):
            torch.testing.assert_close(ranked, reference, msg=name)
        assert output.projections.shape == (6, method.projection_dim)


def test_dino_takes_local_views_of_another_size() -> None:
    torch.manual_seed(0)
    method = build_method("dino", backbone=small_backbone(), feature_dim=8, arguments=TINY_ARGS["dino"])
    views = [torch.randn(6, 4, 16, 16), torch.randn(6, 4, 16, 16)]
    local = [torch.randn(6, 4, 8, 8) for _ in range(4)]
    two, six = method(*views).loss, method(*views, *local).loss
    assert bool(torch.isfinite(six))
    assert six.item() != pytest.approx(two.item())


def test_the_per_epoch_momentum_schedule_is_the_reference_codes() -> None:
    # ssl_base.py: cosine_schedule(current_epoch, 10, 0.996, 1) = 1 - 0.004 (cos(pi e / 9) + 1) / 2 up to epoch 9
    config = SSLModelConfig(momentum=[0.996, 1.0], momentum_epochs=10)
    for epoch in (0, 3, 9, 30):
        expected = 1 - 0.004 * (math.cos(math.pi * min(epoch, 9) / 9) + 1) / 2
        assert ema_momentum(config, epoch=epoch, step=999, total_steps=10) == pytest.approx(expected, abs=1e-12)
    per_step = SSLModelConfig(momentum=[0.99, 1.0])  # over the run's 101 steps: halfway at step 50
    assert ema_momentum(per_step, epoch=0, step=50, total_steps=101) == pytest.approx(0.995)


def test_methods_refuse_unknown_names_and_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown SSL method 'swav'"):
        build_method("swav", backbone=small_backbone(), feature_dim=8)
    with pytest.raises(ConfigError, match="takes no argument"):
        build_method("simclr", backbone=small_backbone(), feature_dim=8, arguments={"memory_bank_size": 4})


def test_knn_scores_match_a_brute_force_vote() -> None:
    generator = torch.Generator().manual_seed(0)
    bank, labels = torch.randn(30, 5, generator=generator), (torch.rand(30, 4, generator=generator) > 0.6).float()
    queries = torch.randn(7, 5, generator=generator)
    scores = knn_scores(bank, labels, queries, k=10, temperature=0.1, chunk=3)
    for query, row in zip(queries, scores, strict=True):
        similarity = torch.nn.functional.cosine_similarity(query[None], bank)
        top = similarity.argsort(descending=True)[:10]
        weights = torch.exp(similarity[top] / 0.1)
        torch.testing.assert_close(row, (weights[:, None] * labels[top]).sum(0) / weights.sum(), atol=1e-5, rtol=0)
    everyone = knn_scores(bank, labels, queries, k=1000)  # k above the bank: every training patch votes
    assert everyone.shape == (7, 4)
    assert bool(((everyone >= 0) & (everyone <= 1)).all())
    with pytest.raises(ValueError, match="one label row each"):
        knn_scores(bank[:0], labels[:0], queries)
    with pytest.raises(ValueError, match="k must be"):
        knn_scores(bank, labels, queries, k=0)


#: What tomburgert/georank's ssl_base.py, config.py and conf/ssl_config.yaml set, read by hand:
#: (method_args, lr, optimiser name, weight decay, optimiser momentum, EMA momentum, momentum epochs)
REFERENCE = {
    "mocov2": ({"hidden_dim": 2048, "output_dim": 128, "temperature": 0.04, "memory_bank_size": 4092}, 0.4, "lars",
               1e-6, 0.9, [0.996, 1.0], 50),
    "simclr": ({"hidden_dim": 2048, "output_dim": 2048, "temperature": 0.5}, 0.06, "momentum", 0.0, 0.0, None, 0),
    "byol": ({"hidden_dim": 1024, "output_dim": 256}, 0.06, "momentum", 0.0, 0.0, [0.996, 1.0], 10),
    "simsiam": ({"hidden_dim": 512, "output_dim": 128, "prediction_dim": 64}, 0.06, "momentum", 0.0, 0.0, None, 0),
    "dino": ({"hidden_dim": 512, "bottleneck_dim": 64, "output_dim": 2048, "teacher_temperature": 0.04,
              "student_temperature": 0.1, "center_momentum": 0.9, "freeze_last_layer": 1, "batch_norm": False},
             1e-3, "adam", 0.0, None, [0.996, 1.0], 10),
}  # fmt: skip


def test_every_shipped_recipe_takes_the_reference_code_values() -> None:
    assert len(SHIPPED) == 10
    for path in SHIPPED:
        config = load_ssl_config(path)
        arguments, lr, optimizer, decay, momentum, ema, ema_epochs = REFERENCE[config.model.method]
        assert config.model.method_args == arguments, path.stem
        assert (config.model.lr, config.optimizer.name, config.optimizer.weight_decay) == (lr, optimizer, decay)
        assert momentum is None or config.optimizer.momentum == momentum
        assert config.optimizer.exclude_bias_and_norm == (optimizer != "lars")  # LARS decays every parameter
        assert ema is None or (config.model.momentum, config.model.momentum_epochs) == (ema, ema_epochs)
        assert (config.scheduler.warmup_steps, config.scheduler.final_lr_fraction) == (0, 1.0)  # no schedule
        assert (config.model.backbone, config.data.batch_size, config.data.bands) == ("resnet18", 512, 10)
        assert config.trainer["max_epochs"] == 50
        crop = {"dino": [0.8, 1.0]}.get(config.model.method, [0.2, 1.0])
        assert config.augment == [{"name": "resized_crop", "size": 120, "scale": crop}, {"name": "flip", "p": 0.75},
                                  {"name": "rot90", "p": 0.75}]  # fmt: skip
        local = (4, 60, [0.08, 0.25]) if config.model.method == "dino" else (0, 60, [0.08, 0.25])
        assert (config.multicrop.local_views, config.multicrop.local_size, config.multicrop.local_scale) == local
        assert (config.georank.alpha, config.georank.tau, config.georank.strength) == (0.5, 0.04, 1e-3)
        assert (config.georank.max_distance_km, config.georank.margin, config.georank.ties) == (3000.0, 1.0, "ordinal")
        assert config.georank.enabled == path.stem.endswith("-georank")
        assert (config.location_clusters.clusters, config.location_clusters.alpha) == (10, 0.5)


def test_location_cluster_weight_of_older_run_folders_reads_as_alpha() -> None:
    # before the alpha mixing the term was L_ssl + weight x CE; weight 1 is 2 x (0.5 L_ssl + 0.5 CE), weight 3 is
    # 4 x (0.25 L_ssl + 0.75 CE)
    from bigearth.tasks.ssl.config import parse_ssl_config

    for weight, alpha in ((1.0, 0.5), (3.0, 0.75), (0.0, 0.0)):
        raw = {"task": "ssl", "location_clusters": {"enabled": True, "weight": weight}}
        with pytest.warns(DeprecationWarning, match="location_clusters.weight"):
            assert parse_ssl_config(raw).location_clusters.alpha == alpha
    with pytest.raises(ConfigError, match="both `weight`"):
        parse_ssl_config({"task": "ssl", "location_clusters": {"weight": 1.0, "alpha": 0.5}})
    with pytest.raises(ConfigError, match="must be a number"):
        parse_ssl_config({"task": "ssl", "location_clusters": {"weight": "high"}})


def test_the_lars_recipe_optimiser_steps_as_lightlys_lars() -> None:
    # the reference code: lightly.utils.lars.LARS(self.parameters(), lr=0.4, momentum=0.9, weight_decay=1e-6)
    from lightly.utils.lars import LARS

    from bigearth.tasks.schedule import optimizer_with_schedule

    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    theirs = copy.deepcopy(ours)
    built = optimizer_with_schedule(ours, name="lars", lr=0.4, weight_decay=1e-6, momentum=0.9,
                                    filter_bias_and_bn=False, warmup_steps=0, total_steps=5,
                                    final_fraction=1.0)  # fmt: skip
    reference = LARS(theirs.parameters(), lr=0.4, momentum=0.9, weight_decay=1e-6)
    for _ in range(5):
        x = torch.randn(8, 5)
        for network, optimizer in ((ours, built["optimizer"]), (theirs, reference)):
            optimizer.zero_grad()
            network(x).square().mean().backward()
            optimizer.step()
        built["lr_scheduler"]["scheduler"].step()
    for mine, other in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(mine, other)
    assert built["optimizer"].param_groups[0]["lr"] == 0.4  # constant: no schedule


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.method=swav", "model.method 'swav'"),
        ("model.method_args={queue: 3}", "not arguments of 'mocov2'"),
        ("georank.alpha=2", "georank.alpha"),
        ("georank.tau=0", "georank: GeoRank's tau"),
        ("data.augment=true", "data.augment must be false"),
        ("augment=[sharpen]", "unknown augmentation"),
        ("model.momentum=[0.9]", "model.momentum"),
        ("georank.radius=3", "unknown key"),
        ("georank.ties=dense", "georank: GeoRank's ties"),
        ("location_clusters.enabled=true", "enable one of them"),
        ("data.batch_size=1", "data.batch_size must be at least 2"),
        ("location_clusters.alpha=1.5", "location_clusters.alpha"),
        ("multicrop.local_views=4", "DINO's multi-crop"),
        ("model.momentum_epochs=-1", "model.momentum_epochs"),
        ("temporal.single_date=drop", "temporal.single_date 'drop' is unknown"),
        ("data.train_size=1.5", r"data.train_size must be a fraction in \(0, 1\]"),
        ("data.train_size=0", "or a number of patches >= 1"),
    ],
)
def test_recipes_refuse_bad_values(override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_ssl_config(CONFIGS / "mocov2-georank.yaml", [override])


def task_and_batch_of(mini_store: Path, overrides: list[str]) -> tuple[SSLPretrainingTask, dict]:
    """A MoCo-v2 task of the GeoRank recipe with overrides and a finished training batch of the mini-reBEN."""
    from bigearth.data.dataset import finish_batch
    from bigearth.tasks.ssl.pretrain import build_task

    config = load_ssl_config(CONFIGS / "mocov2-georank.yaml", [*tiny("mocov2"), f"data.path={mini_store}",
                                                             *overrides])  # fmt: skip
    datamodule = build_pretraining_datamodule(config.data)
    task = build_task(config, datamodule)
    batch = datamodule.dataset("train").__getitems__(list(range(8)))
    return task, finish_batch(batch, datamodule.transform)


@pytest.fixture(scope="module")
def task_and_batch(mini_store: Path) -> tuple[SSLPretrainingTask, dict]:
    """A MoCo-v2 + GeoRank task and a finished training batch of the mini-reBEN."""
    return task_and_batch_of(mini_store, [])


def test_the_objective_mixes_the_terms_as_published(task_and_batch, mini_store: Path) -> None:
    task, batch = task_and_batch
    torch.manual_seed(0)
    terms = task.objective(batch)
    assert set(terms) == {"loss", "ssl", "georank"}
    torch.testing.assert_close(terms["loss"], 0.5 * terms["ssl"] + 0.5 * terms["georank"])
    # GASSL as the reference code: Linear(128 = MoCo's projection width, k) on the projection, alpha-mixed
    gassl, batch = task_and_batch_of(mini_store, ["georank.enabled=false", "location_clusters.enabled=true",
                                                  "location_clusters.clusters=3"])  # fmt: skip
    assert gassl.location_head.classifier.in_features == TINY_ARGS["mocov2"]["output_dim"]
    terms = gassl.objective(batch)
    assert set(terms) == {"loss", "ssl", "location"}
    torch.testing.assert_close(terms["loss"], 0.5 * terms["ssl"] + 0.5 * terms["location"])


def test_nan_pixels_and_missing_coordinates_stop_training_with_clear_errors(task_and_batch) -> None:
    task, batch = task_and_batch
    image = batch["image"].clone()
    image[3, 0, 5, 5] = math.nan
    with pytest.raises(CorruptDataError, match=batch["patch_id"][3]):
        task.objective({**batch, "image": image})
    lat = batch["lat"].clone()
    lat[2] = math.nan
    with pytest.raises(CorruptDataError, match=rf"no coordinates.*{batch['patch_id'][2]}"):
        task.objective({**batch, "lat": lat})
    with pytest.raises(MissingDataError, match="lat/lon"):
        task.objective({key: value for key, value in batch.items() if key != "lat"})
    with pytest.raises(ValueError, match=r"more than 1 value|batch_size >= 2"):  # a batch of one
        task.objective({key: value[:1] for key, value in batch.items()})
    at_one_place = {**batch, "lat": torch.full_like(batch["lat"], 50.0), "lon": torch.full_like(batch["lon"], 10.0)}
    terms = task.objective(at_one_place)
    assert terms["georank"].item() == 0
    assert bool(torch.isfinite(terms["loss"]))


def test_nan_pixels_of_the_other_acquisition_stop_training_with_a_clear_error(mini_store: Path) -> None:
    task, batch = task_and_batch_of(mini_store, ["temporal.enabled=true"])
    other = batch["image"].flip(0).clone()  # stands for the other acquisitions: finite, of the same shape
    names = list(reversed(batch["patch_id"]))
    other[4, 1, 7, 7] = math.inf
    with pytest.raises(CorruptDataError, match=rf"1 other acquisition\(s\) \(image_other\).*{names[4]}"):
        task.objective({**batch, "image_other": other, "patch_id_other": names})


def test_a_diverged_loss_is_refused(task_and_batch, monkeypatch) -> None:
    task, batch = task_and_batch
    monkeypatch.setattr(task, "_terms", lambda _: {"loss": torch.tensor(math.nan), "ssl": torch.tensor(math.nan)})
    with pytest.raises(ConfigError, match="training diverged"):
        task.objective(batch)


def test_a_training_split_smaller_than_one_batch_is_refused(mini_store: Path) -> None:
    config = load_ssl_config(
        CONFIGS / "simclr.yaml", [*tiny("simclr"), f"data.path={mini_store}", "data.batch_size=4096"]
    )
    with pytest.raises(ConfigError, match="fewer than one batch"):
        build_pretraining_datamodule(config.data).train_dataloader()


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_every_shipped_recipe_runs_end_to_end_as_a_tiny_twin(path, mini_store: Path, tmp_path: Path) -> None:
    config = load_ssl_config(path, [*tiny(yaml.safe_load(path.read_text())["model"]["method"]),
                                    f"data.path={mini_store}"])  # fmt: skip
    run = pretrain(config, out=tmp_path / path.stem)
    metrics = json.loads(run.metrics_file.read_text())
    assert metrics["method"] == config.model.method
    assert metrics["regulariser"] == config.regulariser
    assert math.isfinite(metrics["final"]["loss"])
    assert ("georank" in metrics["final"]) == config.georank.enabled
    model = json.loads((run.model_dir / "config.json").read_text())
    assert model["ssl"]["method"] == config.model.method
    assert model["head"].startswith("untrained")
    assert run.last_checkpoint.is_file()


def test_s1_s2_data_and_a_vit_encoder_pretrain(mini_store: Path, tmp_path: Path) -> None:
    s1s2 = load_ssl_config(CONFIGS / "simclr-georank.yaml", [*tiny("simclr"), f"data.path={mini_store}",
                                                             "data.bands=12"])  # fmt: skip
    run = pretrain(s1s2, out=tmp_path / "s1s2")
    assert len(load_encoder(run.path).bands) == 12
    vit = load_ssl_config(CONFIGS / "byol-georank.yaml", [
        *tiny("byol"), f"data.path={mini_store}", "model.backbone=vit_tiny_patch16_224", "model.image_size=32",
        'model.backbone_args={depth: 1, embed_dim: 32, num_heads: 2, patch_size: 8, dynamic_img_size: true}',
        "evaluation.knn=true", "evaluation.k=5"])  # fmt: skip
    metrics = json.loads(pretrain(vit, out=tmp_path / "vit").metrics_file.read_text())
    assert metrics["knn"]["macro"]["ap"] > 0  # probed at 120 px
    with pytest.raises(ConfigError, match="views are 48 px"):
        load_ssl_config(CONFIGS / "tiny-cpu.yaml", ["model.backbone=vit_tiny_patch16_224"])


@pytest.fixture(scope="module")
def runs(mini_store: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The tiny recipe, plain and with GeoRank, through `bigearth pretrain` with its probes."""
    out = tmp_path_factory.mktemp("ssl-runs")
    folders = []
    for name, extra in (("plain", []), ("georank", ["georank.enabled=true"])):
        result = CliRunner().invoke(app, ["pretrain", str(CONFIGS / "tiny-cpu.yaml"), "--data", str(mini_store),
                                          "--out", str(out / name), "trainer.max_epochs=2", "data.batch_size=16",
                                          "evaluation.probe_steps=50", *extra])  # fmt: skip
        assert result.exit_code == 0, result.output
        folders.append(out / name)
    return folders


def test_pretraining_writes_a_probed_encoder_that_load_encoder_reads(runs: list[Path], mini_store: Path) -> None:
    metrics = json.loads((runs[1] / "metrics.json").read_text())
    assert metrics["regulariser"] == "georank"
    assert metrics["georank"]["tau"] == 0.04
    for protocol in ("knn", "linear_probe"):
        assert 0 < metrics[protocol]["macro"]["ap"] <= 1
        assert metrics[protocol]["split"] == "test"
    assert (runs[1] / "plots" / "pretraining_curves.png").is_file()
    encoder = load_encoder(runs[1])
    assert encoder.feature_dim == 256
    assert len(encoder.bands) == 10
    result = evaluate_encoder(runs[1], mini_store, protocol="knn", split="validation")
    assert result["split"] == "validation"
    assert result["samples"] > 0
    with pytest.raises(ConfigError, match="unknown probe protocol"):
        evaluate_encoder(runs[1], mini_store, protocol="full")


def test_the_table_command_writes_method_by_regulariser(runs: list[Path], mini_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    result = CliRunner().invoke(app, ["ssl", "table", *map(str, runs), "--data", str(mini_store), "--out", str(out),
                                      "--protocols", "knn"])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| random init | - |" in text
    assert "| mocov2 | plain |" in text
    assert "| mocov2 | GeoRank |" in text
    assert "| method | plain | GeoRank |" in text
    probe = CliRunner().invoke(app, ["ssl", "probe", str(runs[0]), "--data", str(mini_store), "--json"])
    assert probe.exit_code == 0
    assert json.loads(probe.output)["macro"]["ap"] > 0
    missing = CliRunner().invoke(app, ["ssl", "probe", str(tmp_path), "--data", str(mini_store)])
    assert missing.exit_code == 1
    assert "no model folder" in " ".join(missing.output.split())


def test_a_pretrained_encoder_fine_tunes_through_the_classification_task(runs: list[Path], mini_store: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    from bigearth.tasks.ssl.evaluate import finetune

    recipe = Path(__file__).resolve().parents[1] / "configs" / "classification" / "demo-cpu.yaml"
    result = finetune(runs[0], mini_store, recipe=recipe, out=tmp_path / "finetune", overrides=[
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "data.batch_size=16"])  # fmt: skip
    assert 0 < result["macro"]["ap"] <= 1
    config = yaml.safe_load((tmp_path / "finetune" / "config.yaml").read_text())
    assert config["model"]["weights"].endswith("model")
    assert config["model"]["backbone"] == "resnet10t_slim"
    assert (
        ModelMetadata.from_dict(json.loads((tmp_path / "finetune" / "model" / "config.json").read_text())).bands
        == load_encoder(runs[0]).bands
    )
