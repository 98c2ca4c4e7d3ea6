"""Reading, checking and writing the reBEN metadata tables (parquet, official schema).

The checks run on arrow tables (pyarrow), so a reader that needs no pandas (``bigearth info``) reads, checks and
counts without importing it; :func:`read_metadata` hands the checked table to pandas.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bigearth.atomic import atomic_write_bytes
from bigearth.data.layout import METADATA_FILE, METADATA_SCHEMA, SNOW_CLOUD_METADATA_FILE, SPLITS
from bigearth.errors import MetadataError, MissingDataError
from bigearth.nomenclature import CLASSES_TABLE

if TYPE_CHECKING:  # pandas is imported by the readers that build a DataFrame, not by this module
    import pandas as pd

#: Boolean flag columns of the metadata.
FLAG_COLUMNS = ("contains_seasonal_snow", "contains_cloud_or_shadow")
#: Rows named in an error before the rest are only counted.
LISTED = 5


def contiguous(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``values`` as one arrow array (a column read from parquet is chunked)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def dictionary_codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Return a code per value and the distinct values the codes point to (a missing value is one of them).

    Returns:
        codes ``(N,)`` int32 in ``0..K-1`` and the K distinct values (arrow, ``to_pylist`` for Python values), in
        order of first appearance.
    """
    encoded = pc.dictionary_encode(contiguous(values), null_encoding="encode")
    indices = encoded.indices  # read as numpy through its buffer: Array.to_numpy would import pandas (slow start)
    codes = np.frombuffer(indices.buffers()[1], dtype=np.int32, count=len(indices), offset=indices.offset * 4)
    return codes, encoded.dictionary


def check_metadata(table: pa.Table, source: str) -> None:
    """Check a metadata table against the official schema, class names and split names.

    Every patch has a non-empty list of class names (reBEN patches carry 1 to 11 labels; an empty list would
    silently train the patch as "no class present"), one row (a patch in two rows, above all in two splits, leaks
    between training and test) and boolean flags without missing values. A table that passes is checked with
    arrow's kernels alone; converting Python values to arrow (``pa.array``, scalars) would import pandas, so that
    happens only on the way to an error.

    Args:
        table: the metadata rows, one per patch; rows are numbered from 0 in errors.
        source: the file (or files) the rows come from, for errors.

    Raises:
        MetadataError: naming the file, the offending patches (rows) and what to fix.
    """
    missing = [name for name in METADATA_SCHEMA.names if name not in table.column_names]
    if missing:
        raise MetadataError(
            f"{source} lacks the column(s) {missing}; a reBEN metadata file has {METADATA_SCHEMA.names}"
        )
    check_unique(table, source)
    for column in FLAG_COLUMNS:
        kind = table.schema.field(column).type
        if len(table) and not pa.types.is_boolean(kind):  # an empty column written by pandas has no type to check
            raise MetadataError(f"{source}: column {column} holds {kind} values, not booleans; write True/False")
        if table[column].null_count:
            raise MetadataError(
                f"{source}: column {column} has {table[column].null_count} missing value(s); write True/False"
            )
    labels = table["labels"]
    if len(table) and not (pa.types.is_list(labels.type) or pa.types.is_large_list(labels.type)):
        raise MetadataError(f"{source}: column labels holds {labels.type} values, not lists of class names")
    lengths = pc.list_value_length(labels)
    if lengths.null_count or (len(table) and pc.min(lengths).as_py() == 0):
        empty = np.flatnonzero(pc.fill_null(lengths, 0).to_numpy() == 0).tolist()
        patches = table["patch_id"].take(empty[:LISTED]).to_pylist()
        raise MetadataError(
            f"{source}: {len(empty)} patch(es) have no labels (row, patch): {list(zip(empty, patches, strict=False))}"
            "; every reBEN patch has 1 to 11 class names: fill them in from the reference map, or remove the rows"
        )
    bad_splits = [split for split in pc.unique(table["split"]).to_pylist() if split not in SPLITS]
    if bad_splits:
        row = table["split"].to_pylist().index(bad_splits[0])
        raise MetadataError(
            f"{source}: patch {table['patch_id'][row]} has split {bad_splits[0]!r}; splits are {SPLITS} "
            "(write 'validation', not 'val')"
        )
    names = pc.list_flatten(labels)
    unknown = [name for name in pc.unique(names).to_pylist() if name not in CLASSES_TABLE]
    if unknown:
        row = pc.list_parent_indices(labels)[names.to_pylist().index(unknown[0])].as_py()
        raise MetadataError(
            f"{source}: patch {table['patch_id'][row]} has unknown class name(s) "
            f"{[label for label in labels[row].as_py() if label not in CLASSES_TABLE]}; "
            "labels must be reBEN's 19 class names (bigearth.nomenclature.CLASSES_TABLE)"
        )


