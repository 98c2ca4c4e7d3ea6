"""``bigearth train`` for segmentation recipes: fit an encoder + upsampling head on reBEN's reference maps.

Masks are the reference maps as class indices in the nomenclature's table order (the data layer's convention),
255 for unlabelled pixels, which the cross-entropy and the metrics ignore
(:mod:`bigearth.tasks.mae.segmentation_metrics`). Flips and rotations move images and masks together. Early
stopping and the best checkpoint follow validation mIoU; the best checkpoint is tested. The run folder is a
classification run's: ``config.yaml``, ``logs/``, ``checkpoints/``, ``model/`` (:func:`save_segmenter`) and,
last, ``metrics.json``.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torchmetrics.classification import MulticlassConfusionMatrix

from bigearth.atomic import atomic_write_json
from bigearth.data.datamodule import ReBENDataModule
from bigearth.errors import ConfigError
from bigearth.folders.encoders import load_encoder
from bigearth.folders.segmenter import encoder_folder_config, save_segmenter
from bigearth.models.fm.segmentation import Segmenter
from bigearth.models.metadata import check_compatible
from bigearth.nomenclature import CLASSES_TABLE, IGNORE_INDEX
from bigearth.tasks.config import OptimizerConfig, SchedulerConfig
from bigearth.tasks.mae.segmentation_config import (
    SegmentationConfig,
    parse_segmentation_config,
)
from bigearth.tasks.mae.segmentation_metrics import SegmentationReport, segmentation_report
from bigearth.tasks.module import Split, TaskModule
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.trainer import evaluated_entries, fit_and_evaluate, supervised_trainer

MONITOR = "val/miou"


def segmentation_loss(logits: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy over labelled pixels; 0 (with gradient) for a batch without any.

    Args:
        logits: ``(B, C, H, W)``.
        mask: ``(B, H, W)`` int64 class indices, 255 = unlabelled.
    """
    if not (mask != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), mask, ignore_index=IGNORE_INDEX)


class SegmentationTask(TaskModule):
    """Train and evaluate a :class:`~bigearth.models.fm.segmentation.Segmenter`; one step for every split.

    Args:
        network: the segmenter.
        lr: peak learning rate.
        optimizer: optimiser settings.
        scheduler: warm-up and cosine settings.
    """

    def __init__(self, network: Segmenter, *, lr: float, optimizer: OptimizerConfig,
                 scheduler: SchedulerConfig) -> None:  # fmt: skip
        super().__init__()
        self.network = network
        self.lr = lr
        self.optimizer_config = optimizer
        self.scheduler_config = scheduler
        self.confusion = nn.ModuleDict({
            split: MulticlassConfusionMatrix(num_classes=len(CLASSES_TABLE), ignore_index=IGNORE_INDEX)
            for split in ("val", "test")
        })  # fmt: skip
        self.reports: dict[str, SegmentationReport] = {}

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the loss; count pixels of evaluated splits. Returns the loss."""
        logits = self.network(batch["image"])
        mask = batch["mask"]
        loss = segmentation_loss(logits, mask)
        self.log_loss(loss, split, len(mask))
        if split != "train":
            self.confusion[split].update(logits.argmax(dim=1), mask)
        return loss

    def epoch_metrics(self, split: Split) -> None:
        """Keep the split's report and log mIoU (early stopping and checkpoints watch it) and pixel accuracy."""
        confusion = self.confusion[split].compute()
        self.confusion[split].reset()
        if not confusion.sum():
            return
        report = segmentation_report(confusion, CLASSES_TABLE)
        self.reports[split] = report
        self.log(f"{split}/miou", report.miou, prog_bar=True)
        self.log(f"{split}/pixel_accuracy", report.pixel_accuracy)


def build_segmenter(config: SegmentationConfig) -> Segmenter:
    """Load the recipe's encoder (re-initialised if asked) and put a head on it; outputs in table order.

    Raises:
        MissingDataError: if the encoder folder is missing.
    """
    encoder = load_encoder(Path(config.model.encoder))  # type: ignore[arg-type]
    if config.model.reinitialise:
        encoder = encoder.reinitialised()
    encoder.metadata = replace(encoder.metadata, class_order="table", class_names=CLASSES_TABLE)
    return Segmenter(encoder=encoder.train(), channels=config.model.channels,
                     freeze_encoder=config.model.freeze_encoder)  # fmt: skip


def build_segmentation_data(config: SegmentationConfig, network: Segmenter) -> ReBENDataModule:
    """Return the data module with masks, in the encoder's bands, checked against the encoder.

    Raises:
        ConfigError: if no data path is set, or the data's bands or statistics differ from the encoder's.
    """
    data = config.data
    if not data.path:
        raise ConfigError("no data: pass --data PATH (a store or a release root) or set data.path in the recipe")
    datamodule = ReBENDataModule(
        data.path, data.bands if data.bands is not None else network.metadata.bands, batch_size=data.batch_size,
        num_workers=data.num_workers, class_order="table", resample=data.resample,
        include_snow_cloud=data.include_snow_cloud, with_mask=True, device_transform=data.device_transform,
        augment=data.augment,
    )  # fmt: skip
    check_compatible(network.metadata, bands=datamodule.bands, class_names=datamodule.class_names,
                     stats=datamodule.stats, source=f"the data in {data.path}")  # fmt: skip
    return datamodule


def train_segmentation(config: SegmentationConfig, *, out: Path | None = None) -> RunFolder:
    """Train a segmentation recipe and write its run folder (an interrupted run in ``out`` is resumed).

    Raises:
        ConfigError: for an invalid recipe or data that does not fit the encoder.
        MissingDataError: if the encoder folder or the data is missing.
    """
    run, resume = prepare_run(config, out, parse=parse_segmentation_config)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    network = build_segmenter(config)
    datamodule = build_segmentation_data(config, network)
    task = SegmentationTask(network, lr=config.model.lr, optimizer=config.optimizer, scheduler=config.scheduler)
    trainer = supervised_trainer(config, run, early_stopping=config.early_stopping, monitor=MONITOR, label="miou")
    checkpoint = fit_and_evaluate(trainer, task, datamodule, resume_from=run.resume_checkpoint() if resume else None)
    if trainer.is_global_zero:
        save_segmenter(task.network, run.model_dir, encoder_config=encoder_folder_config(Path(config.model.encoder)))  # type: ignore[arg-type]
        atomic_write_json(run.metrics_file, {
            "run": config.name, "task": "segmentation", "encoder": config.model.encoder,
            "reinitialised": config.model.reinitialise, "frozen": config.model.freeze_encoder,
            **evaluated_entries(task.reports, best_checkpoint=checkpoint, monitor=MONITOR,
                                epochs=trainer.current_epoch),
        })  # fmt: skip
    return run
