"""Image-caption pairs of BigEarthNet.txt as a torch ``Dataset`` and a ``LightningDataModule``.

The ``captioning`` rows of a BigEarthNet.txt file (released, or ``bigearth text generate`` output) pair a patch
with a caption; its ``split`` column decides which captions train, validate and test. A dataset item is a patch:

* training batches hold B distinct patches, each with **one** of its captions drawn anew every epoch, so that no
  two captions of one patch meet in a batch as each other's negatives (the contrastive loss would push apart two
  correct descriptions of one image);
* validation and test batches hold patches with **all** their captions (each caption counts once in recall@k);
  the loss pairs each patch with its first caption.

Captions are tokenised once, when the dataset is built. Images come from
:class:`~bigearth.data.dataset.ReBENDataset` (store or release root) as raw band groups that the data module
finishes on the model's device.
"""

from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from bigearth.bands import resolve_bands
from bigearth.data.datamodule import process_loader
from bigearth.data.dataset import ReBENDataset
from bigearth.data.transforms import BatchTransform
from bigearth.errors import MetadataError
from bigearth.models.vqa.tokenizer import QuestionTokenizer
from bigearth.tasks.text_data import TextImageDataModule, TokenRows, patch_rows
from bigearth.text.reader import iter_texts, normalise_text_split
from bigearth.text.schema import CAPTION

#: Columns of :func:`read_captions`.
CAPTION_COLUMNS = ("ID", "patch_id", "split", "caption")


class CaptionBatch(TypedDict):
    """A batch of P patches and T captions of them, as the CLIP task reads it.

    Keys:
        image: ``(P, C, 120, 120)`` float32 normalised images (``groups``, raw band groups, before the data module
            finishes the batch on the device).
        label: ``(P, 19)`` multi-hot labels of the patches (zero-shot evaluation).
        patch_id: the P patch names.
        input_ids: ``(T, L)`` int64 token ids of the captions, L = the longest of them.
        attention_mask: ``(T, L)`` int64, 1 for tokens, 0 for padding.
        caption_image: ``(T,)`` int64, the row of ``image`` each caption describes.
        pair: ``(P,)`` int64, the caption row paired with each patch in the loss.
        caption_id: ``(T,)`` int64 caption row within its split (one id per caption, for de-duplication).
    """

    image: NotRequired[Tensor]
    label: Tensor
    patch_id: list[str]
    input_ids: Tensor
    attention_mask: Tensor
    caption_image: Tensor
    pair: Tensor
    caption_id: Tensor


def read_captions(path: Path) -> pd.DataFrame:
    """Read the ``captioning`` rows of a BigEarthNet.txt file (columns :data:`CAPTION_COLUMNS`, splits normalised).

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it is no parquet file.
        MetadataError: for missing columns, unknown types or splits, no caption at all, or empty captions.
    """
    batches = iter_texts(Path(path), ["patch_id", "output"])
    frame = pd.concat([batch[batch["type"] == CAPTION] for batch in batches], ignore_index=True)
    if frame.empty:
        raise MetadataError(
            f"{path} holds no {CAPTION!r} row: CLIP trains on captions; generate them with `bigearth text generate "
            "--data DATA --out FILE` (without --captions 0) or give the released BigEarthNet.txt file"
        )
    frame = frame.rename(columns={"output": "caption"})
    empty = frame.loc[frame["caption"].isna() | (frame["caption"].astype(str).str.strip() == ""), "ID"]
    if len(empty):
        raise MetadataError(f"{path}: caption row(s) {empty.head(3).tolist()} are empty; regenerate the file")
    frame["split"] = frame["split"].map(normalise_text_split)
    return frame[list(CAPTION_COLUMNS)].reset_index(drop=True)


