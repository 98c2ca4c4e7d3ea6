"""Running a build: plan, cut the tiles in parallel on Dask (or in this process), finish the output.

Tiles are the unit of work. By default a local Dask cluster of spawned worker *processes* (one thread each: GDAL
is not shared between threads, and never forked) cuts them; ``scheduler`` runs the same build on an existing Dask
cluster (``tcp://host:8786``), whose workers must have bigearth installed and see the input and output paths at
the same place (a shared file system). Workers receive paths and small descriptions, never open datasets, and
report progress per row of patches as Dask events. ``workers=0`` cuts the tiles one after the other in this
process (no Dask), which is what the tests and a debugger want.
"""

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigearth._optional import require
from bigearth.construct import state
from bigearth.construct.options import BuildOptions
from bigearth.construct.plan import plan_build
from bigearth.construct.report import BuildSummary, finish
from bigearth.construct.tile import TileJob, process_tile
from bigearth.data.layout import METADATA_FILES

#: The Dask event topic of per-row progress messages.
PROGRESS_TOPIC = "bigearth-build-progress"


@dataclass(frozen=True)
class TileProgressEvent:
    """Progress of one tile.

    Attributes:
        tile: the tile name.
        examined: candidate patches examined so far.
        candidates: candidate patches of the tile (grid cells inside the image).
        finished: whether the tile is committed.
    """

    tile: str
    examined: int
    candidates: int
    finished: bool = False


#: Receives progress events; with Dask it is called from the client's event thread.
BuildProgress = Callable[[TileProgressEvent], None]


def cut_tile_on_worker(job: TileJob) -> dict[str, Any]:
    """Cut one tile on a Dask worker, reporting each finished row of patches as a Dask event."""
    worker = require("distributed", extra="build").get_worker()

    def report(examined: int, candidates: int) -> None:
        worker.log_event(PROGRESS_TOPIC, {"tile": job.tile, "examined": examined, "candidates": candidates})

    return process_tile(job, report)


def _candidates(job: TileJob) -> int:
    return 0 if job.block is None else job.block.count


def _tile_reporter(tile: str, progress: BuildProgress) -> Callable[[int, int], None]:
    def report(examined: int, candidates: int) -> None:
        progress(TileProgressEvent(tile, examined, candidates))

    return report


def _run_here(jobs: list[TileJob], progress: BuildProgress | None) -> None:
    for job in jobs:
        process_tile(job, None if progress is None else _tile_reporter(job.tile, progress))
        if progress is not None:
            progress(TileProgressEvent(job.tile, _candidates(job), _candidates(job), finished=True))


def _run_dask(jobs: list[TileJob], workers: int, scheduler: str | None, progress: BuildProgress | None) -> None:
    require("distributed", extra="build")
    from distributed import Client, LocalCluster, as_completed

    with ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            stack.enter_context(cluster)
            client = stack.enter_context(Client(cluster))
        if progress is not None:

            def on_event(event: tuple[float, dict[str, Any]]) -> None:
                message = event[1]
                progress(TileProgressEvent(message["tile"], message["examined"], message["candidates"]))

            client.subscribe_topic(PROGRESS_TOPIC, on_event)
        by_key = {f"bigearth-build-{job.tile}": job for job in jobs}
        futures = client.map(cut_tile_on_worker, list(by_key.values()), key=list(by_key), pure=False)
        try:
            for future in as_completed(futures):
                future.result()  # re-raises a worker's error with its type and message
                job = by_key[future.key]
                if progress is not None:
                    progress(TileProgressEvent(job.tile, _candidates(job), _candidates(job), finished=True))
        except BaseException:
            client.cancel(futures)
            raise
        finally:
            if progress is not None:
                client.unsubscribe_topic(PROGRESS_TOPIC)


def build(
    s2: Sequence[Path],
    s1: Sequence[Path],
    clc: Path,
    out: Path,
    *,
    options: BuildOptions | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    clc_layer: str | None = None,
    clc_field: str | None = None,
    progress: BuildProgress | None = None,
    on_plan: Callable[[list[TileJob], list[TileJob]], None] | None = None,
) -> BuildSummary:
    """Build reBEN from S2 L2A products, terrain-corrected S1 scenes and CLC 2018 into ``out``.

    ``out`` gets the official layout (``BigEarthNet-S2``, ``BigEarthNet-S1``, ``Reference_Maps``, both metadata
    files) plus ``build_summary.json`` and ``build_patches.parquet``. An interrupted build resumes where it
    stopped when run again with the same options; tiles committed before are kept, and a build can be extended
    by running it again with more products.

    Args:
        s2: S2 L2A product folders (``.SAFE``), or folders holding them.
        s1: terrain-corrected S1 GeoTIFFs (VV and VH in dB), or folders holding them.
        clc: CLC 2018 as the vector GeoPackage or as a raster.
        out: the output folder (new, empty, or a previous build to resume or extend).
        options: what to make of the inputs (default :class:`BuildOptions`).
        workers: Dask worker processes of the local cluster (default: all cores); 0 cuts the tiles here.
        scheduler: address of an existing Dask scheduler to run on instead of a local cluster.
        clc_layer: the CLC polygon layer, if the file has several.
        clc_field: the CLC code field, if not ``Code_18``.
        progress: receives :class:`TileProgressEvent` per row of patches and per finished tile.
        on_plan: called with (all jobs, jobs still to cut) once the inputs are checked.

    Returns:
        What the build kept and dropped, per tile and in total.

    Raises:
        MissingDataError, CorruptDataError, ConfigError: naming the bad input (see :mod:`bigearth.construct.plan`).
    """
    options = options or BuildOptions()
    plan = plan_build(s2, s1, clc, out, options, clc_layer=clc_layer, clc_field=clc_field)
    state.start(out, options.record(), METADATA_FILES)
    todo = [job for job in plan.jobs if not state.is_done(out, job.tile)]
    if on_plan is not None:
        on_plan(list(plan.jobs), todo)
    if todo:
        count = (os.cpu_count() or 1) if workers is None else workers
        if count == 0 and scheduler is None:
            _run_here(todo, progress)
        else:
            _run_dask(todo, max(1, min(count, len(todo))), scheduler, progress)
    state.tidy(out)
    return finish(out, options, [job.tile for job in todo])
