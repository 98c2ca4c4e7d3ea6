"""Reading, checking and writing the reBEN metadata tables (parquet, official schema)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bigearth.atomic import atomic_write_bytes
from bigearth.data.layout import METADATA_FILE, METADATA_SCHEMA, SNOW_CLOUD_METADATA_FILE, SPLITS
from bigearth.errors import MetadataError, MissingDataError
from bigearth.nomenclature import CLASSES_TABLE

#: Boolean flag columns of the metadata.
FLAG_COLUMNS = ("contains_seasonal_snow", "contains_cloud_or_shadow")
#: Rows named in an error before the rest are only counted.
LISTED = 5


def check_metadata(frame: pd.DataFrame, source: str) -> None:
    """Check a metadata table against the official schema, class names and split names.

    Every patch has a non-empty list of class names (reBEN patches carry 1 to 11 labels; an empty list would
    silently train the patch as "no class present"), one row (a patch in two rows, above all in two splits, leaks
    between training and test) and boolean flags.

    Raises:
        MetadataError: naming the file, the offending patches (rows) and what to fix.
    """
    missing = [name for name in METADATA_SCHEMA.names if name not in frame.columns]
    if missing:
        raise MetadataError(
            f"{source} lacks the column(s) {missing}; a reBEN metadata file has {METADATA_SCHEMA.names}"
        )
    check_unique(frame, source)
    for column in FLAG_COLUMNS:
        if len(frame) and not pd.api.types.is_bool_dtype(frame[column]):  # an empty column has no dtype to check
            raise MetadataError(
                f"{source}: column {column} holds {frame[column].dtype} values, not booleans; write True/False"
            )
    lists = label_lists(frame["labels"])
    empty = np.flatnonzero(pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False) == 0)
    if len(empty):
        listed = [(int(row), frame["patch_id"].iloc[row]) for row in empty[:LISTED]]
        raise MetadataError(
            f"{source}: {len(empty)} patch(es) have no labels (row, patch): {listed}; every reBEN patch has "
            "1 to 11 class names: fill them in from the reference map, or remove the rows"
        )
    bad_split = ~frame["split"].isin(SPLITS)
    if bad_split.any():
        row = frame[bad_split].iloc[0]
        raise MetadataError(
            f"{source}: patch {row['patch_id']} has split {row['split']!r}; splits are {SPLITS} "
            "(write 'validation', not 'val')"
        )
    rows, codes = label_codes(lists)
    if (codes < 0).any():
        row = rows[codes < 0][0]
        labels = list(frame["labels"].iloc[row])
        raise MetadataError(
            f"{source}: patch {frame['patch_id'].iloc[row]} has unknown class name(s) "
            f"{[label for label in labels if label not in CLASSES_TABLE]}; "
            "labels must be reBEN's 19 class names (bigearth.nomenclature.CLASSES_TABLE)"
        )


def label_lists(labels: pd.Series) -> pa.Array:
    """Return a column of label lists (lists or arrays of class names, None for none) as one arrow list array."""
    lists = pa.array(labels)
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    return lists.cast(pa.list_(pa.string())) if pa.types.is_null(lists.type) else lists  # no list at all


def label_codes(labels: pd.Series | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a column of label lists into the row of every label and its position in ``CLASSES_TABLE``.

    Args:
        labels: the ``labels`` column, or its :func:`label_lists`.

    Returns:
        rows ``(L,)`` int64 and codes ``(L,)`` int64 (-1 for a name that is not a reBEN class), L labels in all.
    """
    lists = labels if isinstance(labels, pa.Array) else label_lists(labels)
    rows = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    names = pc.list_flatten(lists)
    classes = pa.array(CLASSES_TABLE, type=names.type)
    codes = pc.fill_null(pc.index_in(names, value_set=classes), -1).to_numpy(zero_copy_only=False)
    return rows, codes.astype(np.int64)


def check_unique(frame: pd.DataFrame, source: str) -> None:
    """Refuse a patch id that appears in more than one row (naming the rows, and the splits if they differ).

    Raises:
        MetadataError: naming the patch ids, rows and what to do.
    """
    repeated = frame[frame["patch_id"].duplicated(keep=False)]
    if repeated.empty:
        return
    splits = repeated.groupby("patch_id")["split"].nunique()
    leaking = splits[splits > 1]
    rows = {patch_id: list(group.index) for patch_id, group in repeated.groupby("patch_id", sort=False)}
    listed = dict(list(rows.items())[:LISTED])
    if len(leaking):
        raise MetadataError(
            f"{source}: {len(leaking)} patch(es) are in two splits (train/test leakage), e.g. "
            f"{list(leaking.index[:3])}; rows {listed}; keep one row per patch, in its official split"
        )
    raise MetadataError(f"{source}: {len(rows)} patch id(s) appear in several rows {listed}; keep one row per patch")


def read_metadata(folder: Path, *, include_snow_cloud: bool = False) -> pd.DataFrame:
    """Read and check the metadata of a release root or store folder.

    Args:
        folder: folder holding ``metadata.parquet`` (and optionally the snow/cloud file).
        include_snow_cloud: also read ``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` if present.

    Returns:
        One row per patch with the official columns, in file order.

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
    frames = []
    for file in files:
        try:
            frame = pq.read_table(file).to_pandas()
        except (pa.ArrowInvalid, OSError) as error:
            raise MetadataError(f"{file} cannot be read as parquet ({error}); replace it with a good copy") from error
        check_metadata(frame, str(file))
        frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    combined = pd.concat(frames, ignore_index=True)
    check_unique(combined, f"{files[0]} + {files[1].name} (rows counted over both files)")
    return combined


def write_metadata(frame: pd.DataFrame, path: Path) -> None:
    """Write a metadata table with the official schema, atomically.

    Raises:
        MetadataError: if the table does not pass :func:`check_metadata`.
    """
    check_metadata(frame, str(path))
    table = pa.Table.from_pandas(frame[list(METADATA_SCHEMA.names)], schema=METADATA_SCHEMA, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
