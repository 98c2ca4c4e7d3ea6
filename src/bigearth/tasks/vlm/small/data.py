"""BigEarthNet.txt rows with their images as token sequences for the built-in VLM: a ``Dataset`` and a data module.

Every row becomes ``[CLS] input [SEP] target [SEP]`` (:mod:`bigearth.models.vlm.tokenizer`): the target is the
``output`` as released, boxes rewritten in whole percent (:func:`~bigearth.models.vlm.tokenizer.write_boxes`).
Sequences longer than ``max_length`` lose the end of the prompt first (counted in ``truncated``). A dataset item
is a patch with all its texts, so that each image is read and encoded once per epoch; the file's ``split`` column
decides which rows train, validate and test.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from bigearth.data.dataset import ReBENDataset
from bigearth.data.transforms import BatchTransform
from bigearth.errors import ConfigError
from bigearth.models.vlm.tokenizer import VLMTokenizer, write_boxes
from bigearth.nomenclature import ClassOrder
from bigearth.tasks.text_data import TextImageDataModule, patch_rows
from bigearth.text.answers import parse_boxes
from bigearth.text.reader import read_texts
from bigearth.text.schema import DETECTION


def model_target(row_type: str, output: str, row_id: str) -> str:
    """Return the text the model learns to write for a released ``output`` (boxes in whole percent)."""
    return write_boxes(parse_boxes(output, row_id, "reference output")) if row_type == DETECTION else str(output)


def read_vlm_texts(path: Path, text_types: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Read a BigEarthNet.txt file (checked) and keep the rows of ``text_types``, with their model targets.

    Raises:
        MissingDataError, MetadataError: for a missing or malformed file.
        ConfigError: if the file has no row of a requested type, or no training row.
    """
    frame = read_texts(Path(path))
    missing = [kind for kind in text_types if not (frame["type"] == kind).any()]
    if missing:
        raise ConfigError(
            f"{path} has no {missing} rows (it has {sorted(set(frame['type']))}); generate the texts with "
            "`bigearth text generate` or set data.text_types to the types the file holds"
        )
    frame = frame[frame["type"].isin(text_types)].reset_index(drop=True)
    if not (frame["split"] == "train").any():
        raise ConfigError(f"{path} has no training rows of {list(text_types)}")
    frame["target"] = [model_target(*row) for row in zip(frame["type"], frame["output"], frame["ID"], strict=True)]
    return frame


class SequenceEncoder:
    """Prompts and targets as ``[CLS] prompt [SEP] target [SEP]`` id rows of at most ``max_length`` tokens.

    Args:
        tokenizer: the model's tokenizer.
        max_length: text tokens per sequence.
    """

    def __init__(self, tokenizer: VLMTokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def prompts(self, prompts: list[str]) -> tuple[list[list[int]], int]:
        """Return ``[CLS] prompt [SEP]`` ids (prompts cut to leave one token to write) and how many were cut."""
        rows = self.tokenizer.pieces(prompts)
        room = self.max_length - 3
        cut = sum(len(row) > room for row in rows)
        return [[self.tokenizer.cls_id, *row[:room], self.tokenizer.sep_id] for row in rows], cut

    def sequences(self, prompts: list[str], targets: list[str]) -> tuple[list[list[int]], list[int], int]:
        """Return full sequences, where each target starts, and how many sequences were cut."""
        sep = self.tokenizer.sep_id
        rows, starts, cut = [], [], 0
        for prompt, target in zip(self.tokenizer.pieces(prompts), self.tokenizer.pieces(targets), strict=True):
            cut += len(prompt) + len(target) + 3 > self.max_length
            target = [*target[: self.max_length - 3], sep]
            prompt = prompt[: self.max_length - 2 - len(target)]
            rows.append([self.tokenizer.cls_id, *prompt, sep, *target])
            starts.append(len(prompt) + 2)
        return rows, starts, int(cut)


def pad(rows: list[list[int]], pad_id: int, *, left: bool = False) -> tuple[Tensor, Tensor]:
    """Return ``(B, L)`` int64 ids and mask of id rows padded to the longest (on the left for generation)."""
    length = max((len(row) for row in rows), default=0)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(rows), length), dtype=torch.int64)
    for i, row in enumerate(rows):
        span = slice(length - len(row), length) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.int64)
        mask[i, span] = 1
    return ids, mask


