"""Question files for VQA training: RSVQAxBEN-style questions or the closed questions of BigEarthNet.txt.

Both are read into one table with the columns :data:`QUESTION_COLUMNS`:

* ``bigearth text rsvqa`` files (:data:`~bigearth.text.schema.RSVQA_COLUMNS`): ``type`` is ``yes/no`` or
  ``land cover``; ``category`` is the question form (``presence 2 and``, ``which classes``...).
* ``bigearth text rsvqa-import`` files (the original RSVQAxBEN questions): the same columns, ``category`` being
  the original type (``presence``, ``LC``) and ``split`` the original split.
* BigEarthNet.txt files, released or from ``bigearth text generate`` (:data:`~bigearth.text.schema.TEXT_COLUMNS`,
  read and checked in batches by :mod:`bigearth.text.reader`): the binary texts (``type`` ``yes/no``) and
  multiple-choice texts (``mcq``; ``type`` ``multiple choice``, answered by the option letter, the options being
  part of the question); ``category`` is the task category (``presence``, ``area``...). Captions and bounding
  boxes have no closed answer and are left out; ``bench`` rows are read but belong to no training split.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.errors import ConfigError, CorruptDataError, MetadataError, MissingDataError
from bigearth.models.vqa.tokenizer import QuestionError
from bigearth.text.reader import iter_texts, normalise_text_split
from bigearth.text.rsvqa import YES_NO
from bigearth.text.schema import BINARY, LEGACY_TYPES, MULTIPLE_CHOICE, RSVQA_COLUMNS, TEXT_COLUMNS, TEXT_SPLITS

QUESTION_COLUMNS = ("ID", "patch_id", "split", "question", "answer", "type", "category")
RSVQA_KIND, TEXTS_KIND = "rsvqa", "bigearthnet.txt"
#: BigEarthNet.txt text types -> question types of the VQA metrics.
TEXT_TYPE_NAMES = {BINARY: YES_NO, MULTIPLE_CHOICE: "multiple choice"}
#: BigEarthNet.txt text types a VQA model can learn (answers from a closed set).
ANSWERABLE_TYPES: tuple[str, ...] = tuple(TEXT_TYPE_NAMES)


def answerable_types(text_types: Sequence[str]) -> tuple[str, ...]:
    """Return the released names of a recipe's ``data.text_types``; earlier names are read with a FutureWarning.

    Raises:
        ConfigError: if a type is no answerable one or none is given.
    """
    released = tuple(LEGACY_TYPES.get(kind, kind) for kind in text_types)
    old = [kind for kind in text_types if kind in LEGACY_TYPES]
    if old:
        warnings.warn(
            f"data.text_types {old} are earlier bigearth names; write {[LEGACY_TYPES[k] for k in old]}",
            FutureWarning,
            stacklevel=2,
        )
    unknown = [kind for kind in released if kind not in ANSWERABLE_TYPES]
    if unknown or not released:
        raise ConfigError(f"data.text_types {list(text_types)} must name some of {list(ANSWERABLE_TYPES)}")
    return released


@dataclass(frozen=True)
class QuestionFile:
    """The questions of one file.

    Attributes:
        frame: one row per question, columns :data:`QUESTION_COLUMNS`, splits ``train``/``validation``/``test``.
        kind: :data:`RSVQA_KIND` or :data:`TEXTS_KIND`.
        path: the file.
    """

    frame: pd.DataFrame
    kind: str
    path: Path

    def split(self, name: str) -> pd.DataFrame:
        """Return the questions of one split (``val`` = ``validation``)."""
        return self.frame[self.frame["split"] == normalise_text_split(name)].reset_index(drop=True)


def question_kind(columns: list[str], path: Path) -> str:
    """Return which kind of question file has these columns.

    Raises:
        MetadataError: if the columns are neither an RSVQA file's nor a BigEarthNet.txt file's.
    """
    if set(RSVQA_COLUMNS) <= set(columns):
        return RSVQA_KIND
    if set(TEXT_COLUMNS) <= set(columns):
        return TEXTS_KIND
    missing_rsvqa = [c for c in RSVQA_COLUMNS if c not in columns]
    missing_texts = [c for c in TEXT_COLUMNS if c not in columns]
    raise MetadataError(
        f"{path} is no question file: it lacks {missing_rsvqa} of an RSVQA file (`bigearth text rsvqa`) and "
        f"{missing_texts} of a BigEarthNet.txt file (`bigearth text generate`)"
    )


def read_questions(path: Path, *, text_types: Sequence[str] = ANSWERABLE_TYPES) -> QuestionFile:
    """Read a question file into the columns :data:`QUESTION_COLUMNS` (split names normalised).

    Args:
        path: an RSVQA or BigEarthNet.txt parquet file.
        text_types: BigEarthNet.txt types to keep (``binary``, ``mcq``; earlier names with a warning).

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it is no parquet file.
        MetadataError: for missing columns, unknown types or splits, missing answers or no question at all.
        QuestionError: naming questions that are empty.
        ConfigError: for text types that are not answerable.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(
            f"question file {path} does not exist; make one with `bigearth text rsvqa --data DATA --out FILE` "
            "and set data.questions"
        )
    try:
        columns = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptDataError(f"{path} is no parquet file ({error})") from error
    kind = question_kind(columns, path)
    if kind == RSVQA_KIND:
        frame = pd.read_parquet(path, columns=["ID", "patch_id", "split", "question", "answer", "type", "form"])
        frame = frame.rename(columns={"form": "category"})
    else:
        types = list(answerable_types(text_types))
        batches = iter_texts(path, ["patch_id", "input", "output"])
        frame = pd.concat([batch[batch["type"].isin(types)] for batch in batches], ignore_index=True)
        frame = frame.rename(columns={"input": "question", "output": "answer"})
        frame["type"] = frame["type"].map(TEXT_TYPE_NAMES)
    frame = frame.reset_index(drop=True)
    if frame.empty:
        raise MetadataError(f"{path} holds no question of the kinds asked for ({kind}, types {list(text_types)})")
    _check(frame, path)
    frame["split"] = frame["split"].map(normalise_text_split)
    return QuestionFile(frame[list(QUESTION_COLUMNS)], kind, path)


def _check(frame: pd.DataFrame, path: Path) -> None:
    """Refuse unknown splits, missing answers and empty questions, naming the rows."""
    splits = frame["split"].replace({"val": "validation"})
    bad = frame.loc[~splits.isin(TEXT_SPLITS), "ID"]
    if len(bad):
        raise MetadataError(f"{path}: question(s) {bad.head(3).tolist()} have a split outside {list(TEXT_SPLITS)}")
    missing = frame.loc[frame["answer"].isna() | frame["patch_id"].isna(), "ID"]
    if len(missing):
        raise MetadataError(f"{path}: question(s) {missing.head(3).tolist()} have no answer or no patch_id")
    empty = frame.loc[frame["question"].isna() | (frame["question"].astype(str).str.strip() == ""), "ID"]
    if len(empty):
        raise QuestionError(f"{path}: question(s) {empty.head(3).tolist()} are empty; regenerate the file")
