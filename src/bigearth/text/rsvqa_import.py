"""The original RSVQAxBEN question files (Lobry et al., 2021), read into a bigearth question file.

The files ``RSVQAxBEN_QA_{train,val,test}.json`` are read as ConfigILM's reader reads them [0]
(``configilm/extra/DataSets/RSVQAxBEN_DataSet.py``, ``prepare_split``): one JSON object per file whose values
are questions ``{"S2_name", "question", "answer", "type"}`` (keys: question ids), the split given by the file
name, ``type`` ``presence`` (yes/no) or ``LC`` (land cover). ``S2_name`` is the BigEarthNet v1 patch name, mapped
to its reBEN patch through the ``s2v1_name`` column of both reBEN metadata files (snowy and cloudy patches are only
in the second). The result has the columns :data:`~bigearth.text.schema.RSVQA_COLUMNS`: ``ID`` is the question
id, ``type`` ``yes/no`` or ``land cover`` (the names of bigearth's VQA metrics), ``form`` the original ``type``,
``split`` the original split (RSVQAxBEN's latitude split, not reBEN's). Questions whose image is in neither
metadata file are left out and counted.

[0] https://github.com/lhackel-tub/ConfigILM
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.atomic import atomic_write_bytes
from bigearth.data.layout import METADATA_FILE, SNOW_CLOUD_METADATA_FILE
from bigearth.data.metadata import read_metadata
from bigearth.errors import CorruptDataError, MetadataError, MissingDataError
from bigearth.text.rsvqa import LAND_COVER, RSVQA_SCHEMA, YES_NO

#: Original ``type`` values -> bigearth question types.
ORIGINAL_TYPES: dict[str, str] = {"presence": YES_NO, "LC": LAND_COVER}
#: Keys of one original question.
QUESTION_KEYS: tuple[str, ...] = ("S2_name", "question", "answer", "type")
_FILE_NAME = re.compile(r"RSVQAxBEN_QA_(train|val|test)\b")
_SPLITS = {"train": "train", "val": "validation", "test": "test"}


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_rsvqaxben` read and wrote.

    Attributes:
        questions: questions read.
        matched_questions: questions written (their image found a reBEN patch).
        images: distinct v1 images asked about.
        matched_images: of those, the images found in the reBEN metadata.
        per_split: questions written per split.
        unmatched_example: one v1 name not found, or None.
    """

    questions: int
    matched_questions: int
    images: int
    matched_images: int
    per_split: dict[str, int]
    unmatched_example: str | None


def split_of(path: Path) -> str:
    """Return the split of an original question file from its name (``RSVQAxBEN_QA_val.json`` -> validation).

    Raises:
        MetadataError: if the name holds no ``RSVQAxBEN_QA_{train,val,test}``.
    """
    match = _FILE_NAME.search(Path(path).name)
    if match is None:
        raise MetadataError(
            f"{path}: the split is read from the file name, which must hold RSVQAxBEN_QA_train, RSVQAxBEN_QA_val "
            "or RSVQAxBEN_QA_test as released; rename the file"
        )
    return _SPLITS[match[1]]


def read_original(path: Path) -> pd.DataFrame:
    """Read one original question file into ``ID``, ``S2_name``, ``question``, ``answer``, ``type``, ``split``.

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it is no JSON object of question objects, or a question lacks a key.
        MetadataError: for a split-less file name, an unknown ``type`` or an empty file.
    """
    path = Path(path)
    split = split_of(path)
    if not path.is_file():
        raise MissingDataError(f"{path} does not exist; give the RSVQAxBEN_QA_{{train,val,test}}.json files")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CorruptDataError(f"{path} cannot be read as JSON ({error}); give the file as released") from error
    if not isinstance(data, dict):
        raise CorruptDataError(f"{path} is no JSON object of questions (question id -> question) as released")
    if not data:
        raise MetadataError(f"{path} holds no question")
    for key, question in data.items():
        missing = [k for k in QUESTION_KEYS if not isinstance(question, dict) or k not in question]
        if missing:
            raise CorruptDataError(f"{path}: question {key!r} lacks the key(s) {missing}; each needs {QUESTION_KEYS}")
    frame = pd.DataFrame.from_dict(data, orient="index", columns=list(QUESTION_KEYS)).astype(str)
    frame = frame.rename_axis("ID").reset_index()
    unknown = frame.loc[~frame["type"].isin(list(ORIGINAL_TYPES))]
    if len(unknown):
        raise MetadataError(
            f"{path}: {len(unknown)} question(s) have a type outside {list(ORIGINAL_TYPES)}, e.g. "
            f"{unknown['type'].iloc[0]!r} (question {unknown['ID'].iloc[0]!r})"
        )
    return frame.assign(split=split)


def v1_names(data: Path) -> pd.DataFrame:
    """Return ``s2v1_name``, ``patch_id`` and ``s1_name`` of every patch of both metadata files of a data set.

    Raises:
        MissingDataError, MetadataError: if the metadata is absent or malformed.
    """
    metadata = read_metadata(Path(data), include_snow_cloud=True)
    return metadata[["s2v1_name", "patch_id", "s1_name"]].drop_duplicates("s2v1_name")


def import_rsvqaxben(files: Sequence[Path], data: Path, out: Path) -> ImportSummary:
    """Read original RSVQAxBEN question files and write them as one bigearth question parquet file.

    Args:
        files: ``RSVQAxBEN_QA_{train,val,test}.json`` (any subset).
        data: store folder or release root whose metadata maps the v1 names (both metadata files are read).
        out: parquet file to write (atomically; nothing is written on an error).

    Raises:
        MissingDataError, CorruptDataError, MetadataError: see :func:`read_original` and :func:`v1_names`;
            MetadataError also if a question id occurs twice or no image is found in the metadata.
    """
    if not files:
        raise MetadataError("give at least one RSVQAxBEN_QA_{train,val,test}.json file")
    frame = pd.concat([read_original(Path(f)) for f in files], ignore_index=True)
    twice = frame.loc[frame["ID"].duplicated(), "ID"]
    if len(twice):
        raise MetadataError(f"question id {twice.iloc[0]!r} occurs more than once in {[str(f) for f in files]}")
    names = v1_names(data)
    merged = frame.merge(names, left_on="S2_name", right_on="s2v1_name", how="left")
    found = merged["patch_id"].notna()
    images = merged["S2_name"].nunique()
    matched_images = merged.loc[found, "S2_name"].nunique()
    if not found.any():
        raise MetadataError(
            f"none of the {images} images of the questions is in the metadata of {data} (column s2v1_name of "
            f"{METADATA_FILE} and {SNOW_CLOUD_METADATA_FILE}), e.g. {merged['S2_name'].iloc[0]!r}; give the reBEN "
            "data the questions are about"
        )
    kept = merged[found]
    table = pd.DataFrame({
        "ID": kept["ID"], "patch_id": kept["patch_id"], "s1_name": kept["s1_name"], "split": kept["split"],
        "question": kept["question"], "answer": kept["answer"], "type": kept["type"].map(ORIGINAL_TYPES),
        "form": kept["type"],
    })  # fmt: skip
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(table, schema=RSVQA_SCHEMA, preserve_index=False), sink)
    atomic_write_bytes(Path(out), sink.getvalue().to_pybytes())
    return ImportSummary(
        questions=len(frame), matched_questions=len(kept), images=images, matched_images=matched_images,
        per_split=kept["split"].value_counts().to_dict(),
        unmatched_example=None if found.all() else str(merged.loc[~found, "S2_name"].iloc[0]),
    )  # fmt: skip
