"""Evaluating a model folder on one split of a store or release root."""

from pathlib import Path

import torch
from torch import Tensor

from bigearth.evaluation.metrics import ClassificationReport, classification_report
from bigearth.evaluation.predict import iterate_dataset
from bigearth.features import open_dataset
from bigearth.models.classifier import SceneClassifier


def evaluate_model(
    model: SceneClassifier, data: Path, *, split: str = "test", batch_size: int = 64, num_workers: int = 0
) -> tuple[ClassificationReport, Tensor, Tensor]:
    """Compute the metrics of a model on one split, each patch once.

    Args:
        model: a loaded model (:func:`bigearth.folders.classifier.load_model`), on the device to use.
        data: store folder or release root.
        split: ``train``, ``validation`` (or ``val``) or ``test``.
        batch_size: patches per forward pass.
        num_workers: DataLoader worker processes.

    Returns:
        The report, and the probabilities ``(N, C)`` and targets ``(N, C)`` behind it.

    Raises:
        ConfigError: if the data's band order or class order differs from the model's.
        MissingDataError: if the data lacks a modality the model reads.
    """
    dataset = open_dataset(model, data, split=split)
    probabilities, targets = [], []
    for batch in iterate_dataset(model, dataset, batch_size=batch_size, num_workers=num_workers):
        probabilities.append(batch["probabilities"])
        targets.append(batch["label"])
    scores, labels = torch.cat(probabilities), torch.cat(targets).long()
    return classification_report(scores, labels, model.metadata.class_names), scores, labels
