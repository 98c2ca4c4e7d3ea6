"""Every shipped recipe parses, holds the published settings, builds its model and trains one step on mini-reBEN."""

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L  # noqa: N812
import pytest
import torch

from bigearth.errors import ConfigError, MissingDataError
from bigearth.tasks.config import Recipe, apply_overrides, load_config, parse_config, parse_recipe
from bigearth.tasks.train import build_datamodule, build_task

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "classification"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
PUBLISHED = [path for path in CONFIGS if path.stem != "demo-cpu"]
#: On the CPU and tiny: every other setting is the recipe's own.
SMALL = ["data.batch_size=2", "data.num_workers=0", "trainer.accelerator=cpu", "trainer.devices=1",
         "trainer.precision=32-true"]  # fmt: skip


def test_there_is_a_recipe_per_published_experiment() -> None:
    backbones = ("resnet18", "resnet50", "resnet101", "convnextv2_base", "mobilevit_s", "vit_base_patch8", "mixer_b16")
    expected = {f"{backbone}-{modality}" for backbone in backbones for modality in ("s1", "s2", "s1s2")}
    assert {path.stem for path in PUBLISHED} == expected
    assert (CONFIG_DIR / "demo-cpu.yaml").is_file()


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda path: path.stem)
def test_published_recipes_hold_the_published_settings(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    assert config.task == "classification"
    assert (config.optimizer.name, config.optimizer.weight_decay) == ("adamw", 0.01)
    assert (config.model.lr, config.model.drop_rate, config.model.drop_path_rate) == (1e-3, 0.15, 0.15)
    assert (config.scheduler.warmup_steps, config.scheduler.final_lr_fraction) == (1000, 0.1)
    assert (config.data.batch_size, config.data.augment, config.early_stopping.patience) == (512, True, 5)
    assert config.model.image_size == 120
    assert config.trainer["precision"] == "bf16-mixed"
    assert config.data.class_order == "alphabetical"  # the order of the published reBEN weights


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_recipe_trains_one_step(path: Path, mini_store: Path, tmp_path: Path) -> None:
    config = load_config(path, [*SMALL, f"data.path={mini_store}"])
    datamodule = build_datamodule(config.data)
    task = build_task(config, datamodule)
    assert task.network.in_chans == len(datamodule.bands)
    assert task.network.num_classes == 19
    before = [p.detach().clone() for p in task.network.parameters()]
    trainer = L.Trainer(**{**config.trainer, "max_epochs": 1}, fast_dev_run=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    after = list(task.network.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert torch.isfinite(trainer.callback_metrics["train/loss_step"])


def test_overrides_are_parsed_as_yaml_and_typed() -> None:
    config = load_config(CONFIG_DIR / "resnet50-s1s2.yaml", ["model.lr=5e-4", "trainer.max_epochs=3",
                         "data.bands=[B04,B03,B02]", "seed_everything=7", "model.weights=null"])  # fmt: skip
    assert config.model.lr == 5e-4
    assert isinstance(config.model.lr, float)
    assert config.trainer["max_epochs"] == 3
    assert config.seed_everything == 7
    assert config.data.bands == ["B04", "B03", "B02"]
    assert apply_overrides({"a": {"b": 1}}, ["a.c.d=x"]) == {"a": {"b": 1, "c": {"d": "x"}}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.learning_rate=1"], r"unknown key\(s\) \['learning_rate'\] in section 'model'.*; allowed keys: \["),
        (["model.backbon=resnet18"], r"\['backbon'\] in section 'model' \(did you mean 'backbone'\?\); allowed keys"),
        (["models.lr=1"], r"unknown section\(s\) \['models'\] \(did you mean 'model'\?\)"),
        (
            ["trainer.max_epoch=3"],
            r"unknown trainer key\(s\) \['max_epoch'\] \(did you mean 'max_epochs'\?\)$",
        ),
        (["trainer.xyz=3"], r"unknown trainer key\(s\) \['xyz'\]; lightning.Trainer accepts \['accelerator',"),
        (["trainer.plugins=[x]"], r"set by bigearth \(plugins: bigearth's atomic checkpoint writer"),
        (["trainer.logger=false"], r"bigearth always writes the CSV log"),
        (["trainer.logger=TensorBord"], r"TensorBord' is unknown \(did you mean 'TensorBoardLogger'\?\)"),
        (["trainer.callbacks=[ModelCheckpoint]"], r"ModelCheckpoint is refused: bigearth keeps the checkpoints"),
        (["trainer.callbacks=[{class_path: Timer, init_arg: {}}]"], r"unknown key\(s\) \['init_arg'\] \(did you mean"),
        (
            ["trainer.callbacks=[bigearth.tasks.config.ModelConfig]"],
            r"is no lightning.pytorch.callbacks.callback.Callback",
        ),
        (["model.lr=fast"], r"model.lr must be a float"),
        (["data.batch_size=2.5"], r"data.batch_size must be a int"),
        (["task=segmentation"], r"unknown task 'segmentation'"),
        (["model.lr"], r"is not key=value"),
    ],
)
def test_bad_config__error_says_what_is_allowed(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIG_DIR / "demo-cpu.yaml", overrides)


def test_unknown_backbone_or_band__error(mini_store: Path) -> None:
    config = load_config(CONFIG_DIR / "demo-cpu.yaml", [f"data.path={mini_store}", "model.backbone=resnet5O"])
    datamodule = build_datamodule(config.data)
    with pytest.raises(ConfigError, match=r"unknown backbone 'resnet5O'; use one of \['resnet18', 'resnet50'"):
        build_task(config, datamodule)
    config = load_config(CONFIG_DIR / "demo-cpu.yaml", [f"data.path={mini_store}", "data.bands=[B02,B10]"])
    with pytest.raises(ConfigError, match=r"unknown band names \['B10'\]"):
        build_datamodule(config.data)
    with pytest.raises(ConfigError, match="no data: pass --data PATH"):
        build_datamodule(load_config(CONFIG_DIR / "demo-cpu.yaml").data)
    with pytest.raises(MissingDataError, match="does not exist"):
        load_config(CONFIG_DIR / "no-such-recipe.yaml")
    with pytest.raises(ConfigError, match="a config must be a mapping"):
        parse_config(["trainer"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("loader", "recipe", "override", "message"),
    [
        ("bigearth.tasks.clip.config:load_clip_config", "clip/demo-cpu.yaml", "model.embed_dim=0", r"embed_dim = 0"),
        ("bigearth.tasks.clip.config:load_clip_config", "clip/demo-cpu.yaml", "data.batch_size=1", r"must be >= 2"),
        ("bigearth.tasks.vqa.config:load_vqa_config", "vqa/demo-cpu.yaml", "model.drop_rate=1", r"must be in \[0, 1\)"),
        ("bigearth.tasks.vqa.config:load_vqa_config", "vqa/demo-cpu.yaml", "data.num_workers=-1", r">= 0"),
        ("bigearth.tasks.vlm.small.config:load_small_vlm_config", "vlm/demo-cpu.yaml", "model.max_new_tokens=0",
         r"model.max_new_tokens = 0 must be at least 1"),
        ("bigearth.tasks.vlm.small.config:load_small_vlm_config", "vlm/demo-cpu.yaml", "data.text_types=[poem]",
         r"data.text_types = \['poem'\]"),
    ],
)  # fmt: skip
def test_parse_recipe_validates_each_section(loader: str, recipe: str, override: str, message: str) -> None:
    module, _, function = loader.partition(":")
    load = getattr(importlib.import_module(module), function)
    load(CONFIG_DIR.parent / recipe)  # the shipped recipe itself is valid
    with pytest.raises(ConfigError, match=message):
        load(CONFIG_DIR.parent / recipe, [override])


@dataclass
class _Checked:
    """A section whose ``validate()`` refuses its own default."""

    size: int = 0

    def validate(self) -> None:
        if self.size < 1:
            raise ConfigError(f"checked.size = {self.size} must be at least 1")


@dataclass
class _CheckedRecipe(Recipe):
    checked: _Checked = field(default_factory=_Checked)


def test_parse_recipe_validates_sections_it_defaults_too() -> None:
    with pytest.raises(ConfigError, match=r"checked.size = 0 must be at least 1"):
        parse_recipe({}, _CheckedRecipe, kind="recipe", name="run", task=None)
    assert (
        parse_recipe({"checked": {"size": 2}}, _CheckedRecipe, kind="recipe", name="run", task=None).checked.size == 2
    )
