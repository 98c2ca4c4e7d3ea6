"""Fine-tuning any bigearth encoder for scene classification: the encoder plus a linear head, trained end to end.

The recipe is the classification recipe's (DESIGN 2.5) at a smaller scale: BCE on the 19 logits, AdamW with
warm-up and cosine decay, flips and rotations; metrics are :mod:`bigearth.evaluation.metrics`'s, on the test
split after the last epoch.
"""

from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import torch
from torch import Tensor, nn

from bigearth.data.datamodule import ReBENDataModule
from bigearth.evaluation.metrics import ClassificationReport, MultilabelScores, classification_report, sample_ids
from bigearth.models.encoders import FeatureEncoder
from bigearth.models.metadata import check_compatible
from bigearth.tasks.schedule import optimizer_with_schedule


class EncoderClassifier(nn.Module):
    """A feature encoder and a linear layer: images ``(B, C, H, W)`` -> logits ``(B, num_classes)``."""

    def __init__(self, encoder: FeatureEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.feature_dim, len(encoder.metadata.class_names))

    def forward(self, images: Tensor) -> Tensor:
        """Return class logits."""
        return self.head(self.encoder(images))


class FineTuneTask(L.LightningModule):
    """BCE fine-tuning of an :class:`EncoderClassifier`; one step for training and testing."""

    def __init__(self, network: EncoderClassifier, *, lr: float, weight_decay: float = 0.05,
                 warmup_steps: int = 10) -> None:  # fmt: skip
        super().__init__()
        self.network = network
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.loss = nn.BCEWithLogitsLoss()
        self.scores = MultilabelScores()
        self.report: ClassificationReport | None = None

    def shared_step(self, batch: dict[str, Any], training: bool) -> Tensor:
        """Loss of a batch; test probabilities are collected."""
        logits = self.network(batch["image"]).float()
        loss = self.loss(logits, batch["label"].float())
        self.log("train/loss" if training else "test/loss", loss, batch_size=len(logits))
        if not training:
            self.scores.update(torch.sigmoid(logits), batch["label"], sample_ids(batch["patch_id"], logits.device))
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """One optimisation step's loss."""
        return self.shared_step(batch, True)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Test loss; probabilities are collected."""
        return self.shared_step(batch, False)

    def on_test_epoch_end(self) -> None:
        """Compute the test report."""
        probabilities, targets = self.scores.compute()
        self.scores.reset()
        self.report = classification_report(probabilities, targets, self.network.encoder.metadata.class_names)

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW and warm-up + cosine per step."""
        return optimizer_with_schedule(
            self.network,
            name="adamw",
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            total_steps=int(self.trainer.estimated_stepping_batches),
            final_fraction=0.1,
        )


def fine_tune(
    encoder: FeatureEncoder, data: Path, *, epochs: int = 5, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
    accelerator: str = "auto",
) -> ClassificationReport:  # fmt: skip
    """Fine-tune the encoder with a linear head on the training split; return the test metrics.

    Raises:
        ConfigError: if the data's bands, classes or statistics differ from the encoder's.
        MissingDataError: if the data lacks a sensor the encoder reads.
    """
    L.seed_everything(seed, verbose=False)
    metadata = encoder.metadata
    datamodule = ReBENDataModule(data, metadata.bands, batch_size=batch_size, class_order=metadata.class_order,
                                 resample=metadata.resample)  # fmt: skip
    check_compatible(metadata, bands=datamodule.bands, class_names=datamodule.class_names, stats=datamodule.stats,
                     source=f"the data in {data}")  # fmt: skip
    task = FineTuneTask(EncoderClassifier(encoder.train()), lr=lr)
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    trainer.test(task, datamodule=datamodule, verbose=False)
    return task.report  # type: ignore[return-value]
