"""Questions with their images as a torch ``Dataset`` and a ``LightningDataModule``.

A batch holds B questions about P <= B distinct patches: each patch is read (and later encoded) once and every
question points at its image through ``image_index``. Questions are tokenised once, when the dataset is built
(the distinct question strings only: RSVQAxBEN's are templates), and a batch is cut to its longest question.
With ``group_by_image`` a dataset item is a patch with all its questions, so an epoch reads and encodes each
image once; validation and test batches are always grouped so (each question still counts once).

The images come from :class:`~bigearth.data.dataset.ReBENDataset` (store or release root) as raw band groups that
the data module finishes on the model's device with the recipe's :class:`~bigearth.data.transforms.BatchTransform`.
The question file's split decides which questions train, validate and test, not reBEN's split of the images: the
original RSVQAxBEN questions (``bigearth text rsvqa-import``) keep their own latitude split, so one image index
over every patch serves the three splits.
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
from bigearth.data.transforms import BatchTransform, random_flip_rot90
from bigearth.errors import MissingDataError
from bigearth.models.vqa.answers import DEFAULT_NUM_ANSWERS, AnswerVocabulary
from bigearth.models.vqa.tokenizer import QuestionTokenizer
from bigearth.tasks.text_data import TextImageDataModule, TokenRows, patch_rows
from bigearth.tasks.vqa.questions import ANSWERABLE_TYPES, TEXT_TYPE_NAMES, QuestionFile, read_questions
from bigearth.text.rsvqa import YES_NO


class QuestionBatch(TypedDict):
    """A batch of B questions about P patches, Q <= B of them distinct, as the VQA task reads it.

    Keys:
        image: ``(P, C, 120, 120)`` float32 normalised images (``groups``, raw band groups, before the data module
            finishes the batch on the device); absent when images are not read (question-only models).
        patch_id: the P patch names.
        image_index: ``(B,)`` int64, the row of ``image`` each question is about.
        question_index: ``(B,)`` int64, the row of ``input_ids`` holding each question's tokens.
        input_ids: ``(Q, L)`` int64 token ids of the distinct questions, L = the longest of them.
        attention_mask: ``(Q, L)`` int64, 1 for tokens, 0 for padding.
        answer: ``(B,)`` int64 answer index, -1 for an answer outside the vocabulary.
        type: ``(B,)`` int64 index into the data module's ``types``.
        category: ``(B,)`` int64 index into the data module's ``categories``.
        sample: ``(B,)`` int64 question row within its split (one id per question, for de-duplication).
    """

    image: NotRequired[Tensor]
    patch_id: list[str]
    image_index: Tensor
    input_ids: Tensor
    attention_mask: Tensor
    answer: Tensor
    type: Tensor
    category: Tensor
    sample: Tensor


class VQADataset(Dataset):
    """The questions of one split, with their patches' images.

    Args:
        questions: the split's questions (:data:`~bigearth.tasks.vqa.questions.QUESTION_COLUMNS`).
        images: the split's patches (raw band groups or finished images).
        tokenizer: the model's tokenizer.
        answers: the model's answer vocabulary.
        types: question type names (indices of ``type``).
        categories: question category names (indices of ``category``).
        group_by_image: one item = one patch with all its questions (else one item = one question).
        read_images: read the images (False for question-only models).

    Raises:
        MissingDataError: naming questions whose patch is not among ``images`` (a snowy or cloudy patch left out,
            or questions of other data).
    """

    def __init__(
        self,
        questions: pd.DataFrame,
        images: ReBENDataset,
        tokenizer: QuestionTokenizer,
        answers: AnswerVocabulary,
        *,
        types: tuple[str, ...],
        categories: tuple[str, ...],
        group_by_image: bool = False,
        read_images: bool = True,
    ) -> None:
        self.images = images
        self.group_by_image = group_by_image
        self.read_images = read_images
        self.image_row = patch_rows(questions, images, what="question(s) are about", fix=(
            "generate the questions from the same data, and set data.include_snow_cloud=true for questions about "
            "snowy or cloudy patches (the original RSVQAxBEN has them)"))  # fmt: skip
        codes, distinct = pd.factorize(questions["question"])
        self.encoded = TokenRows(list(distinct), tokenizer)  # each distinct question once
        self.question_code = codes.astype(np.int64)
        self.truncated = int(self.encoded.truncated[torch.from_numpy(codes)].sum())
        answer_codes, distinct_answers = pd.factorize(questions["answer"])
        lookup = np.array([answers.index(str(answer)) for answer in distinct_answers], dtype=np.int64)
        self.answer = lookup[answer_codes]
        self.type = pd.Categorical(questions["type"], categories=list(types)).codes.astype(np.int64)
        self.category = pd.Categorical(questions["category"], categories=list(categories)).codes.astype(np.int64)
        # questions sorted by image, and where each image's questions start: the items of group_by_image
        self.by_image = np.argsort(self.image_row, kind="stable")
        boundaries = np.flatnonzero(np.diff(self.image_row[self.by_image])) + 1
        self.starts = (
            np.concatenate([[0], boundaries, [len(self.by_image)]]) if len(self.by_image) else np.zeros(1, int)
        )

    @property
    def num_questions(self) -> int:
        """Number of questions."""
        return len(self.image_row)

    @property
    def num_images(self) -> int:
        """Number of distinct patches asked about."""
        return len(self.starts) - 1

    def __len__(self) -> int:
        return self.num_images if self.group_by_image else self.num_questions

    def question_rows(self, indices: list[int]) -> np.ndarray:
        """Return the question rows of dataset items (items are questions, or images with all their questions)."""
        if not self.group_by_image:
            return np.asarray(indices, dtype=np.int64)
        return np.concatenate([self.by_image[self.starts[i] : self.starts[i + 1]] for i in indices])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """Read a whole batch (see :class:`QuestionBatch`; ``groups`` instead of ``image`` for raw images)."""
        rows = self.question_rows(indices)
        distinct, image_index = np.unique(self.image_row[rows], return_inverse=True)
        codes, question_index = np.unique(self.question_code[rows], return_inverse=True)
        batch: dict[str, Any] = {
            "image_index": torch.from_numpy(image_index.astype(np.int64)),
            "question_index": torch.from_numpy(question_index.astype(np.int64)),
            **self.encoded.batch(torch.from_numpy(codes)),
            "answer": torch.from_numpy(self.answer[rows]),
            "type": torch.from_numpy(self.type[rows]),
            "category": torch.from_numpy(self.category[rows]),
            "sample": torch.from_numpy(rows),
            "patch_id": [str(name) for name in self.images.index.patch_id[distinct]],
        }
        if self.read_images:
            read = self.images.__getitems__(distinct.tolist())
            batch.update({key: read[key] for key in ("groups", "image") if key in read})
        return batch

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])


def question_types(frame: pd.DataFrame) -> tuple[str, ...]:
    """Return the question types of a file in report order: yes/no, then the others alphabetically."""
    found = set(frame["type"])
    known = [YES_NO, *sorted(set(TEXT_TYPE_NAMES.values()) - {YES_NO})]
    return tuple([name for name in known if name in found] + sorted(found - set(known)))


class VQADataModule(TextImageDataModule[VQADataset]):
    """Loaders over the three splits of a question file and the images it asks about.

    The answer vocabulary is built from the training questions when none is given, and the question types and
    categories from the whole file, so that every split reports on the same names.

    Args:
        path: store folder or release root of the images.
        questions: question parquet file (:func:`~bigearth.tasks.vqa.questions.read_questions`).
        bands: band preset, ``"s2"``, ``"s1s2"`` or band names.
        tokenizer: the model's tokenizer.
        answers: the answer vocabulary; None: the ``num_answers`` most frequent training answers.
        num_answers: K when the vocabulary is built here.
        text_types: BigEarthNet.txt text types to keep (``binary``, ``mcq``).
        batch_size: questions per training batch (images with ``group_by_image``).
        num_workers: DataLoader worker processes.
        group_by_image: training items are images with all their questions.
        resample: ``"nearest"`` or ``"bilinear"``.
        include_snow_cloud: keep snowy and cloudy patches.
        device_transform: finish image batches on the device instead of in the workers.
        augment: random flips and 90-degree rotations of training images.
        read_images: read images (False for question-only models).

    Raises:
        MissingDataError: if the question file or the images are missing.
        MetadataError: if the question file is malformed or has no training question.
    """

    def __init__(
        self,
        path: Path | str,
        questions: Path | str,
        bands: str | int | list[str] | tuple[str, ...] = 10,
        *,
        tokenizer: QuestionTokenizer,
        answers: AnswerVocabulary | None = None,
        num_answers: int = DEFAULT_NUM_ANSWERS,
        text_types: list[str] | tuple[str, ...] = ANSWERABLE_TYPES,
        batch_size: int = 512,
        num_workers: int = 0,
        group_by_image: bool = False,
        resample: str = "nearest",
        include_snow_cloud: bool = False,
        device_transform: bool = True,
        augment: bool = False,
        read_images: bool = True,
    ) -> None:
        question_file, bands = read_questions(Path(questions), text_types=text_types), resolve_bands(bands)
        super().__init__(path, transform=BatchTransform(bands, resample), image_options={
            "bands": bands, "include_snow_cloud": include_snow_cloud, "resample": resample, "raw": device_transform,
        }, batch_size=batch_size, num_workers=num_workers)  # fmt: skip
        self.questions: QuestionFile = question_file
        self.bands = bands
        self.stats = self.transform.stats
        self.tokenizer = tokenizer
        train = self.questions.split("train")
        if answers is None:
            if train.empty:
                raise MissingDataError(f"{self.questions.path} has no training question to build answers from")
            answers = AnswerVocabulary.build(train["answer"], size=num_answers)
        self.answers = answers
        self.types = question_types(self.questions.frame)
        self.categories = tuple(sorted(set(self.questions.frame["category"])))
        self.group_by_image, self.augment, self.read_images = group_by_image, augment, read_images

    def build_dataset(self, split: str) -> VQADataset:
        """Return the dataset of a split; only training follows ``group_by_image``."""
        return VQADataset(
            self.questions.split(split), self.images, self.tokenizer, self.answers, types=self.types,
            categories=self.categories, group_by_image=self.group_by_image or split != "train",
            read_images=self.read_images,
        )  # fmt: skip

    @property
    def questions_per_image(self) -> float:
        """Mean number of questions per patch in the file."""
        frame = self.questions.frame
        return len(frame) / max(1, frame["patch_id"].nunique())

    def _loader(self, split: str, *, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        size = self.batch_size
        if dataset.group_by_image and not self.group_by_image:  # evaluation: about as many questions as training
            size = max(1, round(self.batch_size / self.questions_per_image))
        return process_loader(dataset, batch_size=size, shuffle=shuffle, num_workers=self.num_workers)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Finish raw image batches on the device; augment training images."""
        batch = super().on_after_batch_transfer(batch, dataloader_idx)
        trainer = getattr(self, "_trainer", None)
        if self.augment and "image" in batch and trainer is not None and trainer.training:
            batch["image"], _ = random_flip_rot90(batch["image"])
        return batch
