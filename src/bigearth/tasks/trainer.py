"""The Lightning trainer of a supervised run: CSV logs, best and last checkpoints, early stopping, epoch seeds."""

import lightning as L  # noqa: N812
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from bigearth.tasks.config import EarlyStoppingConfig, Recipe
from bigearth.tasks.determinism import EpochSeed
from bigearth.tasks.run import RunFolder


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
    return L.Trainer(
        **recipe.trainer,
        default_root_dir=run.path,
        logger=CSVLogger(run.path, name=run.logs_dir.name, version=""),
        callbacks=[
            best,
            last,
            stopping,
            EpochSeed(recipe.seed_everything),
            LearningRateMonitor("step"),
            *(callbacks or []),
        ],
    )
