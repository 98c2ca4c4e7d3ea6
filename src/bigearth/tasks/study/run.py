"""``bigearth ssl study``: run a study's pretraining runs, probe each, write the long table and the figures.

The study folder::

    DIR/study.yaml            the resolved study file
    DIR/runs/<run>/           one SSL run folder per run (bigearth.tasks.ssl.pretrain), with study.json (wall time)
    DIR/random/seed-<s>.json  the probes of a randomly initialised encoder (with random_baseline)
    DIR/study.parquet         the long table: one row per run and probe
    DIR/study.md              the table, mean and spread over seeds
    DIR/figures/<axis>.png    macro AP along each axis that has more than one value

A run whose folder holds ``metrics.json`` is complete and skipped; an interrupted one resumes from its last
checkpoint (:func:`bigearth.tasks.ssl.pretrain.pretrain`). Runs go one after another, to spawned processes
(``study.workers``) or to a Dask cluster (``study.scheduler``); one run on several GPUs takes the recipe's
``trainer`` keys (``trainer: {devices: 4, strategy: ddp}`` in the study file).
"""

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import ConfigError
from bigearth.folders.encoders import load_encoder
from bigearth.parallel import run_jobs
from bigearth.tasks.run import RunFolder
from bigearth.tasks.ssl.config import parse_ssl_config
from bigearth.tasks.ssl.evaluate import probe_encoder
from bigearth.tasks.ssl.pretrain import pretrain
from bigearth.tasks.study.config import StudyConfig, StudyRun, plan_study
from bigearth.tasks.study.report import write_report

#: The file of a run folder in which the study records the run's wall time and the machine's load.
RUN_RECORD = "study.json"


@dataclass(frozen=True)
class StudyFolder:
    """The paths of one study.

    Attributes:
        path: the study folder.
    """

    path: Path

    @property
    def runs_dir(self) -> Path:
        """Where the run folders go."""
        return self.path / "runs"

    @property
    def random_dir(self) -> Path:
        """Where the random encoder's probes go."""
        return self.path / "random"


def run_one(job: tuple[StudyRun, str]) -> dict[str, Any]:
    """Pretrain and probe one run unless its folder is complete; return its record (a module-level job).

    Returns:
        ``{"run", "values", "seed", "metrics", "wall_s", "load", "skipped"}``.
    """
    run, folder = job
    path = Path(folder)
    record_file = path / RUN_RECORD
    if RunFolder(path).is_complete and record_file.is_file():
        return {**json.loads(record_file.read_text()), "skipped": True}
    start = time.perf_counter()
    pretrain(parse_ssl_config(run.raw, name=run.name), out=path)
    record = {"run": run.name, "values": run.values, "seed": run.seed, "wall_s": round(time.perf_counter() - start, 1),
              "load": [round(value, 2) for value in os.getloadavg()],
              "metrics": json.loads(RunFolder(path).metrics_file.read_text())}  # fmt: skip
    atomic_write_json(record_file, record)
    return {**record, "skipped": False}


def _check_existing(runs: list[StudyRun], folder: StudyFolder) -> None:
    """Refuse a study folder whose run folders were made by other recipes (before any run starts)."""
    for run in runs:
        existing = RunFolder(folder.runs_dir / run.name)
        if not existing.config_file.is_file():
            continue
        mine = parse_ssl_config(run.raw, name=run.name).to_dict()
        if existing.read_config(parse_ssl_config).to_dict() != mine:
            raise ConfigError(f"{existing.path} holds a run of another recipe than the study's run {run.name}; "
                              "remove it, or give the study another --out")  # fmt: skip


def random_baseline(study: StudyConfig, folder: StudyFolder, first_run: Path, seed: int) -> dict[str, Any]:
    """Probe a randomly initialised encoder of the first run's architecture (once per seed; kept on disk)."""
    path = folder.random_dir / f"seed-{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    encoder = load_encoder(first_run, device=device).reinitialised().to(device).eval()
    probes = probe_encoder(encoder, Path(str(study.data.path)), protocols=study.study.probes, seed=seed)
    atomic_write_json(path, {"seed": seed, "probes": probes})
    return {"seed": seed, "probes": probes}


def run_study(study: StudyConfig, *, out: Path | None = None) -> StudyFolder:
    """Run a study: check every run, pretrain and probe those not yet complete, write the table and figures.

    Args:
        study: the resolved study file.
        out: the study folder (``runs/<study name>`` by default); complete runs in it are skipped.

    Raises:
        ConfigError, MissingDataError: for an invalid run or data, or a run folder of another recipe, before any
            run starts.
    """
    folder = StudyFolder(Path(out) if out is not None else Path("runs") / study.name)
    runs = plan_study(study)
    _check_existing(runs, folder)
    folder.path.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder.path / "study.yaml", yaml.safe_dump(asdict(study), sort_keys=False).encode())
    jobs = [(run, str(folder.runs_dir / run.name)) for run in runs]
    records = list(run_jobs(run_one, jobs, workers=study.study.workers, scheduler=study.study.scheduler))
    order = {run.name: position for position, run in enumerate(runs)}
    records.sort(key=lambda record: order[record["run"]])
    baselines = []
    if study.study.random_baseline:
        baselines = [random_baseline(study, folder, Path(jobs[0][1]), seed) for seed in study.study.seeds]
    write_report(folder.path, records, baselines, data=str(study.data.path))
    return folder


def study_report(path: Path) -> str:
    """What ``bigearth ssl study`` prints when a study has finished: its Markdown table."""
    return (Path(path) / "study.md").read_text()
