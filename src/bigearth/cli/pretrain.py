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
from bigearth.cli.recipes import RECIPE_HELP, PrintConfig, print_recipe
from bigearth.errors import BigEarthError, ConfigError, MissingDataError

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


@app.command(context_settings={"allow_interspersed_args": True}, epilog=RECIPE_HELP)
def pretrain(
    config: Annotated[Path, typer.Argument(help="YAML recipe (configs/ssl/*.yaml, configs/fm/*.yaml)")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="dotted key=value overrides, e.g. model.lr=5e-4 trainer.max_epochs=3")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="store folder or release root (overrides data.path)")] = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/<config>-<time>)")] = None,
    print_config: PrintConfig = False,
) -> None:
    """Self-supervised pretraining (SSL methods with GeoRank, CSMAE/CSMoE).

    Tasks: ssl, csmae (the recipe's task key).
    """
    try:
        if print_config:
            print_recipe(config, [*(overrides or []), *([f"data.path={data}"] if data is not None else [])],
                         tasks=tuple(PRETRAINING_TASKS))  # fmt: skip
            return
        module = importlib.import_module(pretraining_module(config))
        run = module.run_pretraining(config, data=data, out=out, overrides=list(overrides or []))
    except BigEarthError as error:
        fail(error)
    console.print(f"pretraining finished: {run}")
