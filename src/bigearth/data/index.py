"""The patch index of a dataset: metadata rows with their splits, multi-hot labels and coordinates as arrays."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bigearth.data.geo import patch_latlon
from bigearth.data.layout import normalise_split
from bigearth.data.metadata import contiguous, read_metadata_table
from bigearth.nomenclature import ClassOrder, class_names


@dataclass(frozen=True)
class PatchIndex:
    """Arrays over the selected patches, row i describing patch i.

    Attributes:
        patch_id: S2 patch names, ``(N,)`` str.
        s1_name: S1 patch names, ``(N,)`` str.
        labels: multi-hot labels, ``(N, 19)`` float32 in ``class_names`` order.
        lat: patch-centre latitudes in degrees, ``(N,)`` float64.
        lon: patch-centre longitudes in degrees, ``(N,)`` float64.
        class_names: the class order of ``labels``.
        table: the metadata rows themselves, as arrow (see :attr:`frame` for pandas).
    """

    patch_id: np.ndarray
    s1_name: np.ndarray
    labels: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    class_names: tuple[str, ...]
    table: pa.Table

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The metadata rows as pandas, index 0..N-1 (made on first use: the label lists cost most of it)."""
        return self.table.to_pandas()

    def take(self, rows: np.ndarray | list[int]) -> "PatchIndex":
        """Return the index of the given rows only, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return PatchIndex(
            patch_id=self.patch_id[rows],
            s1_name=self.s1_name[rows],
            labels=self.labels[rows],
            lat=self.lat[rows],
            lon=self.lon[rows],
            class_names=self.class_names,
            table=self.table.take(rows),
        )


def coordinates(patch_ids: pa.Array | pa.ChunkedArray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return patch-centre latitude and longitude (degrees) of S2 patch names, vectorised per tile.

    Args:
        patch_ids: ``(N,)`` names ``<...>_T<tile>_<x>_<y>``, as arrow strings (used as they are) or pandas.

    Returns:
        latitudes and longitudes, ``(N,)`` float64 each.
    """
    if isinstance(patch_ids, pd.Series):
        patch_ids = pa.array(patch_ids, type=pa.string())
    # the last three fields, split by pyarrow (pandas' str.rsplit is 10x slower)
    parts = pc.split_pattern(contiguous(patch_ids), "_", max_splits=3, reverse=True)
    fields = [pc.list_element(parts, position) for position in (1, 2, 3)]
    tiles = pc.dictionary_encode(pc.utf8_slice_codeunits(fields[0], 1))
    x, y = (field.cast(pa.int64()).to_numpy() for field in fields[1:])
    lat = np.empty(len(x))
    lon = np.empty(len(x))
    which = tiles.indices.to_numpy(zero_copy_only=False)
    # numpy sorts 16-bit integers stably by radix sort (linear time)
    order = np.argsort(which.astype(np.int16) if len(tiles.dictionary) <= 2**15 else which, kind="stable")
    starts = np.searchsorted(which[order], np.arange(len(tiles.dictionary) + 1))
    for number, tile in enumerate(tiles.dictionary.to_pylist()):
        rows = order[starts[number] : starts[number + 1]]
        lat[rows], lon[rows] = patch_latlon(tile, x[rows], y[rows])
    return lat, lon


def multi_hot_matrix(labels: pa.Array | pa.ChunkedArray, order: ClassOrder) -> np.ndarray:
    """Return the ``(N, 19)`` float32 multi-hot matrix of arrow label lists (names already checked)."""
    names = class_names(order)
    labels = contiguous(labels)
    columns = pc.index_in(pc.list_flatten(labels), value_set=pa.array(names, type=pa.string()))
    matrix = np.zeros((len(labels), len(names)), dtype=np.float32)
    matrix[pc.list_parent_indices(labels).to_numpy(), columns.to_numpy(zero_copy_only=False)] = 1.0
    return matrix


def build_index(
    metadata_folder: Path,
    *,
    split: str | None,
    class_order: ClassOrder = "table",
    include_snow_cloud: bool = False,
) -> PatchIndex:
    """Read the metadata of a store or release root and index the patches of one split.

    The rows stay in arrow (read and checked as :func:`bigearth.data.metadata.read_metadata_table` does); the
    pandas frame is made only when :attr:`PatchIndex.frame` is used.

    Args:
        metadata_folder: folder holding ``metadata.parquet``.
        split: ``train``, ``validation`` (or ``val``), ``test``, or None for all patches.
        class_order: order of the multi-hot labels.
        include_snow_cloud: keep patches flagged with seasonal snow or cloud/shadow (excluded by default).
    """
    table = read_metadata_table(metadata_folder, include_snow_cloud=include_snow_cloud)
    keep = []
    if not include_snow_cloud:
        keep.append(pc.invert(pc.or_(table["contains_seasonal_snow"], table["contains_cloud_or_shadow"])))
    if split is not None:
        keep.append(pc.equal(table["split"], normalise_split(split)))
    if keep:
        rows = keep[0] if len(keep) == 1 else pc.and_(*keep)
        if not pc.all(rows).as_py():  # the filter copies every column: not when it keeps all rows
            table = table.filter(rows)
    patch_ids = contiguous(table["patch_id"])
    lat, lon = coordinates(patch_ids)
    return PatchIndex(
        patch_id=patch_ids.to_numpy(zero_copy_only=False),
        s1_name=contiguous(table["s1_name"]).to_numpy(zero_copy_only=False),
        labels=multi_hot_matrix(table["labels"], class_order),
        lat=lat,
        lon=lon,
        class_names=class_names(class_order),
        table=table,
    )
