"""Encoding a release root into a store: every patch folder found, in parallel threads or processes, resumable.

Readers are threads of this process (bigearth's strip reader, the default), spawned processes (tifffile,
rasterio; never forked: GDAL with fork can deadlock) or the workers of a Dask cluster, and receive paths, not open
datasets; they read GeoTIFFs and serialise them, the parent is the single LMDB writer. Like rico-hdl, every patch
folder under the root is encoded, with or without metadata files; where metadata exists, each listed patch must be
on disk.
"""

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bigearth.data import safetensors_codec
from bigearth.data.geotiff import check_reader, read_reference_map, read_s1, read_s2
from bigearth.data.layout import METADATA_FILE, REFERENCE_DIR, S1_DIR, S2_DIR, SNOW_CLOUD_METADATA_FILE
from bigearth.data.metadata import read_metadata
from bigearth.data.store import REFERENCE_MAP_TENSOR
from bigearth.data.store_writer import StoreWriter
from bigearth.errors import MissingDataError, StoreError
from bigearth.parallel import run_jobs

#: Readers whose chunks are read in threads of this process rather than in spawned processes: bigearth's strip
#: reader spends about 0.1 ms of CPU per file (mostly in file reads, zlib and numpy, which release the GIL), less
#: than starting a process and sending it the chunks and the values back costs (measured in docs/benchmarks.md).
THREADED_READERS = frozenset({"bigearth"})
#: (kind, name): kind is "s2", "s1" or "reference_map"; name the S2 patch_id or S1 s1_name.
Task = tuple[str, str]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EncodeSummary:
    """What an encode did: values found, values written in this run, and whether the store was complete before."""

    found: int
    written: int
    already_complete: bool


def _patch_folders(folder: Path) -> Iterator[str]:
    """Yield the names of patch folders two levels below ``folder`` (``<tile or scene>/<patch>``)."""
    if not folder.is_dir():
        return
    for group in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if group.is_dir():
            yield from sorted(entry.name for entry in os.scandir(group.path) if entry.is_dir())


def discover(root: Path) -> list[Task]:
    """List every patch folder of a release root as encode tasks, S2 first, then S1, then reference maps."""
    return (
        [("s2", name) for name in _patch_folders(root / S2_DIR)]
        + [("s1", name) for name in _patch_folders(root / S1_DIR)]
        + [("reference_map", name) for name in _patch_folders(root / REFERENCE_DIR)]
    )


def store_key(task: Task) -> str:
    """Return the store key of an encode task."""
    kind, name = task
    return f"{name}_reference_map" if kind == "reference_map" else name


def encode_task(root: Path, task: Task, *, reader: str = "bigearth") -> bytes:
    """Read one patch's files of one kind and return the store value (safetensors bytes).

    Args:
        root: release root.
        task: (kind, name) of the patch.
        reader: GeoTIFF reader, ``"bigearth"``, ``"tifffile"`` or ``"rasterio"`` (identical arrays; fastest first).
    """
    kind, name = task
    if kind == "s2":
        arrays = read_s2(root, name, reader=reader)
    elif kind == "s1":
        arrays = read_s1(root, name, reader=reader)
    else:
        arrays = {REFERENCE_MAP_TENSOR: read_reference_map(root, name, reader=reader)}
    return safetensors_codec.encode(arrays)


def _encode_chunk(root: Path, tasks: list[Task], reader: str = "bigearth") -> list[tuple[str, bytes]]:
    return [(store_key(task), encode_task(root, task, reader=reader)) for task in tasks]


def check_metadata_on_disk(root: Path, tasks: list[Task]) -> None:
    """Check that every patch listed in the root's metadata has its S2 and S1 folders (and map, if maps exist).

    Raises:
        MissingDataError: naming the first missing patches and what to do.
    """
    if not (root / METADATA_FILE).is_file():
        return
    metadata = read_metadata(root, include_snow_cloud=(root / SNOW_CLOUD_METADATA_FILE).is_file())
    found = {kind: {name for k, name in tasks if k == kind} for kind in ("s2", "s1", "reference_map")}
    expected = {"s2": metadata["patch_id"], "s1": metadata["s1_name"]}
    if found["reference_map"] or (root / REFERENCE_DIR).is_dir():
        expected["reference_map"] = metadata["patch_id"]
    for kind, names in expected.items():
        missing = sorted(set(names) - found[kind])
        if missing:
            raise MissingDataError(
                f"{len(missing)} patch(es) listed in {root / METADATA_FILE} have no {kind} folder under {root}, "
                f"e.g. {missing[:3]}; extract the missing folders from the reBEN archive, or remove those rows "
                "from the metadata"
            )


