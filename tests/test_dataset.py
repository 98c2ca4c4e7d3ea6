"""The dataset and datamodule: the sample contract, store = release root, device path = worker path, statistics."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bigearth.bands import BAND_PRESETS, S2_BANDS
from bigearth.data.datamodule import ReBENDataModule
from bigearth.data.dataset import ReBENDataset, finish_batch, keep_batch
from bigearth.data.geo import tile_origin
from bigearth.data.layout import parse_s2_name
from bigearth.nomenclature import CLASSES_ALPHABETICAL, CLASSES_TABLE, IGNORE_INDEX, clc_to_index


def test_sample_contract(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands=14, with_mask=True)
    sample = dataset[0]
    assert dataset.source_kind == "store"
    assert dataset.bands == BAND_PRESETS[14]
    assert sample["image"].shape == (14, 120, 120)
    assert sample["image"].dtype == torch.float32
    assert sample["label"].shape == (19,)
    assert sample["label"].dtype == torch.float32
    assert sample["mask"].shape == (120, 120)
    assert sample["mask"].dtype == torch.int64
    assert isinstance(sample["patch_id"], str)
    assert isinstance(sample["lat"], float)
    assert isinstance(sample["lon"], float)
    present = {int(i) for i in sample["mask"].unique() if i != IGNORE_INDEX}
    assert present == set(torch.nonzero(sample["label"]).flatten().tolist())


def test_store_and_release_root_give_the_same_samples(mini_root: Path, mini_store: Path) -> None:
    from_store = ReBENDataset(mini_store, split="test", bands="s1s2", with_mask=True)
    from_root = ReBENDataset(mini_root, split="test", bands="s1s2", with_mask=True)
    assert from_root.source_kind == "release root"
    assert len(from_store) == len(from_root) > 0
    for index in range(3):
        a, b = from_store[index], from_root[index]
        for key in ("image", "label", "mask"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("resample", ["nearest", "bilinear"])
def test_device_path_equals_worker_path(mini_store: Path, resample: str) -> None:
    finished = ReBENDataset(mini_store, split="validation", bands=14, resample=resample)
    raw = ReBENDataset(mini_store, split="validation", bands=14, resample=resample, raw=True)
    indices = list(range(min(8, len(raw))))
    batch = raw.__getitems__(indices)
    assert batch["groups"]["s2_20m"].shape == (len(indices), 6, 60, 60)
    assert batch["groups"]["s2_20m"].dtype == torch.uint16
    assert batch["groups"]["s2_60m"].shape == (len(indices), 2, 20, 20)
    torch.testing.assert_close(finish_batch(batch, raw.transform)["image"], finished.__getitems__(indices)["image"])


def test_nearest_resampling_repeats_native_pixels(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands=["B01", "B05"])
    raw = ReBENDataset(mini_store, split="train", bands=["B01", "B05"], raw=True)
    image, groups = dataset[0]["image"], raw[0]["groups"]
    stats = dataset.stats
    b01 = (groups["s2_60m"][0].float() - stats["B01"].mean) / stats["B01"].std
    torch.testing.assert_close(image[0], b01.repeat_interleave(6, 0).repeat_interleave(6, 1))
    b05 = (groups["s2_20m"][0].float() - stats["B05"].mean) / stats["B05"].std
    torch.testing.assert_close(image[1], b05.repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_band_selection_by_name_keeps_order(mini_store: Path) -> None:
    full = ReBENDataset(mini_store, split="train", bands=list(S2_BANDS))[0]["image"]
    picked = ReBENDataset(mini_store, split="train", bands=["B12", "B02", "B8A"])[0]["image"]
    for position, band in enumerate(["B12", "B02", "B8A"]):
        torch.testing.assert_close(picked[position], full[S2_BANDS.index(band)])


def test_normalised_batches_are_standardised(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands=14)
    image = dataset.__getitems__(list(range(len(dataset))))["image"]
    per_band_mean = image.mean(dim=(0, 2, 3))
    per_band_std = image.std(dim=(0, 2, 3))
    assert per_band_mean.abs().max() < 0.75, per_band_mean
    assert ((per_band_std > 0.3) & (per_band_std < 2.0)).all(), per_band_std


def test_class_orders_and_split_aliases(mini_store: Path) -> None:
    table = ReBENDataset(mini_store, split="val", bands="s2")
    alphabetical = ReBENDataset(mini_store, split="validation", bands="s2", class_order="alphabetical")
    assert table.class_names == CLASSES_TABLE
    assert alphabetical.class_names == CLASSES_ALPHABETICAL
    for a, b in zip(table.index.labels, alphabetical.index.labels, strict=True):
        assert {CLASSES_TABLE[i] for i in np.flatnonzero(a)} == {CLASSES_ALPHABETICAL[i] for i in np.flatnonzero(b)}


def test_snow_and_cloud_excluded_by_default(mini_store: Path) -> None:
    default = ReBENDataset(mini_store, split=None)
    everything = ReBENDataset(mini_store, split=None, include_snow_cloud=True)
    assert len(everything) > len(default)
    frame = default.index.frame
    assert not (frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"]).any()


def test_coordinates_lie_in_the_tile(mini_store: Path) -> None:
    from pyproj import Transformer

    from bigearth.data.geo import utm_epsg

    dataset = ReBENDataset(mini_store, split=None)
    for row in range(0, len(dataset), 17):
        parsed = parse_s2_name(str(dataset.index.patch_id[row]))
        to_utm = Transformer.from_crs(4326, utm_epsg(parsed.mgrs_tile), always_xy=True)
        east, north = to_utm.transform(dataset.index.lon[row], dataset.index.lat[row])
        ulx, uly = tile_origin(parsed.mgrs_tile)
        assert east == pytest.approx(ulx + 1200 * parsed.x + 600, abs=0.01)
        assert north == pytest.approx(uly - 1200 * parsed.y - 600, abs=0.01)


@pytest.mark.parametrize("order", ["table", "alphabetical"])
def test_mask_maps_clc_codes_in_the_class_order(mini_store: Path, order: str) -> None:
    from bigearth.data.store import StoreReader

    dataset = ReBENDataset(mini_store, split="train", bands="s2", with_mask=True, class_order=order)
    sample = dataset[0]
    codes = StoreReader(mini_store).read_reference_map(sample["patch_id"])
    np.testing.assert_array_equal(sample["mask"].numpy(), clc_to_index(codes, order))
    present = {int(i) for i in sample["mask"].unique() if i != IGNORE_INDEX}
    assert present == set(torch.nonzero(sample["label"]).flatten().tolist())


def test_dataloader_with_spawned_workers(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands=14)
    serial = next(iter(DataLoader(dataset, batch_size=16, collate_fn=keep_batch)))
    loader = DataLoader(dataset, batch_size=16, collate_fn=keep_batch, num_workers=2, multiprocessing_context="spawn")
    batches = iter(loader)
    parallel = next(batches)
    del batches  # shuts the workers down now
    torch.testing.assert_close(serial["image"], parallel["image"])
    assert serial["patch_id"] == parallel["patch_id"]


def test_datamodule_train_and_validation_share_one_lmdb(mini_store: Path) -> None:
    module = ReBENDataModule(mini_store, bands="s1s2", batch_size=8)
    module.setup("fit")
    train = next(iter(module.train_dataloader()))
    validation = next(iter(module.val_dataloader()))
    assert "groups" in train
    finished = module.on_after_batch_transfer(validation, 0)
    assert finished["image"].shape == (8, 14, 120, 120)
    assert finished["label"].shape == (8, 19)


def test_flip_rot90_keeps_image_and_mask_aligned() -> None:
    from bigearth.data.transforms import random_flip_rot90

    generator = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 19, (64, 120, 120))
    image = mask[:, None].float().repeat(1, 3, 1, 1)
    image, mask = random_flip_rot90(image, mask, generator=generator)
    torch.testing.assert_close(image[:, 0], mask.float())
    torch.testing.assert_close(image[:, 2], mask.float())


def test_packed_layout_gives_the_same_batches(mini_store: Path, tmp_path: Path) -> None:
    import shutil

    from bigearth.data.packed import has_packed, pack

    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    pack(store)
    assert has_packed(store)
    packed = ReBENDataset(store, split="train", bands=["VH", "B12", "B02", "B01"], with_mask=True)
    plain = ReBENDataset(store, split="train", bands=["VH", "B12", "B02", "B01"], with_mask=True, packed=False)
    assert packed.packed is not None
    assert plain.packed is None
    indices = [5, 0, 3, 17, 2]
    a, b = packed.__getitems__(indices), plain.__getitems__(indices)
    for key in ("image", "label", "mask"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert a["patch_id"] == b["patch_id"]
    # the packed layout is resampled straight from its memory maps: bilinear too, bit for bit
    options = {"split": "train", "bands": ["B8A", "VV", "B09", "B03"], "resample": "bilinear"}
    torch.testing.assert_close(ReBENDataset(store, **options).__getitems__(indices)["image"],
                               ReBENDataset(store, packed=False, **options).__getitems__(indices)["image"],
                               rtol=0, atol=0)  # fmt: skip
    # batch buffers are reused only once released: raw batches held while others are read keep their values
    for raw in (packed, plain):
        raw.raw = True
        held = raw.__getitems__(indices)
        copies = {name: group.clone() for name, group in held["groups"].items()}
        for _ in range(3):
            raw.__getitems__([1, 4, 6, 8, 9])
        for name, group in held["groups"].items():
            torch.testing.assert_close(group, copies[name], rtol=0, atol=0)


def test_threaded_loader_yields_every_sample_once(mini_store: Path, tmp_path: Path) -> None:
    import shutil

    from bigearth.data.loader import ThreadedBatchLoader
    from bigearth.data.packed import pack

    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    pack(store)
    dataset = ReBENDataset(store, split="train", bands=14, raw=True)
    torch.manual_seed(0)
    loader = ThreadedBatchLoader(dataset, batch_size=16, shuffle=True, threads=2)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-len(dataset) // 16)
    seen = [patch for batch in batches for patch in batch["patch_id"]]
    assert sorted(seen) == sorted(str(p) for p in dataset.index.patch_id)
    first = dataset.__getitems__([list(dataset.index.patch_id).index(seen[0])])
    torch.testing.assert_close(batches[0]["groups"]["s2_10m"][:1], first["groups"]["s2_10m"])
    torch.manual_seed(0)
    assert [p for b in loader for p in b["patch_id"]] == seen  # the global seed fixes the order
    module = ReBENDataModule(store, bands=14, batch_size=16, num_workers=2)
    assert isinstance(module.train_dataloader(), ThreadedBatchLoader)
    assert isinstance(ReBENDataModule(mini_store, bands=14).train_dataloader(), DataLoader)


def _ticket(tensor: torch.Tensor) -> tuple[torch.Tensor, int, int] | None:
    """(flags, slot, ticket) of the worker ring segment a received tensor lies in, None for any other memory."""
    from bigearth.data.shared import _RECEIVED

    return _RECEIVED.get(tensor.untyped_storage().data_ptr())


@pytest.mark.parametrize("raw", [True, False])
def test_worker_segments_are_reused_only_once_freed_or_released(mini_store: Path, raw: bool) -> None:
    import gc

    from bigearth.data.shared import RING_SLOTS, release_batch

    dataset = ReBENDataset(mini_store, split=None, bands=["VV", "B02", "B05", "B01"], raw=raw)
    batch_size = 4
    count = batch_size * (3 * RING_SLOTS + 4)  # more batches than a worker's ring holds: kept, freed, released
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=range(count), collate_fn=keep_batch, num_workers=1,
        multiprocessing_context="spawn",
    )  # fmt: skip
    key = "groups" if raw else "image"
    kept, views, tickets, freed, held = [], [], [], [], []
    for number, batch in enumerate(loader):
        tensor = batch["groups"]["s1"] if raw else batch["image"]
        entry = _ticket(tensor)
        if number < RING_SLOTS:
            assert entry is not None  # the ring's segments, filled in turn
        if entry is None:  # a one-off segment: the ring was full
            assert number >= RING_SLOTS
            continue
        flags, slot, ticket = entry
        assert int(flags[slot]) == ticket  # in use while the main process holds it
        tickets.append(ticket)
        if number < 4:
            held.append(entry)
        if number < 2:
            kept.append((number, batch))  # never freed: its segment must not be written again
        elif number < 4:
            views.append((number, tensor[1:].detach()))  # only a view of it lives on: the same
        elif raw and number % 2:
            release_batch(batch["groups"])  # handed back explicitly, then freed
            assert int(flags[slot]) == 0
        else:
            freed.append(entry)  # handed back once the main process frees it (the loader holds it a while)
    del batch, tensor
    gc.collect()
    assert all(int(flags[slot]) != ticket for flags, slot, ticket in freed)  # handed back, or taken again
    assert all(int(flags[slot]) == ticket for flags, slot, ticket in held)  # kept batches and views: still in use
    assert len(tickets) > 2 * RING_SLOTS  # freed segments were reused, not replaced by one-off ones
    for number, batch in kept:
        rows = list(range(number * batch_size, (number + 1) * batch_size))
        expected = dataset.__getitems__(rows)
        torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)
    for number, view in views:
        expected = dataset.__getitems__(list(range(number * batch_size, (number + 1) * batch_size)))
        torch.testing.assert_close(view, (expected["groups"]["s1"] if raw else expected["image"])[1:], rtol=0, atol=0)


def test_worker_rings_are_mapped_once_and_forgotten_once_their_workers_exit(mini_store: Path) -> None:
    from bigearth.data import shared

    dataset = ReBENDataset(mini_store, split=None, bands=["VV", "B02", "B05", "B01"], raw=True)
    batch_size, batches = 4, 3 * shared.RING_SLOTS
    rows = list(range(batch_size * batches))
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=rows, collate_fn=keep_batch, num_workers=2,
        multiprocessing_context="fork",
    )  # fmt: skip
    epochs = []
    for _ in range(2):  # workers are not persistent: each epoch starts two new rings
        for number, batch in enumerate(loader):
            expected = dataset.__getitems__(rows[number * batch_size : (number + 1) * batch_size])
            for name, group in expected["groups"].items():
                torch.testing.assert_close(batch["groups"][name], group, rtol=0, atol=0)
            torch.testing.assert_close(batch["label"], expected["label"], rtol=0, atol=0)  # sent inside the pickle
            assert _ticket(batch["groups"]["s1"]) is not None
        epochs.append(dict(shared._MAPPED))
    first, second = (set(rings) for rings in epochs)
    assert len(first) == len(second) == 2
    assert not first & second  # the first epoch's rings were let go
    for ring in epochs[1].values():
        mapped = ring.control[shared.RING_SLOTS :].tolist()
        assert mapped[-1] == 1  # the control array, sent once and kept
        assert all(mapped[slot] == 1 for slot in ring.segments)  # each segment, likewise
