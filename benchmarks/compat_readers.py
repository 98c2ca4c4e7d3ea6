"""Two-way compatibility of bigearth with the public reBEN readers (ConfigILM, TorchGeo), and their speeds.

Checks, on a mini-reBEN synthesised and encoded by bigearth:

1. **ConfigILM reads bigearth's store.** ``configilm.extra.DataSets.BENv2_DataSet.BENv2DataSet`` and its LMDB
   reader (``BENv2LDMBReader``), unchanged, read the store that ``bigearth encode`` wrote: every value decodes
   with ``safetensors.numpy.load`` to the rico-hdl bands, dtypes and native sizes; the patch lists of every split
   (with and without the snow/cloud file) are bigearth's; ConfigILM's channel presets 2/3/4/10/12/14 name the
   bands of bigearth's presets in the same order; its images equal bigearth's ``ReBENDataset(bands=preset)``
   before normalisation (both upsample with nearest) and, with ConfigILM's own default eval transform, after it
   (bigearth's statistics are ConfigILM's ``120_nearest`` ones rounded to 2 decimals, so within 1e-2 standard
   deviations); its labels equal bigearth's in alphabetical class order.
2. **TorchGeo reads bigearth's synthesised layout.** ``torchgeo.datasets.BigEarthNetV2`` (bands ``s1``, ``s2``,
   ``all``, its own checks, ``checksum=False``) reads the mini-reBEN release root: same patches per split and in
   the same order; 10 m bands equal; 20 m and 60 m bands equal bigearth's bilinear upsampling up to TorchGeo's
   rounding to int32 (TorchGeo reads every band with GDAL bilinear resampling into ``int32``); S1 equal to
   bigearth's dB values rounded to integers (TorchGeo's ``int32`` read) and in TorchGeo's order VH, VV; labels
   equal in table class order; masks equal on labelled pixels (TorchGeo keeps unlabelled CLC codes such as 122
   or 999 as they are, where bigearth writes the ignore index 255).
3. **Speed.** samples/s of ConfigILM's reader (raw, and with its default eval transform), TorchGeo's dataset and
   bigearth's ``ReBENDataset`` on the same train split (14 bands at 120 px, batch 32; from the LMDB that ConfigILM
   reads, and from bigearth's packed layout beside it, ``bigearth pack``): in one process at torch's
   default threads and at one thread, with a DataLoader of 2 spawned persistent workers (timed after a warm-up
   pass), and in one process at default threads and at one thread while ``os.cpu_count()`` spinning processes
   keep every core busy. The readers are built once; each round times one pass of every reader in every mode,
   public and bigearth readers in alternating order, and the table gives the median of ``--repeats`` rounds
   with the mean load average of its passes, then the ratios. A TorchGeo pass (GDAL-bound, about two orders of
   magnitude slower) draws from the first ``--torchgeo-samples`` patches and is not measured under load. The
   check fails only if a reader cannot be measured; the numbers are reported, not judged.

Why a separate environment: ConfigILM 0.7 pins ``numpy < 2``, ``lmdb < 2``, ``pyarrow < 13`` and Python < 3.12,
so neither it nor TorchGeo may become a dependency of bigearth. ``scripts/check_compat.sh`` creates
``.compat-venv`` with both libraries and runs this script there; the bigearth side (synthesis, encoding,
bigearth's arrays and speed) runs in bigearth's own ``.venv`` as a subprocess of this script, so each library is
exercised in the environment it supports, and the two sides exchange only files (JSON and ``.npz``).

Usage (normally through ``bash scripts/check_compat.sh``)::

    .compat-venv/bin/python benchmarks/compat_readers.py --bigearth-python .venv/bin/python \
        [--patches 300] [--seed 0] [--compare 64] [--repeats 5] [--keep DIR]

Exit status: 0 when every check passes, 1 when one fails.
"""

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parents[1]
METADATA = "metadata.parquet"
SNOW_CLOUD_METADATA = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
SPLITS = ("train", "validation", "test")
TORCHGEO_SPLITS = {"train": "train", "validation": "val", "test": "test"}
PRESETS = (2, 3, 4, 10, 12, 14)
#: Presets whose arrays bigearth exports itself (the others are compared band by band with the 14-band arrays).
ARRAY_PRESETS = (12, 14)
#: rico-hdl value layout (DESIGN 2.4), restated here so that the check does not trust bigearth's own tables.
S2_NATIVE_SIZE = {
    **dict.fromkeys(("B02", "B03", "B04", "B08"), 120),
    **dict.fromkeys(("B05", "B06", "B07", "B8A", "B11", "B12"), 60),
    **dict.fromkeys(("B01", "B09"), 20),
}
S1_BANDS = ("VV", "VH")
#: Largest difference allowed between normalised images, in standard deviations: bigearth's statistics are
#: ConfigILM's rounded to 2 decimals (S1 std 5.13 for 5.1335: about 4e-3 on these data); a wrong statistic or
#: band order differs by 0.1 or more.
NORMALISED_TOLERANCE = 1e-2
#: Largest difference allowed between TorchGeo's int32 reads and bigearth's float values (rounding to integer).
ROUNDING_TOLERANCE = 0.5 + 1e-2
#: What a kept work folder must have been prepared with: 2 = the store with its packed layout.
PREPARE_VERSION = 2


# --------------------------------------------------------------------------------------------------------------
# Shared by both environments: throughput measurement.
# --------------------------------------------------------------------------------------------------------------

