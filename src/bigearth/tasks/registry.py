"""The task registry: every learning problem that ``bigearth train`` runs, found by its recipe's ``task`` key.

A task declares how its recipe is read, how it trains and what its model folder is; ``bigearth train`` (and its
alias ``bigearth pretrain``) dispatch through :data:`TASKS` and nothing else. Entries name their functions as
``"module:function"`` and are imported only when used, so that listing commands stays fast. A new task is one
package under :mod:`bigearth.tasks` and one entry here:

* ``recipe(path, overrides) -> recipe``: reads and checks a YAML recipe, applying dotted ``key=value`` overrides;
* ``train(recipe, *, out) -> RunFolder``: trains, resumes an interrupted run in ``out``, writes the run folder;
* ``report(run_path) -> renderable | None`` (optional): what the command prints when the run has finished.
"""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from bigearth.errors import ConfigError, MissingDataError
from bigearth.folders.format import (
    CLASSIFICATION_TASK,
    FOUNDATION_TASK,
    SEGMENTATION_TASK,
    SMALL_VLM_TASK,
    VLM_HF_TASK,
    VQA_TASK,
)
from bigearth.suggest import did_you_mean

#: The resolved recipe of a run folder (what resuming reads).
RUN_CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class Task:
    """One learning problem.

    Attributes:
        name: the recipes' ``task`` value.
        description: one line for listings and help.
        recipe: ``"module:function"`` reading a recipe.
        train: ``"module:function"`` training a recipe into a run folder.
        folder: the ``task`` its model folder records (:data:`bigearth.folders.format.FOLDER_TASKS`).
        recipes: where its published recipes live.
        report: ``"module:function"`` returning what to print for a finished run, or None.
    """

    name: str
    description: str
    recipe: str
    train: str
    folder: str
    recipes: str
    report: str | None = None

    def function(self, role: str) -> Callable[..., Any]:
        """Import and return the function that ``role`` (``recipe``, ``train`` or ``report``) names."""
        module, _, function = getattr(self, role).partition(":")
        return getattr(importlib.import_module(module), function)


#: Every task, by its recipes' ``task`` value.
TASKS: Mapping[str, Task] = MappingProxyType({task.name: task for task in (
    Task("classification", "multi-label scene classification (S1, S2, S1+S2) on timm backbones",
         "bigearth.tasks.config:load_config", "bigearth.tasks.train:train", CLASSIFICATION_TASK,
         "configs/classification/", report="bigearth.tasks.train:finished_report"),
    Task("segmentation", "semantic segmentation of the reference maps on a pretrained encoder",
         "bigearth.tasks.mae.segmentation_config:load_segmentation_config",
         "bigearth.tasks.mae.segmentation:train_segmentation", SEGMENTATION_TASK, "configs/fm/"),
    Task("vqa", "visual question answering (LiT-4-RSVQA) on RSVQAxBEN or BigEarthNet.txt questions",
         "bigearth.tasks.vqa.config:load_vqa_config", "bigearth.tasks.vqa.train:train_vqa", VQA_TASK, "configs/vqa/"),
    Task("ssl", "self-supervised pretraining (SimCLR, MoCo, BYOL, SimSiam, DINO) with GeoRank",
         "bigearth.tasks.ssl.config:load_ssl_config", "bigearth.tasks.ssl.pretrain:pretrain", CLASSIFICATION_TASK,
         "configs/ssl/"),
    Task("csmae", "cross-sensor masked autoencoder pretraining (CSMAE, CSMoE)",
         "bigearth.tasks.mae.config:load_pretrain_config", "bigearth.tasks.mae.pretrain:pretrain", FOUNDATION_TASK,
         "configs/fm/"),
    Task("vlm", "the built-in small VLM: S1/S2 encoder + small text decoder on all four BigEarthNet.txt text types",
         "bigearth.tasks.vlm.small.config:load_small_vlm_config", "bigearth.tasks.vlm.small.train:train_small_vlm",
         SMALL_VLM_TASK, "configs/vlm/"),
    Task("vlm-hf", "fine-tuning a local Hugging Face image-text-to-text checkpoint on BigEarthNet.txt (LoRA or full)",
         "bigearth.tasks.vlm.finetune:load_finetune_recipe", "bigearth.tasks.vlm.finetune:finetune", VLM_HF_TASK,
         "configs/vlm/"),
)})  # fmt: skip
#: The tasks whose recipes are listed with ``bigearth pretrain`` (the alias runs any task, as ``train`` does).
PRETRAINING_TASKS = ("ssl", "csmae")
#: The task of a recipe that names none.
DEFAULT_TASK = "classification"


def recipe_task(config: Path) -> str:
    """Return the ``task`` of a YAML recipe, or of a run folder's resolved recipe (:data:`DEFAULT_TASK` if none).

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if it cannot be read as YAML, is no mapping, or names no known task.
    """
    config = Path(config)
    recipe = config / RUN_CONFIG_FILE if config.is_dir() else config
    if config.is_dir() and not recipe.is_file():
        raise ConfigError(f"{config} is no run folder (no {RUN_CONFIG_FILE}); pass a run folder or a YAML recipe")
    if not recipe.is_file():
        raise MissingDataError(f"config file {recipe} does not exist; pass a YAML recipe (see configs/)")
    try:
        raw = yaml.safe_load(recipe.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the config {recipe} as YAML text ({error})") from error
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{recipe} holds a YAML {type(raw).__name__}, not a mapping of sections (see configs/)")
    task = (raw or {}).get("task", DEFAULT_TASK)
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(
            f"{recipe}: task = {task!r} is no bigearth task{did_you_mean(str(task), TASKS)}; tasks are {sorted(TASKS)}"
        )
    return task


def train_recipe(
    config: Path, *, data: Path | None = None, out: Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Path:
    """Train the recipe (or resume the run folder) ``config`` with the task it names.

    Args:
        config: a YAML recipe, or a run folder (its resolved recipe; the run resumes in it unless ``out`` is given).
        data: store folder or release root (sets ``data.path``).
        out: the run folder (default: ``config`` when it is a run folder, else ``runs/<name>-<time>``).
        overrides: dotted ``key=value`` overrides of the recipe.

    Returns:
        The run folder.

    Raises:
        MissingDataError, ConfigError: for a missing or invalid recipe or data; the task's own errors.
    """
    config = Path(config)
    recipe = read_task_recipe(config, data=data, overrides=overrides)
    out = out or (config if config.is_dir() else None)
    return Path(TASKS[recipe.task].function("train")(recipe, out=out).path)


def read_task_recipe(config: Path, *, data: Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Return the resolved recipe of a YAML file or run folder, read by its task's reader.

    Args:
        config: a YAML recipe, or a run folder (its resolved ``config.yaml``).
        data: store folder or release root (sets ``data.path``).
        overrides: dotted ``key=value`` overrides of the recipe.

    Raises:
        MissingDataError, ConfigError: for a missing or invalid recipe.
    """
    config = Path(config)
    task = TASKS[recipe_task(config)]
    extra = [*overrides, *([f"data.path={data}"] if data is not None else [])]
    return task.function("recipe")(config / RUN_CONFIG_FILE if config.is_dir() else config, extra)
