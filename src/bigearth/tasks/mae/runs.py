"""Run folders of recipes other than classification (pretraining, segmentation), with the same rules.

:func:`bigearth.tasks.run.prepare_run` reads an interrupted run's recipe as a classification recipe; this module
does the same for any recipe type, given its parser: a finished run is refused, an interrupted run of the same
recipe is resumed, one of another recipe is refused with the differences listed. The folder layout is
:class:`bigearth.tasks.run.RunFolder`'s.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import yaml

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import ConfigError
from bigearth.tasks.run import METRICS_FILE, RESUMABLE_KEYS, RunFolder, config_differences, shared_default_run_path


class Recipe(Protocol):
    """What a recipe offers: a name and its plain data."""

    name: str

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as plain data."""
        ...


def read_recipe(run: RunFolder, parse: Callable[..., Any]) -> Any:
    """Read a run folder's ``config.yaml`` with a recipe parser ``parse(raw, name=...)``.

    Raises:
        ConfigError: if the folder has no recipe or it does not parse.
    """
    if not run.config_file.is_file():
        raise ConfigError(f"{run.path} is no run folder (no {run.config_file.name}); pass a run folder or a recipe")
    raw = yaml.safe_load(run.config_file.read_text())
    return parse(raw, name=raw.get("name", run.path.name))


def prepare_recipe_run(config: Recipe, out: Path | None, *, parse: Callable[..., Any]) -> tuple[RunFolder, bool]:
    """Choose the run folder and decide whether to resume (as :func:`bigearth.tasks.run.prepare_run`).

    Args:
        config: the resolved recipe.
        out: the folder asked for with ``--out``; a new ``runs/<name>-<timestamp>`` when None.
        parse: the recipe type's parser, to read an interrupted run's recipe.

    Returns:
        The run folder (its ``config.yaml`` written) and whether to resume from ``last.ckpt``.

    Raises:
        ConfigError: if ``out`` is a finished run, a run of another recipe, or a non-empty folder that is no run.
    """
    run = RunFolder(Path(out) if out is not None else shared_default_run_path(config.name))
    resume = False
    if run.is_complete:
        raise ConfigError(f"{run.path} holds a finished run ({METRICS_FILE} exists); choose another --out")
    if run.is_interrupted:
        differences = {key: change for key, change in config_differences(read_recipe(run, parse), config).items()
                       if key not in RESUMABLE_KEYS}  # type: ignore[arg-type]  # fmt: skip
        if differences:
            listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in differences.items())
            raise ConfigError(
                f"{run.path} is an interrupted run of another recipe ({listed}); resume it with its own recipe or "
                f"choose another --out. Only {list(RESUMABLE_KEYS)} may change"
            )
        resume = True
    elif run.path.is_dir() and any(run.path.iterdir()) and not run.config_file.is_file():
        raise ConfigError(f"{run.path} is a non-empty folder that is no run folder; choose another --out")
    run.path.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run.config_file, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    return run, resume
