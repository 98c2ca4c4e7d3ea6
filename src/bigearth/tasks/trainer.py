"""The Lightning trainer of a run: appended CSV logs, atomic checkpoints, early stopping, non-finite loss stops.

Besides these: the recipe's own loggers and callbacks, and one line per epoch where no terminal shows a progress bar.
"""

import csv
import io
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import torch
import yaml
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, ModelSummary, ProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.plugins import TorchCheckpointIO
from lightning.pytorch.utilities.model_summary import get_human_readable_count

from bigearth.atomic import atomic_write_bytes, remove_stale_temporaries
from bigearth.errors import TrainingError
from bigearth.quiet import quiet_lightning
from bigearth.runinfo import write_environment
from bigearth.tasks.config import EarlyStoppingConfig, Recipe
from bigearth.tasks.determinism import EpochSeed
from bigearth.tasks.extensions import instantiate
from bigearth.tasks.run import RunFolder


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written atomically and read back with ``weights_only=True``.

    Lightning writes a checkpoint straight under its final name, so a full disk leaves a truncated ``last.ckpt``
    there. Here it is serialised in memory, written to a temporary name in the same folder, fsynced and renamed
    (:func:`bigearth.atomic.atomic_write_bytes`). Reading passes ``weights_only=True`` explicitly, so no
    environment variable (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) can make a tampered checkpoint run code.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        """Serialise ``checkpoint`` and write it to ``path`` atomically."""
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        remove_stale_temporaries(Path(path).parent, "*.ckpt")  # of best-*.ckpt names a killed run will not reuse
        atomic_write_bytes(Path(path), buffer.getvalue())

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Load a checkpoint with ``weights_only=True`` whatever the caller or the environment asks."""
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(csv.DictReader(file).fieldnames or [])


class AppendingCSVLogger(CSVLogger):
    """A :class:`~lightning.pytorch.loggers.CSVLogger` whose resumed runs append to ``metrics.csv``.

    Lightning's logger deletes the file when it finds one, so each resume wiped the history before the interruption
    from the logs and the training-curves figure. New columns rewrite the header and keep every earlier row.
    """

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The appending writer, made on first use."""
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class StopOnNonFinite(L.Callback):
    """Stop training with a :class:`~bigearth.errors.TrainingError` when a loss or validation metric is not finite.

    Lightning would otherwise finish the run (early stopping ends it quietly) and report ``val/loss = nan``.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Raise if the batch's training loss is NaN or infinite."""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            raise TrainingError(
                f"the training loss is {loss.item()} at epoch {trainer.current_epoch}, batch {batch_idx}: the data "
                "holds NaN or infinite values (run `bigearth verify` on it) or the learning rate is too high; "
                "lower model.lr, or resume from the last checkpoint after fixing the data"
            )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Raise if a logged validation metric is NaN or infinite."""
        if trainer.sanity_checking:
            return
        broken = {name: float(value) for name, value in trainer.callback_metrics.items()
                  if name.startswith("val/") and not math.isfinite(float(value))}  # fmt: skip
        if broken:
            raise TrainingError(
                f"validation metric(s) {broken} at epoch {trainer.current_epoch} are not finite; check the data "
                "with `bigearth verify` and lower model.lr"
            )


def supervised_trainer(
    recipe: Recipe,
    run: RunFolder,
    *,
    early_stopping: EarlyStoppingConfig,
    monitor: str,
    label: str,
    callbacks: list[L.Callback] | None = None,
) -> L.Trainer:
    """Return the trainer of a run whose best checkpoint maximises a validation metric.

    ``trainer.checkpoint_callback`` is the best checkpoint (``best-epoch<E>-<label><value>.ckpt``); a second callback
    keeps ``last.ckpt`` at every epoch end, because ``save_last`` of a monitored callback only writes it when the
    monitored value improves (Lightning >= 2.6). Both write atomically.

    Args:
        recipe: the resolved recipe (its ``trainer`` arguments and seed).
        run: the run folder (logs and checkpoints go there).
        early_stopping: patience and minimum change on ``monitor``.
        monitor: the logged validation metric to maximise (``val/macro_ap``).
        label: its short name in checkpoint file names (``macro_ap``).
        callbacks: extra Lightning callbacks.
    """
    best = ModelCheckpoint(
        dirpath=run.checkpoints_dir,
        filename=f"best-epoch{{epoch:03d}}-{label}{{{monitor}:.4f}}",
        auto_insert_metric_name=False,
        monitor=monitor,
        mode="max",
        save_top_k=1,
    )
    last = ModelCheckpoint(dirpath=run.checkpoints_dir, filename=run.last_checkpoint.stem, save_top_k=1)
    stopping = EarlyStopping(monitor, mode="max", patience=early_stopping.patience, min_delta=early_stopping.min_delta)
    managed = [best, last, stopping, EpochSeed(recipe.seed_everything), LearningRateMonitor("step"), StopOnNonFinite()]
    return build_trainer(recipe, run, callbacks=[*managed, *(callbacks or [])])


def build_trainer(
    recipe: Recipe, run: RunFolder, *, callbacks: list[L.Callback], defaults: dict[str, Any] | None = None
) -> L.Trainer:
    """Return the ``L.Trainer`` of a run: the recipe's ``trainer`` section tied to the run folder.

    bigearth sets the root (the run folder), the first logger (:class:`AppendingCSVLogger`, ``logs/metrics.csv``)
    and the checkpoint writer (:class:`AtomicCheckpointIO`); the recipe's ``trainer.logger`` and
    ``trainer.callbacks`` (:mod:`bigearth.tasks.extensions`) come after bigearth's own, so that the run's own
    checkpoints stay ``trainer.checkpoint_callback``. Where standard output is no terminal (nohup, a batch
    scheduler, a pipe), the progress bar is off unless the recipe asks for it and :class:`EpochSummary` prints one
    line per epoch. The model summary is one line (:class:`ParameterSummary`). On rank 0 the run folder and the
    resolved recipe are printed, and ``env.json`` records the environment (:mod:`bigearth.runinfo`).

    Args:
        recipe: the resolved recipe (its ``trainer`` section; printed at the start).
        run: the run folder.
        callbacks: the task's callbacks (checkpoints first).
        defaults: trainer arguments that the recipe's own override (e.g. no validation for pretraining).

    Raises:
        ConfigError: if a logger or callback of the recipe refuses its arguments or misses a package.
    """
    arguments = {**(defaults or {}), **recipe.trainer}
    loggers = instantiate(arguments.pop("logger", []), "logger", logs_dir=run.logs_dir)
    extra = instantiate(arguments.pop("callbacks", []), "callbacks", logs_dir=run.logs_dir)
    terminal = sys.stdout.isatty()
    own_bar = any(isinstance(callback, ProgressBar) for callback in extra)
    arguments.setdefault("enable_progress_bar", terminal or own_bar)
    if arguments.pop("enable_model_summary", True) and not any(isinstance(c, ModelSummary) for c in extra):
        extra.insert(0, ParameterSummary())
    if not terminal:
        extra.insert(0, EpochSummary())
    quiet_lightning()
    if rank_zero_only.rank == 0:
        announce(recipe, run)
        write_environment(run.path)
    return L.Trainer(
        **arguments,
        default_root_dir=run.path,
        logger=[AppendingCSVLogger(run.path, name=run.logs_dir.name, version=""), *loggers],
        plugins=[AtomicCheckpointIO()],
        callbacks=[*callbacks, *extra],
        enable_model_summary=False,  # ParameterSummary (or the recipe's own) is among the callbacks
    )


def fit_and_evaluate(
    trainer: L.Trainer,
    task: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    resume_from: str | None,
    fitted: L.LightningModule | None = None,
) -> str:
    """Fit, then validate and test the best checkpoint with the same trainer; return that checkpoint's path.

    The same trainer evaluates (a second one would launch its DDP processes again), without its loggers, so that
    the training curves keep the values of the last epoch. Evaluated predictions are de-duplicated per sample, so
    ``DistributedSampler``'s padding is harmless.

    Args:
        trainer: the run's trainer.
        task: the Lightning module.
        datamodule: the data.
        resume_from: the checkpoint an interrupted run resumes from, or None.
        fitted: what to fit instead of ``task`` (its ``torch.compile`` wrapper).

    Returns:
        The best checkpoint's path, or ``""`` when none was kept (the last epoch's weights are evaluated).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Experiment logs directory.*exists")  # a resumed run appends
        trainer.fit(fitted or task, datamodule=datamodule, ckpt_path=resume_from)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    trainer.loggers = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*DistributedSampler.*")
        trainer.validate(task, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    return best


def evaluated_entries(reports: dict[str, Any], *, best_checkpoint: str, monitor: str, epochs: int) -> dict[str, Any]:
    """Return the ``metrics.json`` entries of a fitted and evaluated supervised run.

    Args:
        reports: the task's ``{"val": report, "test": report}`` (each with ``to_dict()``; a split may be missing).
        best_checkpoint: :func:`fit_and_evaluate`'s result.
        monitor: the metric checkpoints were selected on.
        epochs: epochs trained.
    """
    return {
        "best_checkpoint": Path(best_checkpoint).name if best_checkpoint else None,
        "selected_on": f"{monitor} (highest)" if best_checkpoint else "last epoch (no validation)",
        "epochs_trained": epochs,
        "validation": reports["val"].to_dict() if "val" in reports else None,
        "test": reports["test"].to_dict() if "test" in reports else None,
    }


def announce(recipe: Recipe, run: RunFolder) -> None:
    """Print the run folder (and whether it resumes) and the resolved recipe, as YAML."""
    state = f"resuming from {run.last_checkpoint.name}" if run.is_interrupted else "new run"
    print(f"run folder: {run.path} ({state})", flush=True)
    print("resolved config:", flush=True)
    print(yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip(), flush=True)


class EpochSummary(L.Callback):
    """Print one line per training epoch: the epoch's losses and validation metrics, and its time.

    For logs that no terminal draws (nohup, a batch scheduler, a pipe): Lightning's progress bar shows only on a
    terminal. The values are ``trainer.callback_metrics`` at the end of the epoch, after its validation; per-step
    values are left out and the ``_epoch`` suffix is dropped: ``epoch 3/30 train/loss 0.512 val/loss 0.48
    val/macro_ap 0.612 ... 12.4 s`` (the learning rate goes to the loggers only, as Lightning's monitor logs it).
    """

    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the epoch's clock."""
        self.started = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Print the epoch's line on rank 0."""
        if trainer.is_global_zero:
            print(epoch_line(trainer, seconds=time.monotonic() - self.started), flush=True)


def epoch_line(trainer: L.Trainer, *, seconds: float) -> str:
    """Return the one-line summary of the epoch that just ended (see :class:`EpochSummary`)."""
    values = {name.removesuffix("_epoch"): value for name, value in sorted(trainer.callback_metrics.items())
              if not name.endswith("_step")}  # fmt: skip
    total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
    shown = " ".join(f"{name} {float(value):.4g}" for name, value in values.items())
    return f"epoch {trainer.current_epoch + 1}{total} {shown} {seconds:.1f} s"


class ParameterSummary(ModelSummary):
    """Lightning's model summary as one line: parameters, trainable parameters and size.

    Lightning's table lists every top-level module and a ``FLOPs`` column that stays 0 for bigearth's tasks (they
    declare no ``example_input_array``).
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Print ``model: <n> parameters (<m> trainable), <size> MB``."""
        count, trainable = get_human_readable_count(total_parameters), get_human_readable_count(trainable_parameters)
        print(f"model: {count} parameters ({trainable} trainable), {model_size:.1f} MB", flush=True)
