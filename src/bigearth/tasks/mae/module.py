"""CSMAE/CSMoE pretraining as a ``LightningModule``: one shared step for training and validation.

Logged keys per split (``train`` per step and epoch, ``val`` per epoch): ``{split}/loss`` (the weighted sum) and
``{split}/same_sensor``, ``{split}/cross_sensor``, ``{split}/contrastive``.
"""

from dataclasses import asdict
from typing import Any, Literal

import lightning as L  # noqa: N812
import timm.optim
from torch import Tensor

from bigearth.models.fm.csmae import CrossSensorMAE, csmae_objective
from bigearth.models.metadata import ModelMetadata
from bigearth.tasks.config import SchedulerConfig
from bigearth.tasks.mae.config import PretrainModelConfig, PretrainOptimizerConfig
from bigearth.tasks.schedule import warmup_cosine

Split = Literal["train", "val"]


class CrossSensorPretrainingTask(L.LightningModule):
    """Pretrain a :class:`~bigearth.models.fm.csmae.CrossSensorMAE` on S1/S2 image pairs.

    The constructor takes plain dicts (checkpoints rebuild the task from its hyper-parameters) and keeps them as
    typed attributes.

    Args:
        model: :class:`~bigearth.tasks.mae.config.PretrainModelConfig` fields.
        metadata: :meth:`ModelMetadata.to_dict` of the inputs (bands, statistics, class order).
        optimizer: :class:`~bigearth.tasks.mae.config.PretrainOptimizerConfig` fields.
        scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.

    Batches are dicts with ``image`` ``(B, C, H, W)`` normalised S1+S2 images whose channels are the model's
    bands, as :class:`bigearth.data.datamodule.ReBENDataModule` yields them.
    """

    def __init__(
        self,
        model: dict[str, Any],
        metadata: dict[str, Any],
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model_config = PretrainModelConfig.from_dict(model)
        self.optimizer_config = PretrainOptimizerConfig(**(optimizer or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.network = CrossSensorMAE(config=self.model_config.network(), metadata=ModelMetadata.from_dict(metadata))

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the objective of a batch; returns the weighted sum."""
        images = self.network.encoder.split(batch["image"], self.network.metadata.bands)  # type: ignore[union-attr]
        config = self.model_config
        terms = csmae_objective(self.network(images), temperature=config.temperature, weights=config.loss_weights,
                                normalize_targets=config.normalize_targets)  # fmt: skip
        training = split == "train"
        size = len(batch["image"])
        self.log(f"{split}/loss", terms.total, on_step=training, on_epoch=True, prog_bar=True, batch_size=size,
                 sync_dist=not training)  # fmt: skip
        for name, value in terms.as_dict().items():
            if name != "total":
                self.log(f"{split}/{name}", value, on_step=False, on_epoch=True, batch_size=size,
                         sync_dist=not training)  # fmt: skip
        return terms.total

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """One optimisation step's loss."""
        return self.shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Validation loss (random masks, as in training)."""
        return self.shared_step(batch, "val")

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW (timm; no weight decay on biases, norms and tokens) and the warm-up + cosine schedule per step."""
        optimizer = timm.optim.create_optimizer_v2(
            self.network,
            opt=self.optimizer_config.name,
            lr=self.model_config.lr,
            weight_decay=self.optimizer_config.weight_decay,
            betas=tuple(self.optimizer_config.betas),
        )
        scheduler = warmup_cosine(
            optimizer,
            warmup_steps=self.scheduler_config.warmup_steps,
            total_steps=int(self.trainer.estimated_stepping_batches),
            final_fraction=self.scheduler_config.final_lr_fraction,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @classmethod
    def from_configs(
        cls,
        model: PretrainModelConfig,
        metadata: ModelMetadata,
        optimizer: PretrainOptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
    ) -> "CrossSensorPretrainingTask":
        """Build a task from typed configuration sections."""
        return cls(model=model.to_dict(), metadata=metadata.to_dict(),
                   optimizer=asdict(optimizer or PretrainOptimizerConfig()),
                   scheduler=asdict(scheduler or SchedulerConfig()))  # fmt: skip
