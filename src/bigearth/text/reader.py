"""Reading BigEarthNet.txt files as released (and as earlier bigearth versions wrote them), whole or streamed.

Every reader of text files (``text evaluate``, ``text stats``, VQA training) goes through :func:`check_texts`:

* a missing column of :data:`~bigearth.text.schema.TEXT_COLUMNS` is an error;
* types: the released values :data:`~bigearth.text.schema.TEXT_TYPES`; earlier bigearth values
  (:data:`~bigearth.text.schema.LEGACY_TYPES`) are renamed with a ``FutureWarning``; any other value is an error
  naming the known values;
* categories: earlier values (:data:`~bigearth.text.schema.LEGACY_CATEGORIES`) are renamed with a warning; a
  category outside :data:`~bigearth.text.schema.CATEGORIES` is kept and counted (:attr:`TextCheck.unknown_categories`),
  not fatal (DESIGN 2.10: the release's categories are known from third-party inspection only); captioning rows
  may have any category;
* splits: :data:`~bigearth.text.schema.TEXT_SPLITS` (``val`` read as ``validation``); another value is an error.

The 9.5 M-row release is read in batches of :data:`BATCH_ROWS` rows (:func:`iter_texts`) so that memory stays
bounded by the batch, not by the file.
"""

import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.errors import CorruptDataError, MetadataError, existing_file
from bigearth.text.schema import (
    CAPTION,
    CATEGORIES,
    LEGACY_CATEGORIES,
    LEGACY_TYPES,
    TEXT_COLUMNS,
    TEXT_SPLITS,
    TEXT_TYPES,
)

#: Rows per streamed batch.
BATCH_ROWS = 500_000


@dataclass
class TextCheck:
    """What :func:`check_texts` found besides errors, summed over the batches of a file.

    Attributes:
        rows: rows read.
        unknown_categories: rows per category outside :data:`~bigearth.text.schema.CATEGORIES` (captioning rows
            not counted).
        legacy: rows per renamed earlier value, as ``"type caption -> captioning"``.
    """

    rows: int = 0
    unknown_categories: Counter = field(default_factory=Counter)
    legacy: Counter = field(default_factory=Counter)


def _rename(frame: pd.DataFrame, column: str, mapping: dict[str, str], check: TextCheck) -> None:
    """Rename earlier bigearth values of a column in place, counting them."""
    old = frame[column].isin(list(mapping))
    if old.any():
        for value, count in frame.loc[old, column].value_counts().items():
            check.legacy[f"{column} {value} -> {mapping[value]}"] += int(count)
        frame.loc[old, column] = frame.loc[old, column].map(mapping)


def check_texts(frame: pd.DataFrame, source: str, check: TextCheck | None = None) -> pd.DataFrame:
    """Check one table (or batch) of texts and return it with released values (see the module docstring).

    Args:
        frame: texts with at least the columns ``ID``, ``type``, ``category`` and ``split``.
        source: the file, named in errors.
        check: where to count unknown categories and renamed values (a new one if None).

    Raises:
        MetadataError: for an unknown type or split (naming the known values, the count and one ID).
    """
    check = check if check is not None else TextCheck()
    frame = frame.copy()
    _rename(frame, "type", LEGACY_TYPES, check)
    _refuse_outside(frame, "type", TEXT_TYPES, source, "; fix the file's type column")
    _rename(frame, "category", LEGACY_CATEGORIES, check)
    other = ~frame["category"].isin(list(CATEGORIES)) & (frame["type"] != CAPTION)
    check.unknown_categories.update(frame.loc[other, "category"].astype(str).value_counts().to_dict())
    frame["split"] = frame["split"].replace({"val": "validation"})
    _refuse_outside(frame, "split", TEXT_SPLITS, source, "")
    check.rows += len(frame)
    return frame


def _refuse_outside(frame: pd.DataFrame, column: str, known: Iterable[str], source: str, fix: str) -> None:
    """Raise a MetadataError naming the count and one row whose ``column`` holds a value outside ``known``."""
    outside = ~frame[column].isin(list(known))
    if outside.any():
        first = frame.loc[outside].iloc[0]
        raise MetadataError(
            f"{source}: {int(outside.sum())} row(s) have a {column} outside {list(known)}, e.g. {first[column]!r} "
            f"in row ID {first['ID']!r}{fix}"
        )


def warn_legacy(check: TextCheck, source: str) -> None:
    """Warn (``FutureWarning``) if a file used earlier bigearth values."""
    if check.legacy:
        renamed = ", ".join(f"{name} ({count} rows)" for name, count in check.legacy.items())
        warnings.warn(
            f"{source} uses values of earlier bigearth versions, read as the released ones: {renamed}; "
            "regenerate the file with `bigearth text generate`",
            FutureWarning,
            stacklevel=3,
        )


def normalise_text_split(split: str) -> str:
    """Return the split name of a text file for a user's name (``val`` is ``validation``).

    Raises:
        MetadataError: for a split outside :data:`~bigearth.text.schema.TEXT_SPLITS`.
    """
    name = "validation" if split == "val" else split
    if name not in TEXT_SPLITS:
        raise MetadataError(f"unknown split {split!r}: use one of {list(TEXT_SPLITS)} (or 'val')")
    return name


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open a parquet file of texts (BigEarthNet.txt or RSVQAxBEN-style) without reading its rows.

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it is no parquet file.
    """
    path = existing_file(path, "does not exist; give a BigEarthNet.txt file (or `bigearth text generate`)")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptDataError(f"{path} is no parquet file ({error}); give a BigEarthNet.txt parquet file") from error


def open_texts(path: Path) -> pq.ParquetFile:
    """Open a texts parquet file and check its columns.

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it is no parquet file.
        MetadataError: if it lacks a released column, or holds no row.
    """
    file = open_parquet(path)
    missing = [c for c in TEXT_COLUMNS if c not in file.schema_arrow.names]
    if missing:
        raise MetadataError(
            f"{path} lacks the released column(s) {missing}; a BigEarthNet.txt file has {list(TEXT_COLUMNS)}"
        )
    if file.metadata.num_rows == 0:
        raise MetadataError(f"{path} holds no row; give a BigEarthNet.txt file with texts")
    return file


def iter_texts(
    path: Path, columns: Sequence[str] | None = None, check: TextCheck | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Yield a texts file in checked batches of at most ``batch_rows`` rows (released values).

    Args:
        path: the parquet file.
        columns: the columns to read (``ID``, ``type``, ``category``, ``split`` are always read); None: all.
        check: where to count unknown categories and renamed values.
        batch_rows: rows per batch.

    Raises:
        MissingDataError, CorruptDataError, MetadataError: see :func:`open_texts` and :func:`check_texts`.
    """
    file = open_texts(path)
    wanted = None if columns is None else list(dict.fromkeys(["ID", "type", "category", "split", *columns]))
    check = check if check is not None else TextCheck()
    for batch in file.iter_batches(batch_size=batch_rows, columns=wanted):
        yield check_texts(batch.to_pandas(), str(path), check)
    warn_legacy(check, str(path))


def read_texts(path: Path, columns: Sequence[str] | None = None, check: TextCheck | None = None) -> pd.DataFrame:
    """Read a whole texts file, checked (see :func:`iter_texts`)."""
    return pd.concat(list(iter_texts(path, columns, check)), ignore_index=True)
