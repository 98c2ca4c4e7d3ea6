"""Repeated acquisitions of one place: the location index and temporal pairs of patches.

reBEN images many places more than once: a *location* is the MGRS tile (``T33UUP``, not the product name) plus the
patch's x and y, and the patches of one location differ in their sensing date (in ``metadata.parquet``: 233,966
locations, 139,499 of them imaged on 2 to 4 dates; DESIGN 2.6). :class:`LocationIndex` groups the patches of a
dataset by location; :class:`TemporalPairs` serves each patch together with another acquisition of the same place,
the second view of a temporal positive (SeCo, Manas et al. 2021; the GeoRank reference code's
``SeCoDataset``: the other view is drawn uniformly from the location's other acquisitions,
https://github.com/tomburgert/georank, ``data/dataset.py``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset

from bigearth.data.dataset import Batch, ReBENDataset
from bigearth.data.metadata import contiguous
from bigearth.errors import ConfigError

#: What :class:`TemporalPairs` does with a patch whose location was imaged once: leave it out of the pairs
#: (``skip``, every pair is two dates) or pair it with itself (``same``: its two views differ by augmentation only).
SINGLE_DATE_POLICIES = ("skip", "same")


def location_keys(patch_ids: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the location (``T33UUP_26_57``: MGRS tile, x, y) and sensing time of S2 patch names.

    Args:
        patch_ids: ``(N,)`` official S2 patch names (``S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57``).

    Returns:
        locations ``(N,)`` and sensing times ``(N,)`` (``20170613T101031``), both object arrays of str.
    """
    names = contiguous(pa.array(list(patch_ids), type=pa.string()))
    # <mission>_MSIL2A_<sensing>_N<baseline>_R<orbit>_T<tile>_<x>_<y>: the last three fields name the place
    place = pc.split_pattern(names, "_", max_splits=3, reverse=True)
    keys = pc.binary_join_element_wise(*(pc.list_element(place, position) for position in (1, 2, 3)), "_")
    sensing = pc.list_element(pc.split_pattern(names, "_", max_splits=3), 2)
    return np.asarray(keys.to_pylist(), dtype=object), np.asarray(sensing.to_pylist(), dtype=object)


@dataclass(frozen=True)
class LocationIndex:
    """The patches of a dataset grouped by location, row ``i`` describing patch ``i``.

    Attributes:
        location: ``(N,)`` int64 location number of every patch, in ``0..L-1``.
        names: ``(L,)`` the locations (``T33UUP_26_57``).
        sensing: ``(N,)`` the sensing time of every patch (``20170613T101031``).
        members: ``(N,)`` int64 the patches sorted by location, then by sensing time.
        starts: ``(L + 1,)`` int64: the patches of location ``l`` are ``members[starts[l]:starts[l + 1]]``.
        position: ``(N,)`` int64 where every patch is among its location's members (0 = its earliest date).
    """

    location: np.ndarray
    names: np.ndarray
    sensing: np.ndarray
    members: np.ndarray
    starts: np.ndarray
    position: np.ndarray

    @classmethod
    def from_patch_ids(cls, patch_ids: Sequence[str] | np.ndarray) -> "LocationIndex":
        """Index S2 patch names (the ``patch_id`` column of reBEN's metadata) by location."""
        keys, sensing = location_keys(patch_ids)
        names, location = np.unique(keys, return_inverse=True)
        location = location.astype(np.int64).reshape(-1)
        members = np.lexsort((sensing, location)).astype(np.int64) if len(keys) else np.zeros(0, dtype=np.int64)
        starts = np.searchsorted(location[members], np.arange(len(names) + 1)).astype(np.int64)
        position = np.empty(len(keys), dtype=np.int64)
        position[members] = np.arange(len(members)) - starts[location[members]]
        return cls(location=location, names=names, sensing=sensing, members=members, starts=starts,
                   position=position)  # fmt: skip

    def __len__(self) -> int:
        return len(self.location)

    @property
    def counts(self) -> np.ndarray:
        """``(N,)`` int64: how many acquisitions the location of every patch has (itself included)."""
        return np.diff(self.starts)[self.location]

    def acquisitions(self, row: int) -> np.ndarray:
        """Return the rows of every acquisition of the location of patch ``row`` (itself included), by date."""
        where = self.location[row]
        return self.members[self.starts[where] : self.starts[where + 1]]

    def multi_date_rows(self) -> np.ndarray:
        """Return the rows of the patches whose location was imaged on at least two dates."""
        return np.flatnonzero(self.counts >= 2)

    def other_acquisitions(self, rows: np.ndarray, *, generator: torch.Generator | None = None) -> np.ndarray:
        """Draw for every patch another acquisition of its location, uniformly among the others.

        Args:
            rows: ``(B,)`` patch rows.
            generator: random source (torch's global one by default: Lightning seeds it per worker).

        Returns:
            ``(B,)`` int64 rows; ``-1`` where the location has no other acquisition.
        """
        rows = np.asarray(rows, dtype=np.int64)
        where = self.location[rows]
        others = np.diff(self.starts)[where] - 1
        draw = torch.rand(len(rows), generator=generator, dtype=torch.float64).numpy()
        # k uniform in 0..others-1 among the others, then skipped over the patch's own place in its location
        pick = np.minimum((draw * others).astype(np.int64), np.maximum(others - 1, 0))
        pick = pick + (pick >= self.position[rows])
        return np.where(others > 0, self.members[self.starts[where] + pick], -1)


