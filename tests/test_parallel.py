"""Jobs on a Dask cluster: results come back as they finish, with at most two jobs per worker thread submitted ahead."""

import time
from pathlib import Path

from bigearth.parallel import run_jobs


def test_dask_jobs_are_submitted_as_results_are_taken(tmp_path: Path) -> None:
    """A slow consumer (the one LMDB writer of ``encode``) keeps the cluster from running every job ahead of it."""
    jobs = [tmp_path / f"job-{number}" for number in range(12)]
    taken = 0
    for _ in run_jobs(Path.touch, jobs, workers=1, scheduler="local"):  # one worker of one thread: 2 in flight
        taken += 1
        time.sleep(0.3)  # long enough for a cluster without backpressure to have run every job
        started = sum(job.exists() for job in jobs)
        assert started <= taken + 2, f"{started} jobs ran while {taken} results were taken"
    assert taken == len(jobs)
    assert all(job.exists() for job in jobs)
