"""``bigearth pretrain``: self-supervised pretraining, dispatched on the config's ``task`` key.

Each pretraining task lives in its own module under :mod:`bigearth.tasks` and exposes
``run_pretraining(config, *, data, out, overrides) -> Path`` (the run folder); this command only finds it.
"""

import importlib
from pathlib import Path
from typing import Annotated

import typer
import yaml

from bigearth.cli.app import app
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError, ConfigError, MissingDataError
from bigearth.recipes import resolve_recipe

#: config ``task`` -> module holding ``run_pretraining``.
PRETRAINING_TASKS: dict[str, str] = {
    "ssl": "bigearth.tasks.ssl.pretrain",
    "csmae": "bigearth.tasks.mae.pretrain",
}


def config_task(config: Path, *, default: str | None = None) -> str | None:
    """Return the ``task`` named by a YAML config file (``default`` where it names none).

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if the file cannot be read as YAML, is no mapping, or its ``task`` is no name.
    """
    if not config.is_file():
        raise MissingDataError(f"config file {config} does not exist; pass a YAML recipe (see configs/)")
    try:
        raw = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the config {config} as YAML text ({error})") from error
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise ConfigError(f"{config} holds a YAML {type(raw).__name__}, not a mapping of sections (see configs/)")
    task = raw.get("task", default)
    if task is not None and not isinstance(task, str):
        raise ConfigError(f"{config}: task = {task!r} must be a task name, e.g. classification")
    return task


def pretraining_module(config: Path) -> str:
    """Return the module that pretrains the task named by a config file.

    Raises:
        ConfigError: if the file has no known ``task``.
    """
    task = config_task(config)
    if task not in PRETRAINING_TASKS:
        raise ConfigError(f"{config} names task {task!r}; pretraining tasks are {sorted(PRETRAINING_TASKS)}")
    return PRETRAINING_TASKS[task]


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def pretrain(
    context: typer.Context,
    config: Annotated[Path, typer.Argument(help="YAML recipe or packaged recipe, e.g. ssl/mocov2")],
    data: Annotated[Path | None, typer.Option(help="store folder or release root (overrides data.path)")] = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/<config>-<time>)")] = None,
) -> None:
    """Self-supervised pretraining (SSL methods with GeoRank, CSMAE/CSMoE); key=value overrides follow."""
    try:
        config = resolve_recipe(config)
        module = importlib.import_module(pretraining_module(config))
        run = module.run_pretraining(config, data=data, out=out, overrides=list(context.args))
    except BigEarthError as error:
        fail(error)
    console.print(f"pretraining finished: {run}")