class TemporalPairs(Dataset):
    """A dataset's patches, each read together with another acquisition of the same place.

    ``__getitems__`` reads the ``B`` patches and their ``B`` partners in one batch of ``2B``
    (:class:`~bigearth.data.dataset.Batch`, raw or finished as the dataset reads) with ``pairs = B``; after the
    batch is finished, :func:`split_pairs` turns it into the ``B`` patches with ``image_other``.

    Args:
        dataset: the dataset whose patches are paired (pairs stay within it: its split and snow/cloud filter).
        single_date: :data:`SINGLE_DATE_POLICIES`: leave out patches of locations imaged once (``skip``) or pair
            them with themselves (``same``).

    Raises:
        ConfigError: for an unknown policy, or if no location of the dataset was imaged on two dates (temporal
            views are impossible: use augmentation-only views).
    """

    def __init__(self, dataset: ReBENDataset, *, single_date: str = "skip") -> None:
        if single_date not in SINGLE_DATE_POLICIES:
            raise ConfigError(f"unknown single_date policy {single_date!r}; use one of {SINGLE_DATE_POLICIES}")
        self.dataset = dataset
        self.locations = LocationIndex.from_patch_ids(dataset.index.patch_id)
        multi = self.locations.multi_date_rows()
        if not len(multi):
            raise ConfigError(
                f"temporal views need places imaged on two or more dates, but every one of the {len(self.locations)} "
                f"patches of {dataset.source.path} ({len(self.locations.names)} locations) has one date; switch "
                "temporal.enabled off or use data with repeated acquisitions"
            )
        self.rows = multi if single_date == "skip" else np.arange(len(self.locations))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: list[int]) -> Batch:
        """Read patches ``rows[indices]`` and one other acquisition of each (``pairs`` = their number)."""
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        partners = self.locations.other_acquisitions(rows)
        partners = np.where(partners < 0, rows, partners)
        batch = self.dataset.__getitems__(np.concatenate([rows, partners]).tolist())
        batch["pairs"] = len(rows)
        return batch

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])


def split_pairs(batch: dict[str, Any]) -> dict[str, Any]:
    """Split a finished batch of :class:`TemporalPairs` into its patches and their other acquisitions.

    Args:
        batch: ``image`` ``(2B, C, H, W)``, ``label``, ``lat``, ``lon``, ``patch_id`` of ``2B`` and ``pairs = B``.

    Returns:
        The batch of the ``B`` patches with ``image_other`` ``(B, C, H, W)`` and ``patch_id_other``; a batch
        without ``pairs`` unchanged.
    """
    if "pairs" not in batch:
        return batch
    size = int(batch["pairs"])
    split = {key: value[:size] for key, value in batch.items() if key != "pairs"}
    split["image_other"] = batch["image"][size:]
    split["patch_id_other"] = batch["patch_id"][size:]
    return split