def check_unique(table: pa.Table, source: str) -> None:
    """Refuse a patch id that appears in more than one row (naming the rows, and the splits if they differ).

    Raises:
        MetadataError: naming the patch ids, rows and what to do.
    """
    codes, distinct = dictionary_codes(table["patch_id"])
    rows_per_id = np.bincount(codes, minlength=len(distinct))
    if rows_per_id.max(initial=0) < 2:
        return
    patch_ids = distinct.to_pylist()  # Python strings only on the way to an error (480,038 of them in reBEN)
    rows: dict[str, list[int]] = {}
    splits: dict[str, set[str]] = {}
    for row in np.flatnonzero(rows_per_id[codes] > 1).tolist():
        patch_id = patch_ids[codes[row]]
        rows.setdefault(patch_id, []).append(row)
        splits.setdefault(patch_id, set()).add(table["split"][row].as_py())
    leaking = [patch_id for patch_id, found in splits.items() if len(found) > 1]
    listed = dict(list(rows.items())[:LISTED])
    if leaking:
        raise MetadataError(
            f"{source}: {len(leaking)} patch(es) are in two splits (train/test leakage), e.g. "
            f"{leaking[:3]}; rows {listed}; keep one row per patch, in its official split"
        )
    raise MetadataError(f"{source}: {len(rows)} patch id(s) appear in several rows {listed}; keep one row per patch")


def read_metadata_table(folder: Path, *, include_snow_cloud: bool = False) -> pa.Table:
    """Read and check the metadata of a release root or store folder as an arrow table.

    Args:
        folder: folder holding ``metadata.parquet`` (and optionally the snow/cloud file).
        include_snow_cloud: also read ``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` if present.

    Returns:
        One row per patch with the official columns, in file order (the snow/cloud rows after the others).

    Raises:
        MissingDataError: if ``metadata.parquet`` is absent.
        MetadataError: if a table is malformed (see :func:`check_metadata`).
    """
    files = [folder / METADATA_FILE]
    if include_snow_cloud and (folder / SNOW_CLOUD_METADATA_FILE).is_file():
        files.append(folder / SNOW_CLOUD_METADATA_FILE)
    if not files[0].is_file():
        raise MissingDataError(
            f"{files[0]} is missing; copy the reBEN metadata.parquet into {folder} "
            "(or run `bigearth synth` to make a mini-reBEN)"
        )
    tables = []
    for file in files:
        try:  # ParquetFile, not read_table: the latter loads pyarrow.dataset, which imports pandas
            # one thread: reBEN's metadata has 4 row groups, and threads cost more CPU than they save wall time
            # on a busy machine (issue 18: 0.25 s of CPU instead of 0.33-0.52 s for the 480,038 rows)
            table = pq.ParquetFile(file).read(use_threads=False)
        except (pa.ArrowInvalid, OSError) as error:
            raise MetadataError(f"{file} cannot be read as parquet ({error}); replace it with a good copy") from error
        check_metadata(table, str(file))
        tables.append(table)
    if len(tables) == 1:
        return tables[0]
    try:
        combined = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise MetadataError(
            f"{files[0]} and {files[1].name} have columns of different types ({error}); both files have the schema "
            f"{METADATA_SCHEMA}"
        ) from error
    check_unique(combined, f"{files[0]} + {files[1].name} (rows counted over both files)")
    return combined


def read_metadata(folder: Path, *, include_snow_cloud: bool = False) -> "pd.DataFrame":
    """Read and check the metadata of a release root or store folder (:func:`read_metadata_table` as pandas).

    Returns:
        One row per patch with the official columns, in file order, index 0..N-1.

    Raises:
        MissingDataError: if ``metadata.parquet`` is absent.
        MetadataError: if a table is malformed (see :func:`check_metadata`).
    """
    return read_metadata_table(folder, include_snow_cloud=include_snow_cloud).to_pandas()


def write_metadata(frame: "pd.DataFrame", path: Path) -> None:
    """Write a metadata table with the official schema, atomically.

    Raises:
        MetadataError: if the table lacks a column, has a column of another type than the official schema, or does
            not pass :func:`check_metadata`.
    """
    missing = [name for name in METADATA_SCHEMA.names if name not in frame.columns]
    if missing:
        raise MetadataError(f"{path}: the rows lack the column(s) {missing}; a reBEN metadata file has "
                            f"{METADATA_SCHEMA.names}")  # fmt: skip
    try:
        table = pa.Table.from_pandas(frame[list(METADATA_SCHEMA.names)], schema=METADATA_SCHEMA, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise MetadataError(f"{path}: the rows do not fit the official schema ({error}): {METADATA_SCHEMA}") from error
    check_metadata(table, str(path))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
