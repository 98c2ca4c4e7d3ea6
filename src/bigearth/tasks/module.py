"""What bigearth's supervised and pretraining Lightning modules share.

One :meth:`TaskModule.shared_step` serves every split, the evaluated splits' metrics are logged at each epoch's
end by :meth:`TaskModule.epoch_metrics`, and the optimiser is the recipe's timm optimiser with the warm-up +
cosine schedule per step (:func:`bigearth.tasks.schedule.optimizer_with_schedule`).
"""

from typing import Any, Literal

import lightning as L  # noqa: N812
from torch import Tensor, nn

from bigearth.tasks.config import SchedulerConfig
from bigearth.tasks.schedule import optimizer_with_schedule

Split = Literal["train", "val", "test"]


class TaskModule(L.LightningModule):
    """Base of the task modules.

    Subclasses set :attr:`network` (the optimised module), :attr:`lr` (the peak learning rate),
    :attr:`optimizer_config` (``name``, ``weight_decay``) and :attr:`scheduler_config`, implement
    :meth:`shared_step`, and override :meth:`epoch_metrics` where they report metrics.
    """

    network: nn.Module
    lr: float
    optimizer_config: Any
    scheduler_config: SchedulerConfig

    @property
    def fresh_fit(self) -> bool:
        """Whether a training run starts from scratch now (not a resume, an evaluation or a prediction)."""
        trainer = self._trainer
        return trainer is not None and trainer.state.fn == "fit" and trainer.ckpt_path is None

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Return the loss of a batch of ``split`` (and collect what the split's metrics need)."""
        raise NotImplementedError

    def log_loss(self, loss: Tensor, split: Split, size: int) -> None:
        """Log ``split/loss``: per step and epoch while training, per epoch (synced across processes) otherwise."""
        training = split == "train"
        self.log(f"{split}/loss", loss, on_step=training, on_epoch=True, prog_bar=True, batch_size=size,
                 sync_dist=not training)  # fmt: skip

    def log_report(self, split: Split, scalars: dict[str, float], headline: str) -> None:
        """Log a split's epoch metrics as ``split/name``; ``headline`` also goes to the progress bar.

        Every process holds the same gathered predictions, so ``sync_dist`` averages identical values (and keeps
        DDP quiet).
        """
        logged = {f"{split}/{name}": value for name, value in scalars.items()}
        self.log(f"{split}/{headline}", logged.pop(f"{split}/{headline}"), prog_bar=True, sync_dist=True)
        self.log_dict(logged, sync_dist=True)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """One optimisation step's loss."""
        return self.shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Validation loss; what the metrics need is collected for the epoch's end."""
        return self.shared_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Test loss; what the metrics need is collected for the epoch's end."""
        return self.shared_step(batch, "test")

    def epoch_metrics(self, split: Split) -> None:
        """Compute, keep and log the metrics of an evaluated split (nothing by default)."""

    def on_train_start(self) -> None:
        """Enter training mode through :meth:`train`, whose overrides keep frozen parts in evaluation mode.

        Lightning never calls :meth:`train` in a fit: its validation loop (the sanity check first) records every
        submodule's ``training`` flag when it starts and sets them back when it ends. Before this hook, the flags
        it set back after the sanity check were a new module's (all training), so a frozen encoder's batch norm ran
        on batch statistics, and updated its running statistics, from the first step on; from here on, every
        validation records and restores the modes :meth:`train` chose.
        """
        self.train()

    def on_validation_epoch_end(self) -> None:
        """Log the validation metrics (early stopping and checkpoints watch the task's monitored one)."""
        self.epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        """Log the test metrics."""
        self.epoch_metrics("test")

    def optimizer_options(self) -> dict[str, Any]:
        """Further keyword arguments of the timm optimiser (none by default)."""
        return {}

    def configure_optimizers(self) -> dict[str, Any]:
        """The timm optimiser (no weight decay on biases and norms) and the warm-up + cosine schedule per step."""
        return optimizer_with_schedule(
            self.network,
            name=self.optimizer_config.name,
            lr=self.lr,
            weight_decay=self.optimizer_config.weight_decay,
            warmup_steps=self.scheduler_config.warmup_steps,
            total_steps=int(self.trainer.estimated_stepping_batches),
            final_fraction=self.scheduler_config.final_lr_fraction,
            **self.optimizer_options(),
        )
