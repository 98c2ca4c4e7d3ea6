"""Feature extraction, in one place: any model applied to a data split with its own bands and statistics.

Every consumer of a network's features goes through here: the kNN and linear probes, retrieval, slimming (its
probes and batch-norm re-estimation), the foundation models' downstream tasks and the classifier's predictions.
Images are read with the model's bands and class order (checked against the data by :func:`open_dataset`) and
normalised with the model's own statistics (:func:`model_transform`).
"""

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from bigearth.bands import BandStats
from bigearth.data.dataset import ReBENDataset, keep_batch
from bigearth.data.transforms import BatchTransform
from bigearth.models.classifier import SceneClassifier
from bigearth.models.encoders import FeatureEncoder
from bigearth.models.metadata import check_compatible
from bigearth.progress import track
from bigearth.slim.batchnorm import recalibrate_batchnorm


def model_transform(model: SceneClassifier | FeatureEncoder) -> BatchTransform:
    """Return the batch transform a model was trained with (its bands, resampling and statistics)."""
    metadata = model.metadata
    stats = {band: BandStats(mean, std) for band, mean, std in zip(metadata.bands, metadata.mean, metadata.std,
                                                                    strict=True)}  # fmt: skip
    return BatchTransform(metadata.bands, metadata.resample, stats=stats)


def open_dataset(model: SceneClassifier | FeatureEncoder, data: Path, *, split: str | None) -> ReBENDataset:
    """Open ``data`` with the model's bands and class order (raw band groups), and check it against the model.

    Raises:
        MissingDataError: if the data lacks a modality the model reads.
        ConfigError: if the data's band order or class order differs from the model's.
    """
    metadata = model.metadata
    dataset = ReBENDataset(data, split, metadata.bands, class_order=metadata.class_order, resample=metadata.resample,
                           raw=True)  # fmt: skip
    # no statistics check: the raw groups are normalised below with the model's own statistics
    check_compatible(metadata, bands=dataset.bands, class_names=dataset.class_names, source=f"the data in {data}")
    return dataset


@dataclass(frozen=True)
class FeatureSet:
    """Pooled features of one split.

    Attributes:
        patch_ids: the patches, in dataset order.
        views: view name -> ``(N, feature_dim)`` float32 features (``s1``, ``s2`` for a foundation model).
        labels: ``(N, num_classes)`` float32 multi-hot labels.
    """

    patch_ids: list[str]
    views: dict[str, Tensor]
    labels: Tensor

    @property
    def features(self) -> Tensor:
        """The image features: the mean over the views (as :meth:`FeatureEncoder.forward`)."""
        return torch.stack(list(self.views.values())).mean(dim=0)


def iterate_images(
    encoder: FeatureEncoder, dataset: ReBENDataset, *, batch_size: int = 64
) -> Iterator[tuple[dict[str, Any], Tensor]]:
    """Yield ``(batch, images)``: each raw batch and its images normalised as the encoder expects, on its device."""
    device = next(encoder.parameters()).device
    transform = model_transform(encoder).to(device)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=keep_batch)
    for batch in track(loader, description=f"features of {len(dataset)} patches"):
        yield batch, transform({name: group.to(device) for name, group in batch["groups"].items()})


@torch.inference_mode()
def extract_features(
    encoder: FeatureEncoder, data: Path, *, split: str | None, batch_size: int = 64, ids: Sequence[str] | None = None
) -> FeatureSet:
    """Return the pooled features of one split (or of the named patches).

    Args:
        encoder: the encoder (its device is used).
        data: store folder or release root.
        split: ``train``, ``validation``, ``test`` or None (every patch).
        batch_size: patches per forward pass.
        ids: only these patches, in this order.

    Raises:
        MissingDataError: if the data lacks a sensor the encoder reads, or an id is not in the split.
        ConfigError: if the data's band or class order differs from the encoder's.
    """
    dataset = open_dataset(encoder, data, split=split)  # type: ignore[arg-type]
    if ids is not None:
        dataset.restrict(list(ids))
    names: list[str] = []
    views: dict[str, list[Tensor]] = {}
    labels = []
    encoder.eval()
    for batch, images in iterate_images(encoder, dataset, batch_size=batch_size):
        for view, features in encoder.embed_views(images).items():
            views.setdefault(view, []).append(features.float().cpu())
        names.extend(batch["patch_id"])
        labels.append(batch["label"])
    dim = encoder.feature_dim
    return FeatureSet(
        patch_ids=names,
        views={view: torch.cat(parts) for view, parts in views.items()}
        or {view: torch.empty(0, dim) for view in encoder.views},
        labels=torch.cat(labels) if labels else torch.empty(0, len(encoder.metadata.class_names)),
    )


def calibrate(encoder: FeatureEncoder, data: Path, *, batches: int = 8, batch_size: int = 64) -> int:
    """Re-estimate the batch-norm statistics of ``encoder`` from its first training batches; return the images.

    Raises:
        MissingDataError: if the data lacks a sensor the encoder reads.
        ConfigError: if the data's band or class order differs from the encoder's.
    """
    dataset = open_dataset(encoder, Path(data), split="train")  # type: ignore[arg-type]
    images = (images for _, images in iterate_images(encoder, dataset, batch_size=batch_size))
    return recalibrate_batchnorm(encoder, itertools.islice(images, batches))