class CaptionDataset(Dataset):
    """The captioned patches of one split.

    Args:
        captions: the split's captions (:func:`read_captions`).
        images: every patch of the data (raw band groups or finished images).
        tokenizer: the model's tokenizer.
        train: one random caption per patch (else all captions of each patch).

    Raises:
        MissingDataError: naming captions whose patch is not among ``images``.
    """

    def __init__(
        self, captions: pd.DataFrame, images: ReBENDataset, tokenizer: QuestionTokenizer, *, train: bool
    ) -> None:
        self.images, self.train = images, train
        image_row = patch_rows(captions, images, what="caption(s) describe", fix="generate the texts from the same "
                               "data (data.include_snow_cloud=true for snowy or cloudy patches)")  # fmt: skip
        # captions sorted by patch; patch i's captions are by_patch[starts[i]:starts[i + 1]]
        self.by_patch = np.argsort(image_row, kind="stable")
        self.patches, self.starts = np.unique(image_row[self.by_patch], return_index=True)
        self.starts = np.append(self.starts, len(image_row))
        self.encoded = TokenRows(captions["caption"].astype(str).tolist(), tokenizer)
        self.truncated = int(self.encoded.truncated.sum())

    @property
    def num_captions(self) -> int:
        """Number of captions."""
        return len(self.by_patch)

    def __len__(self) -> int:
        return len(self.patches)

    def caption_rows(self, indices: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the caption rows of items, the item each describes, and each item's paired caption position."""
        counts = self.starts[np.asarray(indices) + 1] - self.starts[indices]
        if self.train:
            drawn = (torch.rand(len(indices)).numpy() * counts).astype(np.int64)
            rows = self.by_patch[self.starts[indices] + drawn]
            return rows, np.arange(len(indices)), np.arange(len(indices))
        rows = np.concatenate([self.by_patch[self.starts[i] : self.starts[i + 1]] for i in indices])
        owner = np.repeat(np.arange(len(indices)), counts)
        return rows, owner, np.concatenate([[0], np.cumsum(counts)[:-1]])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """Read a whole batch (see :class:`CaptionBatch`; ``groups`` instead of ``image`` for raw images)."""
        rows, owner, pair = self.caption_rows(indices)
        read = self.images.__getitems__(self.patches[indices].tolist())
        return {
            **{key: read[key] for key in ("groups", "image", "label", "patch_id") if key in read},
            **self.encoded.batch(rows),
            "caption_image": torch.from_numpy(owner.astype(np.int64)),
            "pair": torch.from_numpy(pair.astype(np.int64)),
            "caption_id": torch.from_numpy(rows.astype(np.int64)),
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])


class CLIPDataModule(TextImageDataModule[CaptionDataset]):
    """Loaders over the three splits of a BigEarthNet.txt file's captions and the patches they describe.

    Training batches hold one random caption per patch (a short last batch is dropped); validation and test
    batches all captions of each patch.

    Args:
        path: store folder or release root of the images.
        texts: BigEarthNet.txt parquet file (:func:`read_captions`).
        bands: band preset or band names.
        tokenizer: the model's tokenizer.
        class_order: ``"table"`` or ``"alphabetical"`` order of the labels.
        batch_size: patches per batch.
        num_workers: DataLoader worker processes.
        resample: ``"nearest"`` or ``"bilinear"``.
        include_snow_cloud: keep snowy and cloudy patches.
        device_transform: finish image batches on the device instead of in the workers.

    Raises:
        MissingDataError: if the texts file or the images are missing.
        MetadataError: if the texts file is malformed or holds no caption.
    """

    def __init__(
        self,
        path: Path | str,
        texts: Path | str,
        bands: str | int | list[str] | tuple[str, ...] = "s1s2",
        *,
        tokenizer: QuestionTokenizer,
        class_order: str = "table",
        batch_size: int = 256,
        num_workers: int = 0,
        resample: str = "nearest",
        include_snow_cloud: bool = False,
        device_transform: bool = True,
    ) -> None:
        captions, bands = read_captions(Path(texts)), resolve_bands(bands)
        super().__init__(path, transform=BatchTransform(bands, resample), image_options={
            "bands": bands, "include_snow_cloud": include_snow_cloud, "resample": resample, "raw": device_transform,
            "class_order": class_order,
        }, batch_size=batch_size, num_workers=num_workers)  # fmt: skip
        self.texts, self.captions, self.bands = Path(texts), captions, bands
        self.stats = self.transform.stats
        self.tokenizer = tokenizer

    @property
    def class_names(self) -> tuple[str, ...]:
        """The 19 classes in the labels' order."""
        return tuple(self.images.class_names)

    def split(self, name: str) -> pd.DataFrame:
        """Return the captions of one split (``val`` = ``validation``)."""
        return self.captions[self.captions["split"] == normalise_text_split(name)].reset_index(drop=True)

    def build_dataset(self, split: str) -> CaptionDataset:
        """Return the dataset of a split (one random caption per patch for training)."""
        return CaptionDataset(self.split(split), self.images, self.tokenizer, train=split == "train")

    def _loader(self, split: str, *, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        # training drops a short last batch, as open_clip does (a batch of one pair has nothing to contrast)
        return process_loader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                              drop_last=shuffle and len(dataset) >= self.batch_size)  # fmt: skip