class VLMDataset(Dataset):
    """The texts of one split, grouped by patch, with the patches' images.

    Args:
        texts: the split's rows (:func:`read_vlm_texts`).
        images: every patch of the data (raw band groups or finished images).
        encoder: the sequence encoder.

    Raises:
        MissingDataError: naming rows whose patch the data lacks.

    Items are patches; a batch (:meth:`__getitems__`) holds ``image_index`` ``(B,)``, ``input_ids`` and
    ``attention_mask`` ``(B, L)`` (right-padded), ``target_mask`` ``(B, L)`` bool (positions whose next token is a
    target token to learn), ``sample`` ``(B,)`` (row numbers in the split), ``patch_id``, ``label``
    ``(P, classes)`` and the images.
    """

    def __init__(self, texts: pd.DataFrame, images: ReBENDataset, encoder: SequenceEncoder) -> None:
        self.texts, self.images = texts.reset_index(drop=True), images
        fix = "generate the texts from the same data, and set data.include_snow_cloud=true for snowy or cloudy ones"
        self.image_row = patch_rows(self.texts, images, what="text(s) are about", fix=fix)
        self.tokens, self.starts, self.truncated = encoder.sequences(list(self.texts["input"]),
                                                                    list(self.texts["target"]))  # fmt: skip
        self.pad_id = encoder.tokenizer.pad_id
        self.patches, self.by_patch = np.unique(self.image_row, return_inverse=True)

    def __len__(self) -> int:
        return len(self.patches)

    def rows(self, indices: list[int]) -> np.ndarray:
        """Return the text rows of the patches ``indices``."""
        return np.flatnonzero(np.isin(self.by_patch, np.asarray(indices, dtype=np.int64)))

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """Read a batch of patches with all their texts."""
        rows = self.rows(indices)
        distinct, image_index = np.unique(self.image_row[rows], return_inverse=True)
        input_ids, attention_mask = pad([self.tokens[row] for row in rows], self.pad_id)
        starts = torch.tensor([self.starts[row] for row in rows]).unsqueeze(1)
        position = torch.arange(input_ids.shape[1]).unsqueeze(0)
        # position t predicts token t + 1: learn the targets (from start - 1) up to the last real token
        target_mask = (position >= starts - 1) & (position < attention_mask.sum(dim=1, keepdim=True) - 1)
        read = self.images.__getitems__(distinct.tolist())
        return {
            "image_index": torch.from_numpy(image_index.astype(np.int64)),
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "target_mask": target_mask,
            "sample": torch.from_numpy(rows),
            "patch_id": [str(name) for name in self.images.index.patch_id[distinct]],
            "label": read["label"],
            **{key: read[key] for key in ("groups", "image") if key in read},
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])


class VLMDataModule(TextImageDataModule[VLMDataset]):
    """Loaders over the three splits of a BigEarthNet.txt file and the images it is about.

    Args:
        path: store folder or release root.
        texts: the rows of the texts file (:func:`read_vlm_texts`).
        transform: the image encoder's batch transform (its bands, resampling and statistics).
        tokenizer: the model's tokenizer.
        max_length: text tokens per sequence.
        batch_size: patches per batch.
        num_workers: DataLoader worker processes.
        include_snow_cloud: keep snowy and cloudy patches.
        device_transform: finish image batches on the device instead of in the workers.
    """

    #: Order of the batches' ``label`` columns (the concept tokens' classes follow it).
    class_order: ClassOrder = "table"

    def __init__(
        self,
        path: Path | str,
        texts: pd.DataFrame,
        transform: BatchTransform,
        tokenizer: VLMTokenizer,
        *,
        max_length: int,
        batch_size: int = 8,
        num_workers: int = 0,
        include_snow_cloud: bool = False,
        device_transform: bool = True,
    ) -> None:
        super().__init__(path, transform=transform, image_options={
            "bands": transform.bands, "include_snow_cloud": include_snow_cloud, "resample": transform.resample,
            "raw": device_transform, "class_order": self.class_order,
        }, batch_size=batch_size, num_workers=num_workers)  # fmt: skip
        self.texts = texts
        self.encoder = SequenceEncoder(tokenizer, max_length)

    def split(self, split: str) -> pd.DataFrame:
        """Return the rows of one split."""
        return self.texts[self.texts["split"] == split].reset_index(drop=True)

    def build_dataset(self, split: str) -> VLMDataset:
        """Return the dataset of a split."""
        return VLMDataset(self.split(split), self.images, self.encoder)