def _chunks(tasks: list[Task], size: int) -> Iterator[list[Task]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


def encode(
    root: Path,
    store: Path,
    *,
    workers: int = 2,
    chunk_size: int = 32,
    map_size: int | None = None,
    progress: Progress | None = None,
    reader: str = "bigearth",
    scheduler: str | None = None,
) -> EncodeSummary:
    """Encode every patch folder of a release root into a store (resumable; the manifest marks completion).

    Args:
        root: release root in the official layout (metadata files optional).
        store: output store folder; an interrupted encode in it is resumed.
        workers: reading threads (bigearth's reader) or spawned processes (the others); 0 reads in this process.
        chunk_size: patches a worker reads per task.
        map_size: LMDB map size in bytes (default 1 TiB of address space).
        progress: called with (done, total) values after each chunk.
        reader: GeoTIFF reader, ``"bigearth"`` (default: its strip reader, other files through tifffile),
            ``"tifffile"`` or ``"rasterio"`` (GDAL); identical arrays.
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``) whose workers read and encode
            chunks (they must see ``root`` at the same path), or ``"local"`` for a local Dask cluster of
            ``workers`` processes; this process stays the single LMDB writer. None: spawned processes.

    Raises:
        ConfigError: for an unknown reader, or a scheduler without Dask installed.
        MissingDataError: if the root holds no patch folder or a listed patch is missing.
        StoreError: if the store is the root itself, another encode writes into it, or it holds an interrupted
            encode of another root.
        CorruptDataError: naming the file, if a GeoTIFF cannot be read; the store stays incomplete.
    """
    root, store = Path(root), Path(store)
    check_reader(reader)
    if store.resolve() == root.resolve():
        raise StoreError(
            f"the store {store} would be written into the release root {root} itself; choose another folder"
        )
    tasks = discover(root)
    if not tasks:
        raise MissingDataError(f"{root} holds no patch folders under {S2_DIR}, {S1_DIR} or {REFERENCE_DIR}")
    check_metadata_on_disk(root, tasks)
    if (store / "manifest.json").is_file():
        return EncodeSummary(found=len(tasks), written=0, already_complete=True)
    options = {} if map_size is None else {"map_size": map_size}
    with StoreWriter(store, source=root, **options) as writer:
        todo = [task for task in tasks if store_key(task) not in writer.existing]
        done = len(tasks) - len(todo)
        if progress:
            progress(done, len(tasks))
        chunks = _run_chunks(root, todo, workers=workers, chunk_size=chunk_size, reader=reader, scheduler=scheduler)
        for chunk_values in chunks:
            for key, value in chunk_values:
                writer.put(key, value)
            writer.commit()  # an interrupted encode keeps every finished chunk
            done += len(chunk_values)
            if progress:
                progress(done, len(tasks))
        writer.finalize(root if (root / METADATA_FILE).is_file() else None)
    return EncodeSummary(found=len(tasks), written=len(todo), already_complete=False)


def exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """Worker initializer: end this process soon after ``parent`` dies (even by ``kill -9``).

    A killed parent cannot shut its pool down, and its spawned readers (about 1 GB each on reBEN) would live on;
    a daemon thread notices that the process was re-parented and exits.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_chunks(
    root: Path, tasks: list[Task], *, workers: int, chunk_size: int, reader: str, scheduler: str | None
) -> Iterator[list[tuple[str, bytes]]]:
    """Yield encoded chunks, read in threads or spawned processes (2 chunks in flight per worker) or on Dask."""
    chunks = _chunks(tasks, chunk_size)
    if scheduler is not None:
        yield from run_jobs(partial(_encode_chunk, root, reader=reader), list(chunks), workers=workers,
                            scheduler=scheduler)  # fmt: skip
        return
    if workers == 0:
        for chunk in chunks:
            yield _encode_chunk(root, chunk, reader)
        return
    spawn = multiprocessing.get_context("spawn")
    if reader in THREADED_READERS:
        executor: Executor = ThreadPoolExecutor(workers, thread_name_prefix="bigearth-encode")
    else:
        executor = ProcessPoolExecutor(workers, mp_context=spawn, initializer=exit_with_parent, initargs=(os.getpid(),))
    with executor as pool:
        pending: set[Future] = set()
        for chunk in chunks:
            pending.add(pool.submit(_encode_chunk, root, chunk, reader))
            if len(pending) >= 2 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        for future in pending:
            yield future.result()
