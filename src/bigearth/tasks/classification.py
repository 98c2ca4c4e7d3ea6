"""Multi-label scene classification of reBEN patches as a ``LightningModule``.

The recipe of the published reBEN models (DESIGN 2.5): a timm backbone with ``in_chans`` = number of bands,
binary cross-entropy on the 19 logits, AdamW with linear warm-up and cosine decay per step, early stopping and
best-checkpoint selection on the validation macro average precision. Train, validation and test share one step.

Logged keys: ``train/loss`` (per step and epoch), ``{val,test}/loss`` and ``{val,test}/{macro,micro}_{ap,f1,
precision,recall}`` per epoch; macro averages run over the classes present in the split
(:mod:`bigearth.evaluation.metrics`).
"""

from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from bigearth.evaluation.metrics import ClassificationReport, MultilabelScores, classification_report, sample_ids
from bigearth.folders.weights import load_backbone_weights
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata
from bigearth.tasks.config import ModelConfig, OptimizerConfig, SchedulerConfig
from bigearth.tasks.module import Split, TaskModule

#: The metric that early stopping and checkpoint selection maximise.
MONITOR = "val/macro_ap"


class ClassificationTask(TaskModule):
    """Train and evaluate a :class:`~bigearth.models.classifier.SceneClassifier` on multi-hot labels.

    The constructor takes plain dicts (so that checkpoints rebuild the task from their hyper-parameters) and
    keeps them as typed attributes.

    Args:
        metadata: :meth:`ModelMetadata.to_dict` of the network (bands, classes, statistics, backbone).
        model: :class:`~bigearth.tasks.config.ModelConfig` fields.
        optimizer: :class:`~bigearth.tasks.config.OptimizerConfig` fields.
        scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.

    Batches are dicts with ``image`` ``(B, C, H, W)`` float (normalised), ``label`` ``(B, num_classes)`` 0/1 and
    ``patch_id`` (B names), as :class:`bigearth.data.datamodule.ReBENDataModule` yields them.
    """

    def __init__(
        self,
        metadata: dict[str, Any],
        model: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.metadata = ModelMetadata.from_dict(metadata)
        self.model_config = ModelConfig(**(model or {}))
        self.optimizer_config = OptimizerConfig(**(optimizer or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.lr = self.model_config.lr
        #: The last report of each evaluated split, and the test probabilities and targets behind it.
        self.reports: dict[str, ClassificationReport] = {}
        self.test_scores: tuple[Tensor, Tensor] | None = None
        self._weights_loaded = False
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()

    def configure_models(self) -> None:
        """Build the network (random initialisation; local weights are loaded in :meth:`configure_model`)."""
        self.network = SceneClassifier(
            self.metadata, drop_rate=self.model_config.drop_rate, drop_path_rate=self.model_config.drop_path_rate
        )
        if self.model_config.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)

    def configure_losses(self) -> None:
        """Binary cross-entropy on logits, one independent decision per class."""
        self.loss = nn.BCEWithLogitsLoss()

    def configure_metrics(self) -> None:
        """One score collector per evaluated split (synced across processes, each sample once)."""
        self.scores = nn.ModuleDict({"val": MultilabelScores(), "test": MultilabelScores()})

    def configure_model(self) -> None:
        """Load ``model.weights`` when a fresh training run starts (not on resume or evaluation)."""
        if self.model_config.weights and self.fresh_fit and not self._weights_loaded:
            load_backbone_weights(self.network.backbone, self.model_config.weights, bands=self.metadata.bands)
            self._weights_loaded = True

    def forward(self, images: Tensor) -> Tensor:
        """Return logits ``(B, num_classes)`` of normalised images ``(B, C, H, W)``."""
        if self.model_config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.network(images)

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the loss of a batch; collect probabilities of evaluated splits. Returns the loss."""
        labels = batch["label"]
        logits = self(batch["image"]).float()  # the loss and probabilities in float32 under bf16 autocast
        loss = self.loss(logits, labels.float())
        self.log_loss(loss, split, len(labels))
        if split != "train":
            self.scores[split].update(torch.sigmoid(logits), labels, sample_ids(batch["patch_id"], labels.device))
        return loss

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Return ``patch_id`` and ``probabilities`` ``(B, num_classes)`` float32 on the CPU."""
        return {"patch_id": batch["patch_id"], "probabilities": torch.sigmoid(self(batch["image"]).float()).cpu()}

    def epoch_metrics(self, split: Split) -> None:
        """Keep the split's report (and the test probabilities and targets) and log its metrics."""
        probabilities, targets = self.scores[split].compute()
        self.scores[split].reset()
        if not len(probabilities):
            return
        report = classification_report(probabilities, targets, self.metadata.class_names)
        self.reports[split] = report
        if split == "test":
            self.test_scores = (probabilities.cpu(), targets.cpu())
        self.log_report(split, report.scalars(), "macro_ap")

    @classmethod
    def from_configs(
        cls,
        metadata: ModelMetadata,
        model: ModelConfig,
        optimizer: OptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
    ) -> "ClassificationTask":
        """Build a task from typed configuration sections."""
        return cls(
            metadata=metadata.to_dict(),
            model=asdict(model),
            optimizer=asdict(optimizer or OptimizerConfig()),
            scheduler=asdict(scheduler or SchedulerConfig()),
        )
