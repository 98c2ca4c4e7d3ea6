"""CSMAE/CSMoE pretraining as a ``LightningModule``: one shared step for training and validation.

Logged keys per split (``train`` per step and epoch, ``val`` per epoch): ``{split}/loss`` (the weighted sum) and
``{split}/same_sensor``, ``{split}/cross_sensor``, ``{split}/contrastive``; with a ``slimmable`` section,
``train/slim``: the summed losses of the smaller encoder widths of the sandwich rule (:mod:`bigearth.slim.sandwich`),
which share each step's masks with the full width.
"""

from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from bigearth.models.fm.csmae import CrossSensorMAE, CSMAEOutput, LossTerms, csmae_objective
from bigearth.models.metadata import ModelMetadata
from bigearth.slim.sandwich import Sandwich, SlimmableConfig
from bigearth.slim.switch import WidthSwitch
from bigearth.tasks.config import SchedulerConfig
from bigearth.tasks.mae.config import PretrainModelConfig, PretrainOptimizerConfig
from bigearth.tasks.module import Split, TaskModule


class CrossSensorPretrainingTask(TaskModule):
    """Pretrain a :class:`~bigearth.models.fm.csmae.CrossSensorMAE` on S1/S2 image pairs.

    The constructor takes plain dicts (checkpoints rebuild the task from its hyper-parameters) and keeps them as
    typed attributes.

    Args:
        model: :class:`~bigearth.tasks.mae.config.PretrainModelConfig` fields.
        metadata: :meth:`ModelMetadata.to_dict` of the inputs (bands, statistics, class order).
        optimizer: :class:`~bigearth.tasks.mae.config.PretrainOptimizerConfig` fields.
        scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.
        slimmable: :class:`~bigearth.slim.sandwich.SlimmableConfig` fields.

    Batches are dicts with ``image`` ``(B, C, H, W)`` normalised S1+S2 images whose channels are the model's
    bands, as :class:`bigearth.data.datamodule.ReBENDataModule` yields them.
    """

    def __init__(
        self,
        model: dict[str, Any],
        metadata: dict[str, Any],
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        slimmable: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model_config = PretrainModelConfig.from_dict(model)
        self.optimizer_config = PretrainOptimizerConfig(**(optimizer or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.lr = self.model_config.lr
        self.network = CrossSensorMAE(config=self.model_config.network(), metadata=ModelMetadata.from_dict(metadata))
        slimmable_config = SlimmableConfig(**(slimmable or {}))
        self.switch = WidthSwitch(self.network) if slimmable_config.enabled else None
        self.sandwich = Sandwich(slimmable_config, self.switch) if self.switch is not None else None

    def objective(self, output: CSMAEOutput) -> LossTerms:
        """Return the configured objective's terms of a forward pass."""
        config = self.model_config
        return csmae_objective(output, temperature=config.temperature, weights=config.loss_weights,
                               normalize_targets=config.normalize_targets)  # fmt: skip

    def sandwich_step(self, images: dict[str, Tensor]) -> tuple[CSMAEOutput, Tensor]:
        """Run the sandwich rule's widths on one batch (same masks for all); return the full output and L_slim."""
        seed = int(torch.randint(2**62, ()).item())
        device = next(iter(images.values())).device

        def run() -> CSMAEOutput:
            return self.switch(images, generator=torch.Generator(device=device).manual_seed(seed))  # type: ignore[misc]

        return self.sandwich(run, step=self.global_step, loss=lambda out: self.objective(out).total,  # type: ignore[misc]
                             target=pooled_features)  # fmt: skip

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the objective of a batch; returns the weighted sum (plus L_slim when slimmable)."""
        images = self.network.encoder.split(batch["image"], self.network.metadata.bands)  # type: ignore[union-attr]
        training = split == "train"
        slimmable = training and self.sandwich is not None
        output, slim = self.sandwich_step(images) if slimmable else (self.network(images), None)
        terms = self.objective(output)
        total = terms.total if slim is None else terms.total + slim
        size = len(batch["image"])
        self.log_loss(total, split, size)
        if slim is not None:
            self.log(f"{split}/slim", slim, on_step=False, on_epoch=True, batch_size=size)
        for name, value in terms.as_dict().items():
            if name != "total":
                self.log(f"{split}/{name}", value, on_step=False, on_epoch=True, batch_size=size,
                         sync_dist=not training)  # fmt: skip
        return total

    def optimizer_options(self) -> dict[str, Any]:
        """The recipe's AdamW betas."""
        return {"betas": tuple(self.optimizer_config.betas)}

    @classmethod
    def from_configs(
        cls,
        model: PretrainModelConfig,
        metadata: ModelMetadata,
        optimizer: PretrainOptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
        slimmable: SlimmableConfig | None = None,
    ) -> "CrossSensorPretrainingTask":
        """Build a task from typed configuration sections."""
        return cls(model=model.to_dict(), metadata=metadata.to_dict(),
                   optimizer=asdict(optimizer or PretrainOptimizerConfig()),
                   scheduler=asdict(scheduler or SchedulerConfig()),
                   slimmable=asdict(slimmable or SlimmableConfig()))  # fmt: skip


def pooled_features(output: CSMAEOutput) -> Tensor:
    """Return the pooled encodings of a forward pass side by side, sensors in name order: ``(B, sensors * d)``."""
    return torch.cat([output.pooled[sensor] for sensor in sorted(output.pooled)], dim=1)
