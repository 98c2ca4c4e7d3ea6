"""Loggers and callbacks that a recipe adds to a run: ``trainer.logger`` and ``trainer.callbacks``.

Both take one entry or a list, written as LightningCLI writes them::

    trainer:
      logger:
        - class_path: TensorBoardLogger            # a name from lightning.pytorch.loggers ...
          init_args: {name: tensorboard}
        - class_path: lightning.pytorch.loggers.MLFlowLogger   # ... or a full dotted path
          init_args: {experiment_name: reben}
      callbacks:
        - class_path: DeviceStatsMonitor           # a name from lightning.pytorch.callbacks
        - class_path: my_package.MyCallback        # any importable Callback (it runs with your rights)

A bare name is looked up in Lightning's loggers (callbacks), then among the entry points of the group
``bigearth.loggers`` (``bigearth.callbacks``) that installed packages register, then imported as a dotted path.
A logger whose ``__init__`` takes ``save_dir`` and is given none writes under the run's ``logs/``.

What these add never replaces what bigearth manages: the run's appending CSV log (``logs/metrics.csv``, which the
figures read) stays the first logger, and bigearth's checkpoints (atomic writes, ``last.ckpt``, the best
checkpoint) stay the checkpoints of the run: checkpoint callbacks are refused, as ``trainer.plugins`` is.
"""

import importlib
import importlib.metadata
import importlib.util
import inspect
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
from lightning.pytorch import callbacks as lightning_callbacks
from lightning.pytorch import loggers as lightning_loggers
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import Logger

from bigearth.errors import ConfigError
from bigearth.suggest import did_you_mean

#: Where bare names are looked up and what the entries must be, per trainer key.
KINDS: dict[str, tuple[Any, type, str]] = {
    "logger": (lightning_loggers, Logger, "bigearth.loggers"),
    "callbacks": (lightning_callbacks, L.Callback, "bigearth.callbacks"),
}
#: Lightning loggers that need an optional package: class name -> (modules any of which will do, pip package).
OPTIONAL_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "TensorBoardLogger": (("tensorboard", "tensorboardX"), "tensorboard"),
    "WandbLogger": (("wandb",), "wandb"),
    "MLFlowLogger": (("mlflow",), "mlflow"),
    "CometLogger": (("comet_ml",), "comet-ml"),
    "LitLogger": (("litlogger",), "litlogger"),
}


def _entry_point(name: str, group: str) -> type | None:
    """Return the class that an installed package registers as ``name`` in the entry-point ``group``, if any."""
    for entry in importlib.metadata.entry_points(group=group):
        if entry.name == name:
            return entry.load()
    return None


def resolve_class(class_path: str, key: str) -> type:
    """Return the logger or callback class that ``class_path`` names (see the module docstring for the order).

    Args:
        class_path: a bare class name, an entry-point name or a dotted ``package.module.Class`` path.
        key: ``"logger"`` or ``"callbacks"``.

    Raises:
        ConfigError: naming the path when it cannot be found or is no logger (callback).
    """
    namespace, base, group = KINDS[key]
    where = f"trainer.{key}: class_path {class_path!r}"
    known = [name for name in namespace.__all__ if issubclass(getattr(namespace, name), base)]
    found = getattr(namespace, class_path, None) if class_path in known else _entry_point(class_path, group)
    if found is None and "." in class_path:
        module_name, _, class_name = class_path.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), class_name, None)
        except ImportError as error:
            raise ConfigError(f"{where}: module {module_name!r} cannot be imported ({error})") from error
    if found is None:
        raise ConfigError(
            f"{where} is unknown{did_you_mean(class_path, known)}; use one of {known}, a name registered in the "
            f"entry-point group {group!r}, or a dotted path such as {namespace.__name__}.{known[0]}"
        )
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ConfigError(f"{where} is no {base.__module__}.{base.__name__}; name a class derived from it")
    return found


def check_entries(value: Any, key: str) -> list[dict[str, Any]]:
    """Check a recipe's ``trainer.logger`` or ``trainer.callbacks``; return it as a list of full entries.

    Each class is resolved now, and a logger whose optional package is not installed is refused, so that a mistake
    shows before a run folder is made.

    Args:
        value: one ``{class_path, init_args}`` mapping, a bare class path, a list of them, or None.
        key: ``"logger"`` or ``"callbacks"``.

    Returns:
        ``[{"class_path": ..., "init_args": {...}}, ...]`` (empty for None).

    Raises:
        ConfigError: for a malformed entry, an unknown class, a checkpoint callback (bigearth's are the run's), or
            a logger whose package is missing.
    """
    if value is None:
        return []
    if isinstance(value, bool):
        raise ConfigError(
            f"trainer.{key} = {value!r}: bigearth always writes the CSV log and checkpoints of the run folder; "
            f"trainer.{key} adds to them: give class_path entries (e.g. class_path: CSVLogger)"
        )
    entries = []
    for entry in value if isinstance(value, list) else [value]:
        spec = {"class_path": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict) or not isinstance(spec.get("class_path"), str):
            raise ConfigError(f"trainer.{key} entry {entry!r} must be a class path or a mapping with a class_path")
        unknown = [name for name in spec if name not in ("class_path", "init_args")]
        if unknown:
            hint = did_you_mean(unknown[0], ("class_path", "init_args"))
            raise ConfigError(f"trainer.{key} entry {entry!r} has unknown key(s) {unknown}{hint}; it takes "
                              "class_path and init_args")  # fmt: skip
        arguments = spec.get("init_args") or {}
        if not isinstance(arguments, dict):
            raise ConfigError(
                f"trainer.{key}: init_args of {spec['class_path']!r} must be a mapping, got {arguments!r}"
            )
        found = resolve_class(spec["class_path"], key)
        if issubclass(found, Checkpoint):
            raise ConfigError(
                f"trainer.{key}: {found.__name__} is refused: bigearth keeps the checkpoints of every run (last.ckpt "
                "at each epoch end, the best one on the task's validation metric, written atomically)"
            )
        modules, package = OPTIONAL_PACKAGES.get(found.__name__, ((), ""))
        if modules and not any(importlib.util.find_spec(module) for module in modules):
            raise missing_package(key, found, package)
        entries.append({"class_path": spec["class_path"], "init_args": dict(arguments)})
    return entries


def missing_package(key: str, found: type, package: str) -> ConfigError:
    """Return the one-line error for a logger or callback whose optional package is not installed."""
    return ConfigError(f"trainer.{key} {found.__name__} needs the package {package}: pip install {package}")


def instantiate(entries: list[dict[str, Any]], key: str, *, logs_dir: Path) -> list[Any]:
    """Build the loggers or callbacks of checked entries (:func:`check_entries`).

    Args:
        entries: ``[{"class_path": ..., "init_args": {...}}, ...]``.
        key: ``"logger"`` or ``"callbacks"``.
        logs_dir: the ``save_dir`` of loggers that are given none (the run's ``logs/``).

    Raises:
        ConfigError: if a class refuses its arguments or misses a package it imports.
    """
    built = []
    for entry in entries:
        found = resolve_class(entry["class_path"], key)
        arguments = dict(entry["init_args"])
        if key == "logger" and "save_dir" in inspect.signature(found).parameters:
            arguments.setdefault("save_dir", str(logs_dir))
        try:
            built.append(found(**arguments))
        except ModuleNotFoundError as error:
            raise missing_package(key, found, error.name or str(error)) from error
        except TypeError as error:
            raise ConfigError(f"trainer.{key} {found.__name__}: init_args {arguments} are refused ({error})") from error
    return built
