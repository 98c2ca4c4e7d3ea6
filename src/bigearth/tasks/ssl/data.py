"""The reBEN data module for pretraining: whole training batches only, no evaluation loops.

The last incomplete training batch is dropped (a batch of one breaks batch norm and leaves GeoRank nothing to
rank), and the views are made by the task (the data module's own flips and rotations are off). The training split
can be cut to part of it (``data.train_size``: the cardinality axis of the GeoRank study), and each patch can come
with another acquisition of the same place (``temporal``: :class:`bigearth.data.locations.TemporalPairs`).
"""

from typing import Any

import lightning as L  # noqa: N812
import numpy as np
from torch.utils.data import DataLoader

from bigearth.data.datamodule import ReBENDataModule, process_loader
from bigearth.data.dataset import ReBENDataset
from bigearth.data.locations import TemporalPairs, split_pairs
from bigearth.errors import ConfigError
from bigearth.tasks.ssl.config import SSLDataConfig, TemporalConfig
from bigearth.tasks.train import build_datamodule


def subset_size(train_size: float | int | None, available: int, *, where: str = "data.train_size") -> int:
    """Return how many training patches ``train_size`` (a fraction in (0, 1], a count, or None: all) means.

    Raises:
        ConfigError: if a count exceeds the split or a fraction leaves no patch.
    """
    if train_size is None:
        return available
    count = round(train_size * available) if isinstance(train_size, float) else int(train_size)
    if count > available:
        raise ConfigError(f"{where} = {train_size} asks for {count} training patches but the training split has "
                          f"{available}; use a count up to {available} or a fraction")  # fmt: skip
    if count < 1:
        raise ConfigError(f"{where} = {train_size} of {available} training patches leaves none; use a larger value")
    return count


class PretrainingDataModule(ReBENDataModule):
    """:class:`~bigearth.data.datamodule.ReBENDataModule` whose training loader drops the last incomplete batch.

    It offers no validation, test or prediction loaders (Lightning then runs no such loops).

    Args:
        args: the arguments of :class:`~bigearth.data.datamodule.ReBENDataModule`.
        train_size: a fraction in (0, 1] or a number of training patches to keep (None: all).
        subset_seed: seed of the permutation whose first ``train_size`` patches are kept.
        temporal: ``single_date`` policy of temporal pairs (:data:`~bigearth.data.locations.SINGLE_DATE_POLICIES`),
            or None for single patches.
        kwargs: keyword arguments of :class:`~bigearth.data.datamodule.ReBENDataModule`.
    """

    val_dataloader = L.LightningDataModule.val_dataloader
    test_dataloader = L.LightningDataModule.test_dataloader
    predict_dataloader = L.LightningDataModule.predict_dataloader

    def __init__(
        self, *args: Any, train_size: float | int | None = None, subset_seed: int = 0, temporal: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.train_size = train_size
        self.subset_seed = subset_seed
        self.temporal = temporal

    def dataset(self, split: str) -> ReBENDataset:
        """Return (and cache) the dataset of a split; the training split cut to ``train_size`` patches.

        Raises:
            ConfigError: if ``train_size`` asks for more patches than the training split has.
        """
        if split == "train" and split not in self.datasets and self.train_size is not None:
            train = ReBENDataset(self.path, split, **self.options)
            keep = subset_size(self.train_size, len(train))
            order = np.random.default_rng(self.subset_seed).permutation(len(train))[:keep]
            self.datasets[split] = train.restrict([str(name) for name in train.index.patch_id[np.sort(order)]])
        return super().dataset(split)

    def training_source(self) -> ReBENDataset | TemporalPairs:
        """Return what the training batches are drawn from: the training split, or its temporal pairs.

        Raises:
            ConfigError: if temporal views are asked of data whose places were imaged on one date each.
        """
        train = self.dataset("train")
        return TemporalPairs(train, single_date=self.temporal) if self.temporal else train

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches of exactly ``batch_size`` patches (with ``image_other`` when temporal).

        Raises:
            ConfigError: if the training split holds fewer patches (or pairs) than one batch, or temporal views
                are asked of data whose places were imaged on one date each.
        """
        source = self.training_source()
        if len(source) < self.batch_size:
            what = "patches with another date" if self.temporal else "patches"
            raise ConfigError(f"the training split of {self.path} has {len(source)} {what}, fewer than one batch of "
                              f"{self.batch_size}; lower data.batch_size")  # fmt: skip
        return process_loader(source, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                              drop_last=True)  # fmt: skip

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Finish the batch on the device, then split temporal pairs into ``image`` and ``image_other``."""
        return split_pairs(super().on_after_batch_transfer(batch, dataloader_idx))


def build_pretraining_datamodule(data: SSLDataConfig, temporal: TemporalConfig | None = None) -> PretrainingDataModule:
    """Return the recipe's data module (views are made by the task: the module's own augmentation is off).

    Raises:
        ConfigError: if no data path is configured, or for unknown bands or class orders.
        MissingDataError: if the path is neither a store nor a release root.
    """
    return build_datamodule(
        data, PretrainingDataModule, augment=False, train_size=data.train_size, subset_seed=data.subset_seed,
        temporal=temporal.single_date if temporal is not None and temporal.enabled else None,
    )  # fmt: skip
