"""reBEN as a ``LightningDataModule``: train/validation/test loaders whose batches finish on the device."""

from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import torch
from torch.utils.data import DataLoader, Dataset

from bigearth.bands import resolve_bands
from bigearth.data.dataset import ReBENDataset, SampleTransform, finish_batch, keep_batch
from bigearth.data.loader import ThreadedBatchLoader
from bigearth.data.shared import release_batch
from bigearth.data.transforms import BatchTransform, random_flip_rot90
from bigearth.errors import ConfigError
from bigearth.nomenclature import ClassOrder, class_names

LOADERS = ("auto", "threads", "processes")


class ReBENDataModule(L.LightningDataModule):
    """Loaders over the three reBEN splits.

    With ``device_transform`` (default) workers only decode native-size band groups; resampling, normalisation
    and (for training) random flips and 90-degree rotations run on whole batches on the model's device.

    Args:
        path: store folder or release root.
        bands: preset channel count, ``"s1"``, ``"s2"``, ``"s1s2"`` or band names.
        batch_size: samples per batch.
        num_workers: DataLoader worker processes (each opens the LMDB lazily).
        class_order: ``"table"`` or ``"alphabetical"``.
        resample: ``"nearest"`` or ``"bilinear"``.
        include_snow_cloud: keep snowy and cloudy patches.
        with_mask: also load reference-map masks.
        device_transform: finish batches on the device instead of in the workers.
        augment: random dihedral flips/rotations of training batches.
        augmentation: a callable on finished training batch dicts (``image`` ``(B, C, 120, 120)``, ``label``,
            ``mask``), run on the device after the flips, e.g. kornia's ``AugmentationSequential(...,
            data_keys=None)`` (TorchGeo's datamodule ``aug``).
        metadata: folder of the metadata files, if not ``path``.
        loader: ``"threads"`` (:class:`~bigearth.data.loader.ThreadedBatchLoader`: whole batches read by
            ``num_workers`` threads, no inter-process copies), ``"processes"`` (a DataLoader with ``num_workers``
            spawned processes) or ``"auto"``: threads where batches finish on the device and the store has the
            packed layout (the fast path), processes otherwise.
    """

    def __init__(
        self,
        path: Path | str,
        bands: str | int | list[str] | tuple[str, ...] = "s1s2",
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        class_order: ClassOrder = "table",
        resample: str = "nearest",
        include_snow_cloud: bool = False,
        with_mask: bool = False,
        device_transform: bool = True,
        augment: bool = True,
        metadata: Path | str | None = None,
        loader: str = "auto",
        augmentation: SampleTransform | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.bands = resolve_bands(bands)
        self.class_names = class_names(class_order)
        self.transform = BatchTransform(self.bands, resample)
        self.stats = self.transform.stats
        self.options = {
            "bands": self.bands,
            "class_order": class_order,
            "include_snow_cloud": include_snow_cloud,
            "with_mask": with_mask,
            "resample": resample,
            "raw": device_transform,
            "metadata": metadata,
        }
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.augmentation = augmentation
        if loader not in LOADERS:
            raise ConfigError(f"unknown loader {loader!r}: use one of {LOADERS}")
        self.loader = loader
        self.datasets: dict[str, ReBENDataset] = {}

    def dataset(self, split: str) -> ReBENDataset:
        """Return (and cache) the dataset of a split."""
        if split not in self.datasets:
            self.datasets[split] = ReBENDataset(self.path, split, **self.options)
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        """Index the splits the stage needs."""
        splits = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}
        for split in splits.get(stage or "", ("train", "validation", "test")):
            self.dataset(split)

    def _loader(self, split: str, *, shuffle: bool) -> DataLoader | ThreadedBatchLoader:
        dataset = self.dataset(split)
        threads = self.loader == "threads" or (self.loader == "auto" and dataset.raw and dataset.packed is not None)
        if threads:
            return ThreadedBatchLoader(
                dataset, batch_size=self.batch_size, shuffle=shuffle, threads=max(self.num_workers, 1),
                pin_memory=torch.cuda.is_available(),
            )  # fmt: skip
        return process_loader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader | ThreadedBatchLoader:
        """Shuffled training batches."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | ThreadedBatchLoader:
        """Validation batches in metadata order."""
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader | ThreadedBatchLoader:
        """Test batches in metadata order."""
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader | ThreadedBatchLoader:
        """Test batches, for prediction."""
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Finish raw batches on the device; augment training batches (flips, then ``augmentation``)."""
        if "groups" in batch:
            groups = batch["groups"]
            batch = finish_batch(batch, self.transform.to(batch["label"].device))
            release_batch(groups)  # on the CPU the image is made: the worker may reuse the groups' segment
        # a LightningDataModule's trainer is `self.trainer` (`_trainer` is the LightningModule's: it never ran here)
        training = self.trainer is not None and self.trainer.training
        if self.augment and training:
            batch["image"], mask = random_flip_rot90(batch["image"], batch.get("mask"))
            if mask is not None:
                batch["mask"] = mask
        if self.augmentation is not None and training:
            batch = self.augmentation(batch)
        return batch


def process_loader(
    dataset: Dataset, *, batch_size: int, shuffle: bool, num_workers: int, drop_last: bool = False
) -> DataLoader:
    """Return a DataLoader of raw batches (:func:`~bigearth.data.dataset.keep_batch`) in spawned worker processes.

    Workers persist across epochs, memory is pinned when a GPU is present, and ``num_workers=0`` reads in the
    calling process.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=keep_batch,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        multiprocessing_context="spawn" if num_workers > 0 else None,
    )
