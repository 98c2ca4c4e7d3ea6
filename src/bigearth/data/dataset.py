"""reBEN as a torch ``Dataset``: splits, modalities and bands by name, labels in either class order.

Features: reads a store or a release root through one interface; selects the split (``val`` = ``validation``),
excludes snowy and cloudy patches by default; bands by name or ConfigILM preset; resamples 20 m and 60 m bands to
120 px (nearest or bilinear) and normalises with reBEN's published statistics; multi-hot labels; patch-centre
latitude and longitude; optionally the reference map as a 19-class index mask (255 = unlabelled).

Batches are read whole (``__getitems__``): one LMDB transaction per batch, each band copied once from the store
value into the batch buffer. With ``raw=True`` the dataset yields native-size band groups and
:class:`~bigearth.data.transforms.BatchTransform` finishes the batch on the device (the fast path).

Two routes through a ``DataLoader``: with ``collate_fn=keep_batch`` (or the DataModule) the batch that
``__getitems__`` read is the batch (the fast route); with PyTorch's default collate the same :class:`Batch` reads
as a list of samples, which the collate stacks again (the per-sample route: the same values, one more copy). Both
work with fork and spawn workers.

TorchGeo habits: ``root=`` names the data, ``transforms=`` is a callable on sample dicts (e.g. kornia's
``AugmentationSequential(..., data_keys=None, keepdim=True)``), ``normalise=False`` gives values in native units
(reflectance x 10^4, dB) as float32, and :meth:`ReBENDataset.plot` takes ``show_titles``, ``suptitle`` and a
``prediction`` key.

Dataset: Clasen et al., "reBEN: Refined BigEarthNet Dataset for Remote Sensing Image Analysis", IGARSS 2025.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from bigearth.bands import BandStats, native_size, resolve_bands, sensor
from bigearth.data.index import PatchIndex, build_index
from bigearth.data.layout import S1_DIR
from bigearth.data.packed import PACKED_GROUPS, PackedReader, has_packed
from bigearth.data.shared import ShippedBatch, in_worker, ring
from bigearth.data.source import PatchSource, ReleaseReader, open_source
from bigearth.data.store import StoreReader
from bigearth.data.transforms import BatchTransform, BufferPool, band_group, group_bands
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.nomenclature import ClassOrder, clc_to_index


class Sample(TypedDict):
    """One patch as the models see it.

    Keys:
        image: ``(C, 120, 120)`` float32, normalised (native units with ``normalise=False``), bands in
            ``dataset.bands`` order.
        label: ``(19,)`` float32 multi-hot in ``dataset.class_names`` order.
        patch_id: S2 patch name.
        lat: patch-centre latitude, degrees.
        lon: patch-centre longitude, degrees.
        mask: ``(120, 120)`` int64 class indices in ``class_names`` order, 255 for unlabelled pixels (only with
            ``with_mask=True``).
    """

    image: Tensor
    label: Tensor
    patch_id: str
    lat: float
    lon: float
    mask: NotRequired[Tensor]


#: A callable on sample dicts (TorchGeo's ``transforms``), e.g. kornia's ``AugmentationSequential``.
SampleTransform = Callable[[dict[str, Any]], dict[str, Any]]


class Batch(dict):
    """What ``__getitems__`` returns: a dict of batched values that also reads as the list of its samples.

    As a dict (``batch["image"]`` ``(B, C, 120, 120)``, ``batch.items()``) it is the fast route's batch. PyTorch's
    default collate reads it as a sequence: ``batch[i]`` is sample ``i`` (views into the batch tensors, ``lat`` and
    ``lon`` as floats) and iterating it yields the samples, so ``DataLoader(dataset, batch_size=B)`` works without a
    ``collate_fn``. ``len(batch)`` stays the number of keys; iterate ``batch.keys()`` or ``batch.items()`` for them.
    """

    def __missing__(self, key: object) -> dict[str, Any]:
        if isinstance(key, int):
            return self.sample(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        return (self.sample(row) for row in range(len(self["patch_id"])))

    def sample(self, row: int) -> dict[str, Any]:
        """Return sample ``row`` of the batch (tensors are views into the batch's)."""
        sample: dict[str, Any] = {
            key: {name: group[row] for name, group in value.items()} if key == "groups" else value[row]
            for key, value in self.items()
        }
        sample["lat"], sample["lon"] = float(sample["lat"]), float(sample["lon"])
        return sample


class ReBENDataset(Dataset):
    """reBEN patches of one split from a store or a release root.

    Args:
        path: store folder or release root (the dataset reports which in ``source_kind``); ``root`` is an alias.
        split: ``train``, ``validation`` / ``val``, ``test``, or None for every patch.
        bands: preset channel count, ``"s1"``, ``"s2"``, ``"s1s2"`` or a sequence of band names.
        class_order: ``"table"`` or ``"alphabetical"`` order of the labels.
        include_snow_cloud: keep patches with seasonal snow or cloud/shadow.
        with_mask: also return the reference map as a class-index mask.
        resample: ``"nearest"`` or ``"bilinear"`` resampling of 20 m and 60 m bands.
        raw: yield native-size band groups (``groups``) instead of ``image``; finish with :attr:`transform`.
        metadata: folder of the metadata files, if not ``path`` (e.g. a rico-hdl LMDB without them).
        packed: read batches from the store's packed layout (``bigearth encode --packed``); default: where
            the store has one.
        transforms: a callable on sample dicts applied to every sample (both routes), as TorchGeo's
            ``transforms``; with it the batch route stacks the transformed samples.
        normalise: standardise with reBEN's published statistics (default); False gives float32 values in native
            units (reflectance x 10^4, backscatter in dB) after resampling, as TorchGeo gives raw values.
        root: alias of ``path`` (TorchGeo's name).
        verify_checksums: compare every store value read with the CRC-32 its checksum table records and raise
            :class:`~bigearth.errors.StoreIntegrityError` naming the key on a mismatch (stores of format 2; reads
            the LMDB, not the packed layout, which ``bigearth verify`` checks against the LMDB). Off by default.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        split: str | None = "train",
        bands: str | int | list[str] | tuple[str, ...] = "s1s2",
        *,
        class_order: ClassOrder = "table",
        include_snow_cloud: bool = False,
        with_mask: bool = False,
        resample: str = "nearest",
        raw: bool = False,
        metadata: Path | str | None = None,
        packed: bool | None = None,
        transforms: SampleTransform | None = None,
        normalise: bool = True,
        root: Path | str | None = None,
        verify_checksums: bool = False,
    ) -> None:
        if (path is None) == (root is None):
            given = "both were given" if path is not None else "neither was given"
            raise ConfigError(f"pass the store or release root as path or as root (its alias): {given}")
        path = path if path is not None else root
        self.source: PatchSource = open_source(Path(path), verify_checksums=verify_checksums)
        if packed and verify_checksums:
            raise ConfigError(
                "the packed layout holds no per-value checksums: pass packed=False (or leave it unset) with "
                "verify_checksums, or check the packed layout once with `bigearth verify STORE`"
            )
        if packed and not (isinstance(self.source, StoreReader) and has_packed(self.source.path)):
            raise MissingDataError(f"{path} has no packed layout; write one with `bigearth encode --packed`")
        use_packed = (
            packed is not False
            and not verify_checksums
            and isinstance(self.source, StoreReader)
            and has_packed(self.source.path)
        )
        self.packed = PackedReader(self.source.path) if use_packed else None
        self.bands = resolve_bands(bands)
        self.groups = group_bands(self.bands)
        self._pool = BufferPool(size=2 * len(self.groups))  # the group arrays of two batches
        # unnormalised: the same transform with mean 0 and std 1, so resampling is shared and plot() still works
        identity = {band: BandStats(0.0, 1.0) for band in self.bands}
        self.transform = BatchTransform(self.bands, resample, stats=None if normalise else identity)
        self.stats = self.transform.stats
        self.normalise = normalise
        self.transforms = transforms
        self.with_mask = with_mask
        self.raw = raw
        self.index: PatchIndex = build_index(
            Path(metadata) if metadata is not None else Path(path),
            split=split,
            class_order=class_order,
            include_snow_cloud=include_snow_cloud,
        )
        self.class_names = self.index.class_names
        self.class_order = class_order
        self._check_modalities()

    @property
    def source_kind(self) -> str:
        """``"store"`` or ``"release root"``: what ``path`` turned out to be."""
        return self.source.kind

    def _check_modalities(self) -> None:
        needs_s1 = any(sensor(band) == "s1" for band in self.bands)
        needs_s2 = any(sensor(band) == "s2" for band in self.bands)
        if isinstance(self.source, StoreReader) and self.source.manifest is not None:
            counts = self.source.manifest["counts"]
            lacking = [name for name, needed in (("s1", needs_s1), ("s2", needs_s2)) if needed and not counts[name]]
            if self.with_mask and not counts["reference_map"]:
                lacking.append("reference_map")
            if lacking:
                raise MissingDataError(
                    f"the store {self.source.path} holds no {lacking} data but bands {list(self.bands)}"
                    f"{' and masks' if self.with_mask else ''} were requested; choose other bands or encode a "
                    "release that has them"
                )
        elif isinstance(self.source, ReleaseReader) and needs_s1 and not (self.source.path / S1_DIR).is_dir():
            raise MissingDataError(
                f"the release root {self.source.path} has no {S1_DIR} folder but S1 bands were requested; "
                "choose S2 bands (bands='s2') or add the S1 archive"
            )

    def restrict(self, patch_ids: list[str] | None = None, *, first: int | None = None) -> "ReBENDataset":
        """Keep only the named patches (in that order) or the first ``first`` patches; returns ``self``.

        Raises:
            MissingDataError: naming patches that are not in the selected split's metadata.
        """
        if patch_ids is not None:
            position = {str(name): row for row, name in enumerate(self.index.patch_id)}
            unknown = [name for name in patch_ids if name not in position]
            if unknown:
                raise MissingDataError(
                    f"patch(es) {unknown[:5]} are not in the metadata of {self.source.path} (for this split and "
                    "snow/cloud filter); `bigearth info` lists the data"
                )
            self.index = self.index.take([position[name] for name in patch_ids])
        if first is not None:
            self.index = self.index.take(np.arange(min(first, len(self))))
        return self

    def __len__(self) -> int:
        return len(self.index.patch_id)

    def __getitems__(self, indices: list[int]) -> Batch:
        """Read a whole batch (with ``transforms``: transform each sample and stack them again).

        Returns:
            A :class:`Batch`:
            ``image`` ``(B, C, 120, 120)`` float32 (or ``groups``, ``{group: (B, n, s, s)}`` native arrays, when
            ``raw``), ``label`` ``(B, 19)``, ``lat`` / ``lon`` ``(B,)`` float64, ``patch_id`` list, and ``mask``
            ``(B, 120, 120)`` (uint8 when ``raw``, int64 otherwise) with ``with_mask``.
        """
        rows = np.asarray(indices, dtype=np.int64)
        patch_ids = [str(name) for name in self.index.patch_id[rows]]
        batch: dict[str, Any] = {
            "label": torch.from_numpy(self.index.labels[rows]),
            "patch_id": patch_ids,
            "lat": torch.from_numpy(self.index.lat[rows]),
            "lon": torch.from_numpy(self.index.lon[rows]),
        }
        if self.packed is not None and not self.raw:  # from the memory maps straight into the finished batch
            arrays = {name: self.packed.array(name) for name in self.groups}
            batch["image"] = self.transform.gather(arrays, self.packed.rows(patch_ids), PACKED_GROUPS)
        else:
            batch["groups"] = self._read_groups(rows, patch_ids)
        if self.with_mask:
            batch["mask"] = torch.from_numpy(self._read_masks(patch_ids))
        batch = Batch(batch if self.raw else finish_batch(batch, self.transform))
        if self.transforms is None:
            return batch
        return Batch(default_collate([self.transforms(sample) for sample in batch]))

    def _read_masks(self, patch_ids: list[str]) -> np.ndarray:
        if self.packed is not None:
            codes = self.packed.read_group("reference_map", self.packed.rows(patch_ids))
            try:
                return clc_to_index(codes, self.class_order)
            except CorruptDataError:  # name the patch: check them one by one
                for patch_id, patch_codes in zip(patch_ids, codes, strict=True):
                    clc_to_index(patch_codes, self.class_order, source=f"packed reference map of {patch_id}")
                raise
        return np.stack(
            [
                clc_to_index(self.source.read_reference_map(p), self.class_order, source=f"reference map of {p}")
                for p in patch_ids
            ]
        )

    def _group_buffers(self, count: int) -> dict[str, Tensor]:
        """Return an empty ``(count, n, s, s)`` tensor per band group (S2 uint16, S1 float32).

        In a DataLoader worker that ships them (``raw``) they lie in a shared-memory segment of the worker's ring,
        sent to the main process without another copy and reused once it is done with them
        (:mod:`bigearth.data.shared`); elsewhere they come from a pool of arrays that are reused once the batch
        that used them is gone.
        """
        layout = {}
        for name, members in self.groups.items():
            size = native_size(members[0])
            layout[name] = ((count, len(members), size, size), torch.float32 if name == "s1" else torch.uint16)
        if self.raw and in_worker():
            return ring().take(layout)
        return {
            name: torch.from_numpy(self._pool.take(shape, np.float32 if dtype == torch.float32 else np.uint16))
            for name, (shape, dtype) in layout.items()
        }

    def _read_groups(self, rows: np.ndarray, patch_ids: list[str]) -> dict[str, Tensor]:
        groups = self._group_buffers(len(rows))
        if self.packed is not None:
            packed_rows = self.packed.rows(patch_ids)
            for name, members in self.groups.items():
                self.packed.read_group(name, packed_rows, members, out=groups[name].numpy())
            return groups
        s2_bands = tuple(band for band in self.bands if sensor(band) == "s2")
        s1_bands = tuple(band for band in self.bands if sensor(band) == "s1")
        buffers = {name: group.numpy() for name, group in groups.items()}
        # each band is copied once, from the store's memory map (or the GeoTIFF) into its slot of the batch
        slots = [(buffers[band_group(band)], self.groups[band_group(band)].index(band), band) for band in self.bands]

        def fill(row: int, arrays: dict[str, np.ndarray]) -> None:
            for buffer, position, band in slots:
                if band in arrays:
                    buffer[row, position] = arrays[band]

        if s2_bands:
            self.source.for_each(patch_ids, s2_bands, fill)
        if s1_bands:
            self.source.for_each([str(name) for name in self.index.s1_name[rows]], s1_bands, fill)
        return groups

    def __getitem__(self, index: int) -> Sample:
        return self.__getitems__([index]).sample(0)  # type: ignore[return-value]

    def plot(self, sample: Sample, show_titles: bool = True, suptitle: str | None = None) -> Any:
        """Return a matplotlib figure of a sample: true colour, false colour, VV, VH and the mask if present.

        Args:
            sample: a sample of this dataset; a ``prediction`` key (``(19,)`` multi-hot or probabilities,
                positive above 0.5) adds the predicted classes.
            show_titles: title the panels and list the labels (and predictions) under the figure title.
            suptitle: figure title (default: the patch id).
        """
        from bigearth.data.plot import plot_sample

        return plot_sample(sample, self.stats, self.class_names, show_titles=show_titles, suptitle=suptitle)


def finish_batch(batch: dict[str, Any], transform: BatchTransform) -> dict[str, Any]:
    """Turn a raw batch (native band groups, uint8 mask) into model input, on the batch's device.

    Returns:
        The batch with ``image`` ``(B, C, 120, 120)`` float32 in place of ``groups`` and an int64 ``mask``.
    """
    finished = {key: value for key, value in batch.items() if key != "groups"}
    if "groups" in batch:
        finished["image"] = transform(batch["groups"])
    elif "image" not in batch:  # a reader that finished the image already leaves it in place
        raise ValueError(f"the batch has neither band groups nor an image (keys {sorted(batch)})")
    if "mask" in batch:
        finished["mask"] = batch["mask"].long()
    return finished


def keep_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """Collate function of the fast route: ``__getitems__`` already read the whole batch; return it as a plain dict.

    In a DataLoader worker the dict is a :class:`~bigearth.data.shared.ShippedBatch`: it reaches the main process
    as a plain dict whose shared-memory segments go back to the worker for reuse once they are freed there.
    """
    return ShippedBatch(batch.items()) if in_worker() else dict(batch.items())
