"""Running independent jobs in this process, in spawned worker processes, or on a Dask cluster.

Workers are spawned, not forked (GDAL and LMDB handles must not cross a fork), and receive plain job objects
(paths and metadata), never open datasets. Results come back as they finish, in any order.
"""

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import TYPE_CHECKING, TypeVar

from bigearth._optional import require

if TYPE_CHECKING:
    from dask.distributed import Client, as_completed

J = TypeVar("J")
R = TypeVar("R")

#: ``--scheduler`` value that starts a local Dask cluster with ``--workers`` processes.
LOCAL_SCHEDULER = "local"
_END = object()


def run_jobs(
    function: Callable[[J], R], jobs: Sequence[J], *, workers: int = 0, scheduler: str | None = None
) -> Iterator[R]:
    """Yield ``function(job)`` for every job, as the results come in.

    Args:
        function: a module-level function (workers import it by name).
        jobs: picklable job descriptions.
        workers: worker processes; 0 runs the jobs in this process, one after the other.
        scheduler: a Dask scheduler address (``tcp://host:8786``), or ``"local"`` for a local Dask cluster of
            ``workers`` processes; None uses a process pool.

    Raises:
        MissingExtraError: if a scheduler is asked for and Dask is not installed (the ``build`` extra).
    """
    if scheduler is not None:
        yield from _run_dask(function, jobs, workers=workers, scheduler=scheduler)
    elif workers > 0:
        yield from _run_pool(function, jobs, workers=workers)
    else:
        for job in jobs:
            yield function(job)


def _run_pool(function: Callable[[J], R], jobs: Sequence[J], *, workers: int) -> Iterator[R]:
    """Run jobs in spawned processes, keeping at most two jobs per worker in flight."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: set[Future] = set()
        queue = iter(jobs)
        try:
            while True:
                for job in queue:
                    pending.add(pool.submit(function, job))
                    if len(pending) >= 2 * workers:
                        break
                if not pending:
                    return
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _run_dask(function: Callable[[J], R], jobs: Sequence[J], *, workers: int, scheduler: str) -> Iterator[R]:
    """Run jobs on a Dask cluster (a local one for ``scheduler == "local"``), two per worker thread in flight.

    Jobs are submitted as results are taken, so a consumer slower than the cluster (e.g. the single LMDB writer of
    ``encode``) holds at most two results per worker thread in the cluster's memory, not every finished job.
    """
    require("distributed", extra="build")  # the package behind dask.distributed
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler == LOCAL_SCHEDULER:
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        queue = iter(jobs)
        running = as_completed()
        _submit(client, function, queue, running)
        for future in running:
            result = future.result()
            future.release()
            _submit(client, function, queue, running)  # the next job runs while the consumer takes this result
            yield result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _submit(client: "Client", function: Callable[[J], R], queue: Iterator[J], running: "as_completed") -> None:
    """Submit jobs from ``queue`` until two per worker thread of the cluster are running or waiting to be taken."""
    limit = 2 * max(sum(client.nthreads().values()), 1)
    while running.count() < limit:
        job = next(queue, _END)
        if job is _END:
            return
        running.add(client.submit(function, job, pure=False))
