"""What the data modules of the text tasks (CLIP, VQA, the built-in VLM) share.

Each reads the patches of one image source (store or release root) once for its three splits, builds one dataset
per split on demand (items whose texts point at those patches), loads raw batches in spawned workers
(:func:`~bigearth.data.datamodule.process_loader`) and finishes raw image batches on the model's device. Texts
find their patches with :func:`patch_rows`; CLIP and VQA tokenise theirs once (:class:`TokenRows`).
"""

from pathlib import Path
from typing import Any, Generic, TypeVar

import lightning as L  # noqa: N812
import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from bigearth.data.datamodule import process_loader
from bigearth.data.dataset import ReBENDataset, finish_batch
from bigearth.data.transforms import BatchTransform
from bigearth.errors import MissingDataError
from bigearth.models.vqa.tokenizer import QuestionTokenizer


def patch_rows(frame: pd.DataFrame, images: ReBENDataset, *, what: str, fix: str) -> np.ndarray:
    """Return the row of each text's patch among ``images``, ``(N,)`` int64.

    Args:
        frame: texts with ``ID`` and ``patch_id`` columns.
        images: every patch of the data.
        what: how the message names the texts and their relation to patches (``"caption(s) describe"``).
        fix: what the message tells the user to do.

    Raises:
        MissingDataError: naming (up to three of) the texts whose patch is not among ``images``.
    """
    position = pd.Series(np.arange(len(images.index.patch_id)), index=images.index.patch_id)
    rows = frame["patch_id"].map(position)
    if rows.isna().any():
        lost = frame.loc[rows.isna(), ["ID", "patch_id"]].head(3).to_dict("records")
        raise MissingDataError(
            f"{int(rows.isna().sum())} {what} patches that the data does not hold (e.g. {lost}); {fix}"
        )
    return rows.to_numpy(dtype=np.int64)


class TokenRows:
    """Texts tokenised once, collated into batches cut to their longest text.

    Args:
        texts: the texts.
        tokenizer: the model's tokenizer.

    Attributes:
        tokens: ``(N, max_length)`` int32 token ids, padded.
        lengths: ``(N,)`` real tokens per text.
        truncated: ``(N,)`` bool, whether a text was cut at ``max_length``.
        pad_id: the padding id.
    """

    def __init__(self, texts: list[str], tokenizer: QuestionTokenizer) -> None:
        encoded = tokenizer.encode(texts)
        self.tokens = encoded.input_ids.to(torch.int32)
        self.lengths = encoded.attention_mask.sum(dim=1)
        self.truncated = encoded.truncated
        self.pad_id = tokenizer.pad_id

    def batch(self, rows: np.ndarray | Tensor) -> dict[str, Tensor]:
        """Return ``input_ids`` and ``attention_mask`` ``(B, L)`` int64 of texts ``rows``, L their longest."""
        length = int(self.lengths[rows].max())
        input_ids = self.tokens[rows, :length].long()
        return {"input_ids": input_ids, "attention_mask": (input_ids != self.pad_id).long()}


#: The dataset of one split.
DatasetT = TypeVar("DatasetT", bound=Dataset)
#: The splits each stage reads.
STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}


class TextImageDataModule(L.LightningDataModule, Generic[DatasetT]):
    """Loaders over the three splits of a text file and the patches it is about.

    A subclass builds a split's dataset (:meth:`build_dataset`) and may change how a split is loaded
    (:meth:`_loader`).

    Args:
        path: store folder or release root of the images.
        transform: the batch transform that finishes raw images (bands, resampling, statistics).
        image_options: keyword arguments of :class:`~bigearth.data.dataset.ReBENDataset` (bands, ``raw``...).
        batch_size: items per batch.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        transform: BatchTransform,
        image_options: dict[str, Any],
        batch_size: int,
        num_workers: int,
    ) -> None:
        super().__init__()
        self.path, self.transform, self.image_options = Path(path), transform, image_options
        self.batch_size, self.num_workers = batch_size, num_workers
        self.datasets: dict[str, DatasetT] = {}
        self._images: ReBENDataset | None = None

    @property
    def images(self) -> ReBENDataset:
        """Every patch of the data (whatever its reBEN split), opened once for the three splits."""
        if self._images is None:
            self._images = ReBENDataset(self.path, None, **self.image_options)
        return self._images

    def build_dataset(self, split: str) -> DatasetT:
        """Return a new dataset of ``split`` (``train``, ``validation`` or ``test``)."""
        raise NotImplementedError(f"{type(self).__name__} builds no dataset")

    def dataset(self, split: str) -> DatasetT:
        """Return (and cache) the dataset of a split."""
        if split not in self.datasets:
            self.datasets[split] = self.build_dataset(split)
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        """Index the splits the stage needs (all three without a stage)."""
        for split in STAGE_SPLITS.get(stage or "", ("train", "validation", "test")):
            self.dataset(split)

    def _loader(self, split: str, *, shuffle: bool) -> DataLoader:
        return process_loader(self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
                              num_workers=self.num_workers)  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches (not shuffled)."""
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches (not shuffled)."""
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Finish raw image batches on the device."""
        if "groups" in batch:
            batch = finish_batch(batch, self.transform.to(batch["input_ids"].device))
        return batch