#: Measurement modes: one process at torch's default threads and at one thread, a DataLoader of spawned workers,
#: and one process at default threads and at one thread while ``os.cpu_count()`` spinning processes keep every
#: core busy.
MODES = ("one", "one_1thread", "workers", "busy", "busy_1thread")
#: The modes of each phase of a round: the busy modes run while the spinners run.
PHASE_MODES = {"idle": ("one", "one_1thread", "workers"), "busy": ("busy", "busy_1thread")}
#: Line prefix of the bigearth side's answers on its stdout (anything else it prints is passed through).
ANSWER = "RATES "


def quiet_worker(_: int) -> None:
    """DataLoader ``worker_init_fn`` that silences a worker's stdout (ConfigILM prints INFO lines)."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker


@contextlib.contextmanager
def busy_cores(active: bool = True) -> Iterator[None]:
    """Keep every core busy with ``os.cpu_count()`` spinning processes while the block runs (if ``active``)."""
    count = (os.cpu_count() or 1) if active else 0
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        if spinners:
            time.sleep(0.5)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _run(loader: DataLoader, finish: Callable[[Any], Any] | None = None) -> float:
    """Iterate ``loader`` once (calling ``finish`` on each batch) and return the seconds it took."""
    start = time.perf_counter()
    for batch in loader:
        if finish is not None:
            finish(batch)
    return time.perf_counter() - start


class ReaderBench:
    """One reader's loaders, built once and timed pass by pass (so that rounds of several readers interleave).

    A pass covers the first ``limit`` samples of the dataset at least once and lasts about ``seconds`` (sized from
    a warm-up pass in one process). The workers are spawned and persistent, and their first pass (start-up
    included) is not timed, so their passes are the steady state.

    Args:
        make: builds a fresh dataset (the workers get one whose files are not opened yet).
        modes: the modes (of :data:`MODES`) this reader is measured in.
        batch_size: samples per batch.
        workers: DataLoader workers of the ``workers`` mode.
        seconds: target duration of one pass.
        limit: samples of the dataset a pass draws from (None = all).
        collate_fn: DataLoader collate function (None = PyTorch's default).
        worker_init_fn: DataLoader worker initialiser.
        finish: called on every batch in this process (e.g. to make the image from raw band groups).
    """

    def __init__(
        self,
        make: Callable[[], Dataset],
        *,
        modes: Sequence[str],
        batch_size: int,
        workers: int,
        seconds: float,
        limit: int | None = None,
        collate_fn: Callable[[Any], Any] | None = None,
        worker_init_fn: Callable[[int], None] | None = None,
        finish: Callable[[Any], Any] | None = None,
    ) -> None:
        self.modes = tuple(modes)
        self.finish = finish
        dataset = make()
        self.count = len(dataset) if limit is None else min(limit, len(dataset))

        def loader(data: Dataset, indices: Sequence[int], num_workers: int) -> DataLoader:
            return DataLoader(
                data,
                batch_size=batch_size,
                sampler=indices,
                num_workers=num_workers,
                collate_fn=collate_fn,
                multiprocessing_context="spawn" if num_workers else None,
                persistent_workers=num_workers > 0,
                worker_init_fn=worker_init_fn if num_workers else None,
            )

        rate = self.count / _run(loader(dataset, range(self.count), 0), finish)
        self.samples = max(self.count, math.ceil(rate * seconds))
        indices = [i % self.count for i in range(self.samples)]
        self.single = loader(dataset, indices, 0)
        self.many = None
        if "workers" in self.modes:
            self.many = loader(make(), [i % self.count for i in range(self.samples * max(1, workers))], workers)
            _run(self.many, finish)  # start-up and first pass

    def time(self, mode: str) -> float:
        """Return samples/s of one pass in ``mode`` (the caller starts the spinners of the busy modes)."""
        if mode == "workers":
            assert self.many is not None
            return len(self.many.sampler) / _run(self.many, self.finish)  # type: ignore[arg-type]
        threads = torch.get_num_threads()
        if mode.endswith("_1thread"):
            torch.set_num_threads(1)
        try:
            return self.samples / _run(self.single, self.finish)
        finally:
            torch.set_num_threads(threads)

    def run_phase(self, phase: str) -> dict[str, tuple[float, float]]:
        """Time one pass of each of this reader's modes of ``phase``: ``{mode: (samples/s, load average)}``."""
        return {mode: (self.time(mode), os.getloadavg()[0]) for mode in PHASE_MODES[phase] if mode in self.modes}


# --------------------------------------------------------------------------------------------------------------
# bigearth side (runs in bigearth's .venv; imports bigearth, never ConfigILM or TorchGeo).
# --------------------------------------------------------------------------------------------------------------


def _identity_transform(bands: tuple[str, ...], resample: str) -> Any:
    """Return bigearth's batch transform with mean 0 / std 1: its resampling and stacking, no normalisation."""
    from bigearth.bands import ALL_BANDS, BandStats
    from bigearth.data.transforms import BatchTransform

    return BatchTransform(bands, resample, {band: BandStats(0.0, 1.0) for band in ALL_BANDS})


def _spread(names: Sequence[str], count: int) -> list[str]:
    """Return ``count`` names spread evenly over the sorted ``names`` (all of them if ``count`` <= 0)."""
    ordered = sorted(names)
    if count <= 0 or count >= len(ordered):
        return ordered
    return [ordered[i] for i in sorted(set(np.linspace(0, len(ordered) - 1, count).round().astype(int)))]


def bigearth_prepare(work: Path, patches: int, seed: int, compare: int) -> None:
    """Synthesise and encode a mini-reBEN, then export bigearth's patch lists, arrays and facts for the checks.

    Writes under ``work``: ``root/`` (mini-reBEN), ``store/`` (its store), ``configilm_<preset>.npz``,
    ``torchgeo_<split>.npz`` and ``prepare.json`` (written last).
    """
    import lmdb
    import safetensors

    import bigearth
    from bigearth.bands import BAND_PRESETS, REBEN_STATS
    from bigearth.data.dataset import ReBENDataset
    from bigearth.data.encode import encode
    from bigearth.data.packed import pack
    from bigearth.data.synth import synthesize
    from bigearth.nomenclature import CLASSES_ALPHABETICAL, CLASSES_TABLE

    root, store = work / "root", work / "store"
    if store.exists():  # a kept folder of another run: encode would take the complete store as it is
        shutil.rmtree(store)
    start = time.perf_counter()
    synthesize(root, patches=patches, seed=seed)
    synth_seconds = time.perf_counter() - start
    start = time.perf_counter()
    encode(root, store, workers=2)
    pack(store)  # bigearth's batch layout beside the LMDB, which ConfigILM reads
    encode_seconds = time.perf_counter() - start
    print(
        f"[bigearth] synthesised {patches} patches in {synth_seconds:.1f} s, encoded + packed in {encode_seconds:.1f} s"
    )

    def ids(path: Path, split: str | None, snow_cloud: bool) -> list[str]:
        dataset = ReBENDataset(path, split=split, bands=14, include_snow_cloud=snow_cloud)
        return [str(name) for name in dataset.index.patch_id]

    store_lists = {
        f"{split or 'all'}{'+snow_cloud' if snow_cloud else ''}": ids(store, split, snow_cloud)
        for split in (None, *SPLITS)
        for snow_cloud in (False, True)
    }
    root_lists = {split: ids(root, split, False) for split in SPLITS}

    chosen = _spread(store_lists["all+snow_cloud"], compare)
    for preset in ARRAY_PRESETS:
        options = {"split": None, "bands": preset, "include_snow_cloud": True, "class_order": "alphabetical"}
        raw = ReBENDataset(store, raw=True, **options).restrict(chosen)
        batch = raw.__getitems__(list(range(len(raw))))
        normalised = ReBENDataset(store, **options).restrict(chosen).__getitems__(list(range(len(raw))))
        np.savez(
            work / f"configilm_{preset}.npz",
            patch_id=np.array(batch["patch_id"]),
            bands=np.array(raw.bands),
            raw=_identity_transform(raw.bands, "nearest")(batch["groups"]).numpy(),
            normalised=normalised["image"].numpy(),
            labels=batch["label"].numpy(),
        )
    per_split = max(1, math.ceil(compare / len(SPLITS))) if compare > 0 else None
    for split in SPLITS:
        s2 = ReBENDataset(root, split=split, bands="s2", raw=True, with_mask=True).restrict(first=per_split)
        batch = s2.__getitems__(list(range(len(s2))))
        s1 = ReBENDataset(root, split=split, bands="s1", raw=True).restrict(first=per_split)
        np.savez(
            work / f"torchgeo_{split}.npz",
            patch_id=np.array(batch["patch_id"]),
            bands=np.array(s2.bands),
            s2_bilinear=_identity_transform(s2.bands, "bilinear")(batch["groups"]).numpy(),
            s1=s1.__getitems__(list(range(len(s1))))["groups"]["s1"].numpy(),
            s1_bands=np.array(s1.bands),
            mask=batch["mask"].numpy(),
            codes=np.stack([s2.source.read_reference_map(name) for name in batch["patch_id"]]),
            labels=batch["label"].numpy(),
        )
    facts = {
        "params": {"patches": patches, "seed": seed, "compare": compare},
        "version": PREPARE_VERSION,
        "versions": {
            "bigearth": bigearth.__version__,
            "numpy": np.__version__,
            "torch": torch.__version__,
            "lmdb": lmdb.__version__,
            "safetensors": safetensors.__version__,
        },
        "timings": {"synth_s": synth_seconds, "encode_s": encode_seconds},
        "presets": {str(preset): list(BAND_PRESETS[preset]) for preset in PRESETS},
        "classes": {"table": list(CLASSES_TABLE), "alphabetical": list(CLASSES_ALPHABETICAL)},
        "stats": {band: [stats.mean, stats.std] for band, stats in REBEN_STATS.items()},
        "store_lists": store_lists,
        "root_lists": root_lists,
    }
    (work / "prepare.json").write_text(json.dumps(facts, indent=1))


def bigearth_bench(work: Path, *, batch_size: int, workers: int, seconds: float) -> None:
    """Serve measurements of bigearth's ``ReBENDataset`` on the store's train split, phase by phase.

    Builds the readers (and their workers) once, prints ``RATES {}`` when ready, then answers each line ``idle``
    or ``busy`` read from stdin with ``RATES {reader: {mode: [samples/s, load]}}`` until stdin closes.
    """
    from bigearth.data.dataset import ReBENDataset, finish_batch, keep_batch
    from bigearth.data.shared import release_batch

    def finish(batch: dict[str, Any]) -> None:  # the DataModule's route: workers ship integers, finished here
        finish_batch(batch, transform)
        release_batch(batch["groups"])

    transform = ReBENDataset(work / "store", split="train", bands=14).transform
    readers = {
        name: ReaderBench(
            lambda with_mask=with_mask, raw=raw, packed=packed: ReBENDataset(
                work / "store", split="train", bands=14, with_mask=with_mask, raw=raw, packed=packed
            ),
            modes=modes,
            batch_size=batch_size,
            workers=workers,
            seconds=seconds,
            collate_fn=keep_batch,
            finish=finish if raw else None,
        )
        for name, with_mask, raw, packed, modes in (
            ("bigearth", False, False, False, MODES),
            ("bigearth_packed", False, False, True, MODES),
            ("bigearth_mask", True, False, False, ("one",)),
            ("bigearth_raw", False, True, False, ("workers",)),
        )
    }
    print(ANSWER + json.dumps({name: {"count": reader.count} for name, reader in readers.items()}), flush=True)
    for line in sys.stdin:
        rates = {name: reader.run_phase(line.strip()) for name, reader in readers.items()}
        print(ANSWER + json.dumps(rates), flush=True)


# --------------------------------------------------------------------------------------------------------------
# Public-reader side (runs in .compat-venv; imports ConfigILM and TorchGeo, never bigearth).
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """The result of one item of a check."""

    check: str
    item: str
    ok: bool
    detail: str = ""


class Report:
    """Collects and prints the items of the checks."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def add(self, check: str, item: str, ok: bool, detail: str = "") -> None:
        """Record (and print) one item."""
        self.outcomes.append(Outcome(check, item, bool(ok), detail))
        print(f"  [{'PASS' if ok else 'FAIL'}] {item}{': ' + detail if detail else ''}", flush=True)

    def run(self, check: str, item: str, function: Callable[[], tuple[bool, str]]) -> None:
        """Record the outcome of ``function`` (returning ``(ok, detail)``); an exception is a failure."""
        try:
            ok, detail = function()
        except Exception as error:  # a public reader that raises on bigearth's data is exactly what we look for
            ok, detail = False, f"{type(error).__name__}: {error}"
        self.add(check, item, ok, detail)

    def passed(self, check: str) -> bool:
        """Whether every item of ``check`` passed (and there was at least one)."""
        items = [o for o in self.outcomes if o.check == check]
        return bool(items) and all(o.ok for o in items)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what ConfigILM prints (INFO lines) while its objects are built and first used."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference of two arrays of the same shape (0 when empty)."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0


def configilm_data_dirs(store: Path) -> dict[str, Path]:
    """The ``data_dirs`` mapping ConfigILM's BENv2 classes expect, pointing at a bigearth store folder."""
    return {
        "images_lmdb": store,
        "metadata_parquet": store / METADATA,
        "metadata_snow_cloud_parquet": store / SNOW_CLOUD_METADATA,
    }


def check_store_values(store: Path) -> tuple[bool, str]:
    """Decode every store value with the public libraries (py-lmdb < 2, ``safetensors.numpy.load``).

    Returns:
        Whether keys, band names, dtypes and shapes follow rico-hdl, and a summary or the first problems.
    """
    import lmdb
    import pandas as pd
    from safetensors.numpy import load

    frame = pd.concat([pd.read_parquet(store / METADATA), pd.read_parquet(store / SNOW_CLOUD_METADATA)])
    expected = {name: "s2" for name in frame["patch_id"]}
    expected |= {name: "s1" for name in frame["s1_name"]}
    expected |= {f"{name}_reference_map": "map" for name in frame["patch_id"]}
    problems: list[str] = []
    seen: set[str] = set()
    environment = lmdb.open(str(store), readonly=True, lock=False, readahead=False, subdir=True)
    with environment.begin() as transaction:
        for raw_key, value in transaction.cursor():
            key = raw_key.decode()
            seen.add(key)
            kind = expected.get(key)
            arrays = load(bytes(value))
            if kind == "s2":
                wanted = {band: (np.dtype(np.uint16), (size, size)) for band, size in S2_NATIVE_SIZE.items()}
            elif kind == "s1":
                wanted = {band: (np.dtype(np.float32), (120, 120)) for band in S1_BANDS}
            elif kind == "map":
                wanted = {"Data": (np.dtype(np.uint16), (120, 120))}
            else:
                problems.append(f"key {key!r} is not named in the metadata")
                continue
            got = {name: (array.dtype, array.shape) for name, array in arrays.items()}
            for name in sorted(set(got) | set(wanted)):
                if got.get(name) != wanted.get(name):
                    have = "absent" if name not in got else f"{got[name][0]} {got[name][1]}"
                    should = "absent" if name not in wanted else f"{wanted[name][0]} {wanted[name][1]}"
                    problems.append(f"value {key!r}, tensor {name}: {have}, rico-hdl has {should}")
    environment.close()
    missing = sorted(set(expected) - seen)
    if missing:
        problems.append(f"{len(missing)} metadata names have no key, e.g. {missing[:3]}")
    counts = {kind: sum(1 for key in seen if expected.get(key) == kind) for kind in ("s2", "s1", "map")}
    detail = f"{len(seen)} keys ({counts['s2']} S2, {counts['s1']} S1, {counts['map']} reference maps)"
    return not problems, detail if not problems else "; ".join(problems[:5])


def check_configilm(work: Path, facts: dict[str, Any], report: Report) -> None:
    """Check 1: ConfigILM's public BENv2 reader on bigearth's store (see the module docstring)."""
    from configilm.extra import BENv2_utils
    from configilm.extra._defaults import default_transform
    from configilm.extra.DataSets.BENv2_DataSet import BENv2DataSet

    check = "1 ConfigILM reads bigearth's store"
    print(f"\nCheck {check}")
    store = work / "store"
    dirs = configilm_data_dirs(store)
    report.run(
        check,
        "every store value decodes with lmdb + safetensors.numpy.load as rico-hdl",
        lambda: check_store_values(store),
    )

    def patch_lists() -> tuple[bool, str]:
        wrong = []
        for split in (None, *SPLITS):
            for snow_cloud in (False, True):
                name = f"{split or 'all'}{'+snow_cloud' if snow_cloud else ''}"
                with quiet():
                    dataset = BENv2DataSet(
                        dirs, split=split, img_size=(2, 120, 120), include_cloudy=snow_cloud, include_snowy=snow_cloud
                    )
                if dataset.patches != sorted(facts["store_lists"][name]):
                    wrong.append(
                        f"{name}: ConfigILM {len(dataset.patches)}, bigearth {len(facts['store_lists'][name])}"
                    )
        sizes = {name: len(names) for name, names in facts["store_lists"].items()}
        return not wrong, "; ".join(wrong) if wrong else f"same patches per split and filter {sizes}"

    report.run(check, "patch lists (split None/train/validation/test, with and without snow/cloud)", patch_lists)

    def presets() -> tuple[bool, str]:
        wrong = {
            c: (BENv2DataSet.channel_configurations[c], facts["presets"][str(c)])
            for c in PRESETS
            if list(BENv2DataSet.channel_configurations[c]) != facts["presets"][str(c)]
        }
        return not wrong, f"differ: {wrong}" if wrong else f"presets {list(PRESETS)} name the same bands in order"

    report.run(check, "channel presets", presets)
    report.run(
        check,
        "class order (alphabetical)",
        lambda: (
            list(BENv2_utils.NEW_LABELS) == facts["classes"]["alphabetical"],
            "ConfigILM NEW_LABELS == bigearth class_names('alphabetical')",
        ),
    )

    reference = {preset: dict(np.load(work / f"configilm_{preset}.npz")) for preset in ARRAY_PRESETS}
    full = reference[14]
    full_bands = [str(band) for band in full["bands"]]
    chosen = [str(name) for name in full["patch_id"]]

    def read(channels: int, transform: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
        with quiet():
            dataset = BENv2DataSet(
                dirs,
                split=None,
                img_size=(channels, 120, 120),
                return_extras=True,
                include_cloudy=True,
                include_snowy=True,
                transform=transform,
            )
            samples = [dataset[dataset.get_index_from_patchname(name)] for name in chosen]
        if [key for _, _, key in samples] != chosen:
            raise AssertionError("ConfigILM returned other patches than asked for")
        images = np.stack([image.numpy() for image, _, _ in samples])
        return images, np.stack([label.numpy() for _, label, _ in samples])

    for channels in PRESETS:

        def raw_images(channels: int = channels) -> tuple[bool, str]:
            images, labels = read(channels)
            if channels in reference:
                expected = reference[channels]["raw"]
            else:
                expected = full["raw"][:, [full_bands.index(band) for band in facts["presets"][str(channels)]]]
            same_images = images.shape == expected.shape and np.array_equal(images, expected)
            same_labels = np.array_equal(labels, full["labels"])
            if same_images and same_labels:
                source = f"ReBENDataset(bands={channels})" if channels in reference else "bigearth's 14-band image"
                return True, f"{len(chosen)} patches equal to {source} (nearest, not normalised), labels equal"
            gap = _max_abs(images, expected) if images.shape == expected.shape else "n/a"
            detail = f"images equal: {same_images} ({images.shape} vs {expected.shape}, max |diff| {gap})"
            return False, f"{detail}, labels equal (alphabetical): {same_labels}"

        report.run(check, f"{channels}-channel images and labels, raw", raw_images)

    for channels in ARRAY_PRESETS:

        def normalised(channels: int = channels) -> tuple[bool, str]:
            bands = list(BENv2DataSet.channel_configurations[channels])
            # what BENv2DataModule does; it passes the channel count, which has no 14-channel key (see notes)
            mean, std = BENv2_utils.band_combi_to_mean_std(bands, "120_nearest")
            images, _ = read(channels, default_transform((120, 120), mean, std))
            difference = _max_abs(images, reference[channels]["normalised"])
            stats = np.array([facts["stats"][band] for band in bands])
            mean_gap = float(np.abs(stats[:, 0] - mean).max())
            std_gap = float(np.abs(stats[:, 1] - std).max())
            return difference <= NORMALISED_TOLERANCE, (
                f"max |diff| {difference:.2e} (tolerance {NORMALISED_TOLERANCE:g}); bigearth's mean/std differ from "
                f"ConfigILM's 120_nearest by at most {mean_gap:.4f}/{std_gap:.4f} (rounded to 2 decimals)"
            )

        report.run(check, f"{channels}-channel images normalised (ConfigILM default eval transform)", normalised)


def check_torchgeo(work: Path, facts: dict[str, Any], report: Report) -> None:
    """Check 2: TorchGeo's BigEarthNetV2 on bigearth's synthesised layout (see the module docstring)."""
    from torchgeo.datasets import BigEarthNetV2

    check = "2 TorchGeo reads bigearth's mini-reBEN layout"
    print(f"\nCheck {check}")
    root = work / "root"
    report.run(
        check,
        "class order (table)",
        lambda: (
            list(BigEarthNetV2.class_set) == facts["classes"]["table"],
            "BigEarthNetV2.class_set == bigearth table order",
        ),
    )

    for split in SPLITS:
        reference = dict(np.load(work / f"torchgeo_{split}.npz"))
        count = len(reference["patch_id"])
        s2_bands = [str(band) for band in reference["bands"]]
        fine = [i for i, band in enumerate(s2_bands) if S2_NATIVE_SIZE[band] == 120]
        coarse = [i for i, band in enumerate(s2_bands) if S2_NATIVE_SIZE[band] != 120]
        s1_order = [[str(band) for band in reference["s1_bands"]].index(band) for band in ("VH", "VV")]
        tg_split = TORCHGEO_SPLITS[split]

        def patch_order(split: str = split, tg_split: str = tg_split) -> tuple[bool, str]:
            dataset = BigEarthNetV2(root, split=tg_split, bands="all", checksum=False)
            names = [str(name) for name in dataset.metadata_df["patch_id"]]
            expected = facts["root_lists"][split]
            return names == expected, f"split {tg_split!r}: {len(names)} patches, bigearth {len(expected)}, same order"

        report.run(check, f"{tg_split}: patches and order", patch_order)

        def arrays(
            bands: str,
            tg_split: str = tg_split,
            reference: dict = reference,
            count: int = count,
            fine: list = fine,
            coarse: list = coarse,
            s1_order: list = s1_order,
        ) -> tuple[bool, str]:
            dataset = BigEarthNetV2(root, split=tg_split, bands=bands, checksum=False)
            samples = [dataset[i] for i in range(count)]
            problems, notes = [], []
            if bands in ("s2", "all"):
                s2 = np.stack([s["image_s2" if bands == "all" else "image"].numpy() for s in samples])
                expected = reference["s2_bilinear"]
                if not np.array_equal(s2[:, fine], expected[:, fine]):
                    problems.append(f"10 m bands differ (max |diff| {_max_abs(s2[:, fine], expected[:, fine])})")
                gap = _max_abs(s2[:, coarse], expected[:, coarse])
                (problems if gap > ROUNDING_TOLERANCE else notes).append(f"20/60 m bilinear max |diff| {gap:.3f}")
            if bands in ("s1", "all"):
                s1 = np.stack([s["image_s1" if bands == "all" else "image"].numpy() for s in samples])
                expected = reference["s1"][:, s1_order]
                gap = _max_abs(s1, expected)
                (problems if gap > ROUNDING_TOLERANCE else notes).append(f"S1 (VH, VV) max |diff| {gap:.3f}")
            labels = np.stack([s["label"].numpy() for s in samples])
            if not np.array_equal(labels, reference["labels"]):
                problems.append("labels differ")
            masks = np.stack([s["mask"].numpy()[0] for s in samples])
            labelled = reference["mask"] != 255
            if not np.array_equal(masks[labelled], reference["mask"][labelled]):
                problems.append("mask differs on labelled pixels")
            if not np.array_equal(masks[~labelled], reference["codes"][~labelled]):
                problems.append("mask differs on unlabelled pixels (expected TorchGeo to keep the CLC code)")
            left = sorted(int(code) for code in np.unique(reference["codes"][~labelled]))
            notes.append(f"labels equal; mask equal on labelled pixels, unlabelled codes {left} kept by TorchGeo")
            return not problems, f"{count} patches; " + "; ".join(problems or notes)

        for bands in ("s1", "s2", "all"):
            report.run(check, f"{tg_split}: bands={bands!r} arrays, labels, masks", lambda b=bands, f=arrays: f(b))


def public_readers(
    work: Path, *, batch_size: int, workers: int, seconds: float, torchgeo_samples: int
) -> dict[str, ReaderBench]:
    """Check 3 (public side): ConfigILM's and TorchGeo's readers on the train split, ready to be timed."""
    from configilm.extra import BENv2_utils
    from configilm.extra._defaults import default_transform
    from configilm.extra.DataSets.BENv2_DataSet import BENv2DataSet
    from torchgeo.datasets import BigEarthNetV2

    bands = list(BENv2DataSet.channel_configurations[14])
    mean, std = BENv2_utils.band_combi_to_mean_std(bands, "120_nearest")

    def configilm(transform: Callable | None) -> Callable[[], Dataset]:
        def make() -> Dataset:
            with quiet():
                return BENv2DataSet(
                    configilm_data_dirs(work / "store"), split="train", img_size=(14, 120, 120), transform=transform
                )

        return make

    readers: dict[str, tuple[Callable[[], Dataset], Sequence[str], int | None]] = {
        "configilm": (configilm(None), ("one", "one_1thread", "workers"), None),
        "configilm_normalised": (configilm(default_transform((120, 120), mean, std)), MODES, None),
        # GDAL-bound and slow: a pass draws from the first `torchgeo_samples` patches, not measured under load
        "torchgeo": (
            lambda: BigEarthNetV2(work / "root", split="train", bands="all", checksum=False),
            ("one", "one_1thread", "workers"),
            torchgeo_samples,
        ),
    }
    built = {}
    for name, (make, modes, limit) in readers.items():
        with quiet():
            built[name] = ReaderBench(
                make,
                modes=modes,
                batch_size=batch_size,
                workers=workers,
                seconds=seconds,
                limit=limit,
                worker_init_fn=quiet_worker,
            )
        print(f"  ready: {name} ({built[name].samples:,} samples per pass)", flush=True)
    return built


#: Rows of the throughput table: key, reader, output.
TABLE_ROWS = (
    ("torchgeo", "TorchGeo BigEarthNetV2(bands='all')", "GeoTIFF, s1+s2 bilinear, raw, mask + labels"),
    ("configilm", "ConfigILM BENv2DataSet(14 ch)", "LMDB, nearest, raw, labels"),
    ("configilm_normalised", "ConfigILM BENv2DataSet + default eval", "LMDB, nearest, normalised, labels"),
    ("bigearth", "bigearth ReBENDataset(bands=14)", "LMDB, nearest, normalised, labels"),
    ("bigearth_packed", "bigearth ReBENDataset(bands=14)", "packed layout, nearest, normalised, labels"),
    ("bigearth_mask", "bigearth ReBENDataset(with_mask=True)", "LMDB, nearest, normalised, mask + labels"),
    ("bigearth_raw", "bigearth ReBENDataset(raw=True) + finish", "workers ship integers, normalised here"),
)


def print_table(rates: dict[str, dict[str, Any]], *, workers: int, batch_size: int, repeats: int) -> None:
    """Print the throughput table (medians with their load averages) and the ratios."""
    count = rates["bigearth"]["count"]
    titles = {
        "one": "1 process",
        "one_1thread": "1 thread",
        "workers": f"{workers} workers",
        "busy": "busy, default",
        "busy_1thread": "busy, 1 thread",
    }
    print(f"\nThroughput, samples/s (load average in brackets): train split ({count} patches; TorchGeo: the first")
    print(f"{rates['torchgeo']['count']}), 14 bands at 120 px, batch {batch_size}, median of {repeats} interleaved")
    print(f"rounds; 1 process with torch's default threads ({torch.get_num_threads()} here) and with one thread;")
    print(f"{workers} spawned persistent workers after a warm-up pass; busy: while {os.cpu_count()} spinning processes")
    print("keep every core busy")
    print(f"{'reader':<40} {'output':<44}" + "".join(f" {titles[mode]:>17}" for mode in MODES))
    for key, name, output in TABLE_ROWS:
        cells = []
        for mode in MODES:
            entry = rates[key]["modes"].get(mode)
            cells.append(f"{entry['median']:,.1f} ({entry['load']:.1f})" if entry else "-")
        print(f"{name:<40} {output:<44}" + "".join(f" {cell:>17}" for cell in cells))

    def median(key: str, mode: str) -> float | None:
        entry = rates[key]["modes"].get(mode)
        return entry["median"] if entry else None

    for key, layout in (("bigearth", "LMDB"), ("bigearth_packed", "packed layout")):
        print(
            f"\nRatios of bigearth from its {layout} (normalised + labels) over the public readers; DESIGN 2.12 goals"
        )
        for public, goal in (("configilm_normalised", "4x"), ("configilm", "4x"), ("torchgeo", "100x")):
            parts = [
                f"{median(key, mode) / median(public, mode):.1f}x {titles[mode]}"
                for mode in MODES
                if median(public, mode) is not None
            ]
            print(f"  over {public:<22} " + ", ".join(parts) + f"  [{goal}]")
    for key in ("bigearth", "bigearth_packed", "configilm_normalised"):
        share = median(key, "busy") / median(key, "busy_1thread")
        print(f"  {key}: default threads / one thread, every core busy: {share:.2f}  [bigearth: >= 0.75]")
    raw = median("bigearth_raw", "workers")
    print(
        f"  bigearth's worker route of the DataModule (raw integers from {workers} workers, finished here): "
        f"{raw / median('configilm_normalised', 'workers'):.1f}x ConfigILM + eval, "
        f"{raw / median('torchgeo', 'workers'):.1f}x TorchGeo, with {workers} workers each  [4x, 100x]"
    )
    with_masks = median("bigearth_mask", "one") / median("torchgeo", "one")
    print(f"  (bigearth with masks over TorchGeo, which always reads them: {with_masks:.1f}x in one process)")


def print_notes() -> None:
    """Print the documented differences of the public readers found while writing this check."""
    print("\nNotes (documented behaviour of the public readers, not incompatibilities of bigearth):")
    for note in (
        "ConfigILM upsamples 20/60 m bands with nearest (BENv2DataSet passes upsample_mode='nearest'); "
        "bigearth's default is nearest too.",
        "ConfigILM's BENv2DataSet returns images without normalisation; its BENv2DataModule normalises with "
        "band_combi_to_mean_std(img_size[0]) ('120_nearest'), which has no key 14 (its 14-band key is 'ALL'), "
        "so a 14-channel DataModule fails its assertion; this check normalises with the band list instead.",
        "ConfigILM's labels are float64 multi-hot in alphabetical class order; bigearth: class_order='alphabetical'.",
        "TorchGeo reads every band with rasterio out_shape=(120, 120), Resampling.bilinear, out_dtype='int32': "
        "20/60 m bands are bilinear and every value, S1 dB included, is rounded to an integer.",
        "TorchGeo orders S1 as sorted file names (VH, VV) and S2 in file order (B01..B08, B8A, B09, B11, B12); "
        "labels are long multi-hot in table order; it reads only metadata.parquet and takes split 'val' for "
        "'validation'; unlabelled CLC codes stay in its mask as raw codes (bigearth: 255).",
        "TorchGeo's BigEarthNetV2 checks only that BigEarthNet-S1, BigEarthNet-S2, Reference_Maps and "
        "metadata.parquet exist under root; checksum=False is passed (its md5s are those of the real archives).",
    ):
        print(f"  - {note}")


def run_bigearth(python: Path, role: str, work: Path, *extra: str) -> None:
    """Run this script's bigearth side in bigearth's environment.

    Raises:
        RuntimeError: if the subprocess fails.
    """
    command = [str(python), str(Path(__file__).resolve()), "--role", role, "--work", str(work), *extra]
    result = subprocess.run(command, cwd=REPO, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the bigearth side failed ({' '.join(command)} exited {result.returncode})")


class BigearthSide:
    """The bigearth side of check 3: a subprocess in bigearth's environment that times its readers on request.

    Args:
        python: python of bigearth's environment.
        work: the data folder.
        options: command-line options of the measurement.

    Raises:
        RuntimeError: if the subprocess exits without answering.
    """

    def __init__(self, python: Path, work: Path, options: Sequence[str]) -> None:
        command = [str(python), str(Path(__file__).resolve()), "--role", "bigearth-bench", "--work", str(work)]
        self.process = subprocess.Popen(
            [*command, *options], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.counts = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER) :])
            print(line, end="")
        raise RuntimeError(f"the bigearth side exited with status {self.process.wait()} without answering")

    def run_phase(self, phase: str) -> dict[str, dict[str, tuple[float, float]]]:
        """Time one pass of each bigearth reader's modes of ``phase``."""
        assert self.process.stdin is not None
        self.process.stdin.write(phase + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """End the subprocess (it exits when its stdin closes)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def interleave(public: dict[str, ReaderBench], bigearth: BigearthSide, repeats: int) -> dict[str, dict[str, Any]]:
    """Run ``repeats`` rounds (idle phase, then busy phase; public and bigearth readers in alternating order).

    Returns:
        ``{reader: {"count": samples, "modes": {mode: {"median", "load", "runs"}}}}``.
    """
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {}
    sides: list[Callable[[str], dict[str, dict[str, tuple[float, float]]]]] = [
        lambda phase: {name: reader.run_phase(phase) for name, reader in public.items()},
        bigearth.run_phase,
    ]
    for round_ in range(repeats):
        for phase in PHASE_MODES:
            with busy_cores(phase == "busy"):
                for side in sides if round_ % 2 == 0 else sides[::-1]:
                    with quiet():
                        measured = side(phase)
                    for name, modes in measured.items():
                        for mode, value in modes.items():
                            runs.setdefault(name, {}).setdefault(mode, []).append(tuple(value))
        print(f"  round {round_ + 1} of {repeats} done, load average {os.getloadavg()[0]:.1f}", flush=True)
    counts = {name: reader.count for name, reader in public.items()}
    counts |= {name: facts["count"] for name, facts in bigearth.counts.items()}
    return {
        name: {
            "count": counts[name],
            "modes": {
                mode: {
                    "median": statistics.median(rate for rate, _ in values),
                    "load": statistics.fmean(load for _, load in values),
                    "runs": values,
                }
                for mode, values in modes.items()
            },
        }
        for name, modes in runs.items()
    }


def measure_speeds(args: argparse.Namespace, work: Path, report: Report) -> None:
    """Check 3: measure the public readers here and bigearth in its environment, interleaved; print the table."""
    check = "3 throughput measured"
    print(f"\nCheck {check}")
    speed = {"batch_size": args.batch_size, "workers": args.workers, "seconds": args.seconds}
    options = [f"--{name.replace('_', '-')}={value}" for name, value in speed.items()]
    bigearth = None
    try:
        public = public_readers(work, torchgeo_samples=args.torchgeo_samples, **speed)
        bigearth = BigearthSide(args.bigearth_python, work, options)
        rates = interleave(public, bigearth, args.repeats)
    except Exception as error:
        report.add(check, "throughput", False, f"{type(error).__name__}: {error}")
        return
    finally:
        if bigearth is not None:
            bigearth.close()
    report.add(check, "ConfigILM, TorchGeo and bigearth measured on the same train split", True)
    (work / "rates.json").write_text(json.dumps(rates, indent=1))
    print_table(rates, workers=args.workers, batch_size=args.batch_size, repeats=args.repeats)


def check_main(args: argparse.Namespace, work: Path) -> int:
    """Run checks 1-3 with ``work`` as the data folder; return the exit status."""
    params = {"patches": args.patches, "seed": args.seed, "compare": args.compare}
    facts_file = work / "prepare.json"
    kept = json.loads(facts_file.read_text()) if facts_file.is_file() else {}
    if kept.get("params") != params or kept.get("version") != PREPARE_VERSION:
        facts_file.unlink(missing_ok=True)
        print(f"Preparing a mini-reBEN of {args.patches} patches in {work} with bigearth ({args.bigearth_python})")
        options = [f"--{name}={value}" for name, value in params.items()]
        run_bigearth(args.bigearth_python, "bigearth-prepare", work, *options)
    else:
        print(f"Reusing the mini-reBEN in {work}")
    facts = json.loads(facts_file.read_text())
    print("bigearth env: " + ", ".join(f"{name} {version}" for name, version in facts["versions"].items()))

    report = Report()
    check_configilm(work, facts, report)
    check_torchgeo(work, facts, report)

    if not args.no_speed:
        measure_speeds(args, work, report)
    print_notes()

    print("\nSummary")
    checks = list(dict.fromkeys(outcome.check for outcome in report.outcomes))
    for check in checks:
        print(f"  {'PASS' if report.passed(check) else 'FAIL'}  check {check}")
    return 0 if all(report.passed(check) for check in checks) else 1


def main() -> int:
    """Parse the arguments and run the role asked for; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patches", type=int, default=300, help="patches of the mini-reBEN")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mini-reBEN")
    parser.add_argument("--compare", type=int, default=64, help="patches whose arrays are compared (0 = all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for the throughput")
    parser.add_argument("--seconds", type=float, default=1.5, help="target duration of one timed pass")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the table shows medians")
    parser.add_argument("--torchgeo-samples", type=int, default=64, help="patches a TorchGeo pass draws from")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput measurement (check 3)")
    parser.add_argument("--keep", type=Path, help="data folder to keep (and reuse when parameters match)")
    parser.add_argument(
        "--bigearth-python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="python of bigearth's environment",
    )
    parser.add_argument(
        "--role", choices=("check", "bigearth-prepare", "bigearth-bench"), default="check", help=argparse.SUPPRESS
    )
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "bigearth-prepare":
        bigearth_prepare(args.work, args.patches, args.seed, args.compare)
        return 0
    if args.role == "bigearth-bench":
        bigearth_bench(args.work, batch_size=args.batch_size, workers=args.workers, seconds=args.seconds)
        return 0
    start = time.perf_counter()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        status = check_main(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="bigearth-compat-") as folder:
            status = check_main(args, Path(folder))
    print(f"\n{'PASS' if status == 0 else 'FAIL'}: compatibility check done in {time.perf_counter() - start:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
