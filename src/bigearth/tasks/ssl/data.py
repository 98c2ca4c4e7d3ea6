"""The reBEN data module for pretraining: whole training batches only, no evaluation loops.

The last incomplete training batch is dropped (a batch of one breaks batch norm and leaves GeoRank nothing to
rank), and the views are made by the task (the data module's own flips and rotations are off).
"""

import lightning as L  # noqa: N812
from torch.utils.data import DataLoader

from bigearth.data.datamodule import ReBENDataModule, process_loader
from bigearth.errors import ConfigError
from bigearth.tasks.ssl.config import SSLDataConfig
from bigearth.tasks.train import build_datamodule


class PretrainingDataModule(ReBENDataModule):
    """:class:`~bigearth.data.datamodule.ReBENDataModule` whose training loader drops the last incomplete batch.

    It offers no validation, test or prediction loaders (Lightning then runs no such loops).
    """

    val_dataloader = L.LightningDataModule.val_dataloader
    test_dataloader = L.LightningDataModule.test_dataloader
    predict_dataloader = L.LightningDataModule.predict_dataloader

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches of exactly ``batch_size`` patches.

        Raises:
            ConfigError: if the training split holds fewer patches than one batch.
        """
        train = self.dataset("train")
        if len(train) < self.batch_size:
            raise ConfigError(f"the training split of {self.path} has {len(train)} patches, fewer than one batch of "
                              f"{self.batch_size}; lower data.batch_size")  # fmt: skip
        return process_loader(train, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                              drop_last=True)  # fmt: skip


def build_pretraining_datamodule(data: SSLDataConfig) -> PretrainingDataModule:
    """Return the recipe's data module (views are made by the task: the module's own augmentation is off).

    Raises:
        ConfigError: if no data path is configured, or for unknown bands or class orders.
        MissingDataError: if the path is neither a store nor a release root.
    """
    return build_datamodule(data, PretrainingDataModule, augment=False)
