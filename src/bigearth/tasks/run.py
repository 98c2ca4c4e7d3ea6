"""Run folders: where one training run keeps its config, logs, checkpoints, model, metrics and plots.

::

    runs/<config name>-<YYYYmmdd-HHMMSS>/
      config.yaml          the resolved recipe (file + overrides + --data)
      env.json             versions, Python, CUDA and GPUs, git revision, command line (bigearth.runinfo)
      logs/metrics.csv     Lightning CSVLogger: losses, validation metrics, learning rate
      checkpoints/         last.ckpt (every epoch) and best-*.ckpt (highest validation macro AP); atomic writes
      model/               config.json + model.safetensors of the best checkpoint
      plots/*.png          training curves, per-class AP, precision-recall curves, error co-occurrence
      metrics.json         validation and test metrics of the best checkpoint; written last: the run is complete

A folder with ``checkpoints/last.ckpt`` and no ``metrics.json`` is an interrupted run; ``bigearth train`` on it
resumes from the last checkpoint (or, if that one is damaged, from the newest intact one, with a warning).
"""

import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import ConfigError, CorruptDataError
from bigearth.folders.format import RUN_MODEL_DIR
from bigearth.tasks.config import Recipe, RecipeT, dump_config, parse_config

CONFIG_FILE = "config.yaml"
#: Environment variable through which the first process tells Lightning-launched ranks the default run folder.
RUN_DIR_VARIABLE = "BIGEARTH_RUN_DIR"
METRICS_FILE = "metrics.json"
LAST_CHECKPOINT = "last.ckpt"
#: Recipe keys that may change when a run resumes (where the data lies, how it is read, how long to train).
RESUMABLE_KEYS = (
    "data.path",
    "data.num_workers",
    "trainer.max_epochs",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
)


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run."""

    path: Path

    @property
    def config_file(self) -> Path:
        """The resolved recipe."""
        return self.path / CONFIG_FILE

    @property
    def logs_dir(self) -> Path:
        """CSV logs."""
        return self.path / "logs"

    @property
    def metrics_csv(self) -> Path:
        """The CSVLogger's metrics file."""
        return self.logs_dir / "metrics.csv"

    @property
    def checkpoints_dir(self) -> Path:
        """Lightning checkpoints."""
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        """The checkpoint written at the end of every epoch."""
        return self.checkpoints_dir / LAST_CHECKPOINT

    @property
    def model_dir(self) -> Path:
        """The model folder (best checkpoint)."""
        return self.path / RUN_MODEL_DIR

    @property
    def plots_dir(self) -> Path:
        """Figures."""
        return self.path / "plots"

    @property
    def metrics_file(self) -> Path:
        """Final metrics; its presence marks a complete run."""
        return self.path / METRICS_FILE

    @property
    def is_complete(self) -> bool:
        """Whether the run finished (``metrics.json`` exists)."""
        return self.metrics_file.is_file()

    @property
    def is_interrupted(self) -> bool:
        """Whether the run stopped after at least one epoch and before finishing."""
        return not self.is_complete and self.last_checkpoint.is_file()

    def resume_checkpoint(self) -> Path:
        """Return the checkpoint to resume from: ``last.ckpt`` if intact, else the newest intact ``*.ckpt``.

        A checkpoint is a zip archive (``torch.save``); one whose archive or member CRCs do not check out is damaged
        (a full disk, a copy cut short). Falling back warns, naming both files.

        Raises:
            CorruptDataError: if no checkpoint of the run is intact.
        """
        others = [path for path in self.checkpoints_dir.glob("*.ckpt") if path != self.last_checkpoint]
        candidates = [self.last_checkpoint, *sorted(others, key=lambda path: path.stat().st_mtime, reverse=True)]
        for path in candidates:
            if _intact(path):
                if path != self.last_checkpoint:
                    warnings.warn(
                        f"{self.last_checkpoint} is damaged (truncated or not a checkpoint); resuming from the newest "
                        f"intact checkpoint {path.name} instead",
                        stacklevel=2,
                    )
                return path
        raise CorruptDataError(
            f"every checkpoint in {self.checkpoints_dir} is damaged (truncated or not a checkpoint): the run cannot "
            "resume; remove the folder to train again from the start"
        )

    def read_config(self, parse: Callable[..., RecipeT] = parse_config) -> RecipeT:  # type: ignore[assignment]
        """Return the run's resolved recipe, read by its task's parser ``parse(raw, name=...)``.

        Raises:
            ConfigError: if the folder has no ``config.yaml`` or it does not parse.
        """
        if not self.config_file.is_file():
            raise ConfigError(f"{self.path} is no run folder (no {CONFIG_FILE}); pass a run folder or a YAML recipe")
        raw = yaml.safe_load(self.config_file.read_text())
        return parse(raw, name=raw.get("name", self.path.name))

    def write_config(self, config: Recipe) -> None:
        """Write the resolved recipe atomically."""
        atomic_write_bytes(self.config_file, dump_config(config).encode())


