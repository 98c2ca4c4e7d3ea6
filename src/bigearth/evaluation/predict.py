"""Applying a model folder to data: a store or release root, or loose GeoTIFF patch folders.

Inputs go through the training batch transform (:class:`bigearth.data.transforms.BatchTransform`) with the
model's own bands, resampling and normalisation statistics, after the data's band and class order were checked
against the model (:func:`bigearth.models.metadata.check_compatible`).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from bigearth.data.dataset import ReBENDataset, keep_batch
from bigearth.data.transforms import BatchTransform
from bigearth.errors import ConfigError, CorruptDataError
from bigearth.evaluation.loose_patches import pair_patches, read_groups
from bigearth.evaluation.metrics import THRESHOLD
from bigearth.features import model_transform, open_dataset
from bigearth.models.classifier import SceneClassifier
from bigearth.progress import track


def resolve_device(device: str = "auto") -> torch.device:
    """Return the named device; ``auto`` is ``cuda`` when a GPU exists, else ``cpu``.

    Raises:
        ConfigError: for a name torch does not know, or a CUDA device this machine does not have.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"--device {device!r} is no device: use auto, cpu, cuda or cuda:N") from error
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"--device {device!r}: torch sees {count} CUDA GPU(s) on this machine; use auto or cpu")
    return chosen


@torch.inference_mode()
def predict_groups(
    model: SceneClassifier, groups: dict[str, Tensor], transform: BatchTransform, names: list[str]
) -> Tensor:
    """Return probabilities ``(B, num_classes)`` float32 (CPU) of a batch of raw band groups.

    Args:
        model: the classifier.
        groups: raw band groups, ``{group: (B, bands, s, s)}``.
        transform: the model's batch transform.
        names: the ``B`` patch names, named in the error.

    Raises:
        CorruptDataError: naming the patches whose probabilities are NaN (non-finite input values or weights).
    """
    device = next(model.parameters()).device
    images = transform.to(device)({name: group.to(device, non_blocking=True) for name, group in groups.items()})
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(images)
    probabilities = torch.sigmoid(logits.float()).cpu()
    broken = [name for name, row in zip(names, probabilities.isnan().any(dim=1).tolist(), strict=True) if row]
    if broken:
        raise CorruptDataError(
            f"the model gives NaN probabilities for {len(broken)} patch(es), e.g. {broken[:3]}: their input holds NaN "
            "or infinite values (run `bigearth verify` on the data) or the model's weights are not finite"
        )
    return probabilities


def iterate_dataset(
    model: SceneClassifier, dataset: ReBENDataset, *, batch_size: int = 64, num_workers: int = 0
) -> Iterator[dict[str, Any]]:
    """Yield ``{"patch_id", "probabilities", "label"}`` batch by batch, in dataset order."""
    transform = model_transform(model)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=keep_batch,
                        multiprocessing_context="spawn" if num_workers else None)  # fmt: skip
    for batch in track(loader, description=f"predicting {len(dataset)} patches"):
        yield {
            "patch_id": batch["patch_id"],
            "probabilities": predict_groups(model, batch["groups"], transform, list(batch["patch_id"])),
            "label": batch["label"],
        }


def predict_dataset(
    model: SceneClassifier, data: Path, *, ids: list[str] | None = None, batch_size: int = 64, num_workers: int = 0
) -> tuple[list[str], Tensor]:
    """Predict every patch of a store or release root (all splits), or the named ones.

    Returns:
        Patch ids and their probabilities ``(N, num_classes)``.
    """
    dataset = open_dataset(model, data, split=None)
    if ids:
        dataset.restrict(list(ids))
    names: list[str] = []
    chunks = []
    for batch in iterate_dataset(model, dataset, batch_size=batch_size, num_workers=num_workers):
        names += batch["patch_id"]
        chunks.append(batch["probabilities"])
    return names, torch.cat(chunks) if chunks else torch.empty(0, model.num_classes)


def predict_folders(
    model: SceneClassifier, s2_dir: Path | None, s1_dir: Path | None, *, batch_size: int = 64
) -> tuple[list[str], Tensor]:
    """Predict loose GeoTIFF patch folders (see :mod:`bigearth.evaluation.loose_patches`).

    Returns:
        Patch names (the S2 folder names, or S1 for S1-only models) and probabilities ``(N, num_classes)``.
    """
    patches = pair_patches(s2_dir, s1_dir, model.metadata.bands)
    transform = model_transform(model)
    chunks = []
    for start in range(0, len(patches), batch_size):
        chunk = patches[start : start + batch_size]
        groups = read_groups(chunk, model.metadata.bands)
        chunks.append(predict_groups(model, groups, transform, [patch.name for patch in chunk]))
    return [patch.name for patch in patches], torch.cat(chunks)


def predictions_frame(
    patch_ids: list[str], probabilities: Tensor, class_names: tuple[str, ...], *, threshold: float = THRESHOLD
) -> pd.DataFrame:
    """Return a table of predictions, one row per patch.

    Columns: ``patch_id``, ``labels`` (the predicted class names joined by ``|``), then one probability column
    per class, named by the class, in the model's class order.
    """
    frame = pd.DataFrame(probabilities.numpy(), columns=list(class_names))
    predicted = probabilities >= threshold
    labels = ["|".join(name for name, on in zip(class_names, row, strict=True) if on) for row in predicted.tolist()]
    frame.insert(0, "labels", labels)
    frame.insert(0, "patch_id", patch_ids)
    return frame