def _intact(path: Path) -> bool:
    """Return whether ``path`` is a complete ``torch.save`` zip archive (every member's CRC checks out)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def default_run_path(name: str, *, root: Path = Path("runs"), now: datetime | None = None) -> Path:
    """Return ``runs/<name>-<YYYYmmdd-HHMMSS>``."""
    return root / f"{name}-{(now or datetime.now()):%Y%m%d-%H%M%S}"


def shared_default_run_path(name: str) -> Path:
    """Return the default run folder, the same in every process of one run.

    Lightning's DDP launcher re-runs the command for ranks 1.. and they inherit the environment, so the first
    process publishes its choice in ``BIGEARTH_RUN_DIR``. Processes started by torchrun or SLURM are independent:
    they must be given ``--out``.

    Raises:
        ConfigError: when several processes were started externally and no ``--out`` was given.
    """
    launched_rank = "LOCAL_RANK" in os.environ  # set by Lightning's launcher for its ranks, and by torchrun
    if launched_rank and RUN_DIR_VARIABLE in os.environ:
        return Path(os.environ[RUN_DIR_VARIABLE])
    processes = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))
    if processes > 1:
        raise ConfigError(
            f"{processes} processes were launched (torchrun or SLURM): give them one run folder with --out RUN"
        )
    path = default_run_path(name)
    os.environ[RUN_DIR_VARIABLE] = str(path)
    return path


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "backbone_args":
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_differences(old: Recipe, new: Recipe) -> dict[str, tuple[Any, Any]]:
    """Return ``{dotted key: (old, new)}`` for every recipe value that differs."""
    before, after = _flatten(old.to_dict()), _flatten(new.to_dict())
    return {key: (before.get(key), after.get(key)) for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key)}  # fmt: skip


def prepare_run(
    config: Recipe, out: Path | None, *, parse: Callable[..., Recipe] = parse_config
) -> tuple[RunFolder, bool]:
    """Choose the run folder and decide whether to resume.

    A finished run is refused, an interrupted run of the same recipe is resumed, one of another recipe is refused
    with the differences listed.

    Args:
        config: the resolved recipe.
        out: the folder asked for with ``--out``; a new ``runs/<name>-<timestamp>`` when None.
        parse: the recipe's parser (its task's), to read an interrupted run's recipe.

    Returns:
        The run folder (its ``config.yaml`` written) and whether to resume from ``last.ckpt``.

    Raises:
        ConfigError: if ``out`` is a complete run, a run of another recipe, or a non-empty folder that is no run.
    """
    if out is None:
        out = shared_default_run_path(config.name)
    run = RunFolder(Path(out))
    resume = False
    if run.is_complete:
        raise ConfigError(f"{run.path} holds a finished run ({METRICS_FILE} exists); choose another --out")
    if run.is_interrupted:
        differences = {key: change for key, change in config_differences(run.read_config(parse), config).items()
                       if key not in RESUMABLE_KEYS}  # fmt: skip
        if differences:
            listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in differences.items())
            raise ConfigError(
                f"{run.path} is an interrupted run of another recipe ({listed}); resume it with its own recipe "
                f"(`bigearth train {run.path}`) or choose another --out. Only {list(RESUMABLE_KEYS)} may change"
            )
        resume = True
    elif run.path.is_dir() and any(run.path.iterdir()) and not run.config_file.is_file():
        raise ConfigError(f"{run.path} is a non-empty folder that is no run folder; choose another --out")
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    return run, resume
