"""The results table of self-supervised runs: method x regulariser, kNN and linear probes (and fine-tuning).

Every encoder is probed again on the given data (one protocol, one place: :func:`probe_encoder`), beside a
randomly initialised encoder of the first run's architecture (the floor every method must beat). Rows are written
as Markdown: one row per run, then a matrix of kNN macro AP by method and regulariser.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bigearth.folders.encoders import load_encoder
from bigearth.models.encoders import FeatureEncoder
from bigearth.tasks.run import RunFolder
from bigearth.tasks.ssl.config import parse_ssl_config
from bigearth.tasks.ssl.evaluate import PROTOCOLS, finetune, macro_micro, probe_encoder

REGULARISER_NAMES = {"plain": "plain", "georank": "GeoRank", "location_clusters": "location clusters (GASSL)"}


@dataclass
class TableRow:
    """One evaluated encoder.

    Attributes:
        method: SSL method (``random init`` for the baseline).
        regulariser: ``plain``, ``GeoRank``, ...
        run: the run folder (empty for the baseline).
        results: protocol (``knn``, ``linear``, ``finetune``) -> result dict.
    """

    method: str
    regulariser: str
    run: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def scores(self, protocol: str) -> tuple[float, float]:
        """Return ``(macro AP, micro AP)`` of a protocol (NaN if it did not run)."""
        return macro_micro(self.results.get(protocol))


def describe_run(run: Path) -> tuple[str, str]:
    """Return ``(method, regulariser)`` of an SSL run folder, from its recipe.

    Raises:
        ConfigError: if the folder holds no SSL recipe.
    """
    config = RunFolder(Path(run)).read_config(parse_ssl_config)
    return config.model.method, REGULARISER_NAMES[config.regulariser]


def _probe(encoder: FeatureEncoder, data: Path, protocols: Sequence[str], seed: int) -> dict[str, dict[str, Any]]:
    return probe_encoder(encoder, data, protocols=[p for p in protocols if p in PROTOCOLS], seed=seed)


def evaluate_runs(
    runs: Sequence[Path], data: Path, *, protocols: Sequence[str] = PROTOCOLS, random_baseline: bool = True,
    finetune_recipe: Path | None = None, finetune_dir: Path | None = None, seed: int = 0,
) -> list[TableRow]:  # fmt: skip
    """Probe every run's encoder (and a random one), optionally fine-tune each; returns the rows.

    Args:
        runs: SSL run folders.
        data: store folder or release root.
        protocols: ``knn`` and/or ``linear``.
        random_baseline: add a row for a randomly initialised encoder of the first run's architecture.
        finetune_recipe: a classification recipe to fine-tune every encoder with (none: no fine-tuning).
        finetune_dir: where the fine-tuning runs go (``<run>/finetune`` by default).
        seed: seed of the random encoder and the linear probe.

    Raises:
        ConfigError: if a folder is no finished SSL run.
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for run in runs:
        method, regulariser = describe_run(run)
        row = TableRow(method, regulariser, str(run), _probe(load_encoder(Path(run), device=device), data,
                                                             protocols, seed))  # fmt: skip
        if finetune_recipe is not None:
            out = (Path(finetune_dir) / Path(run).name) if finetune_dir else Path(run) / "finetune"
            row.results["finetune"] = finetune(Path(run), data, recipe=finetune_recipe, out=out)
        rows.append(row)
    if random_baseline and runs:
        torch.manual_seed(seed)
        encoder = load_encoder(Path(runs[0]), device=device).reinitialised().to(device).eval()
        rows.insert(0, TableRow("random init", "-", "", _probe(encoder, data, protocols, seed)))
    return rows


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def markdown_table(rows: Sequence[TableRow], *, data: str = "") -> str:
    """Return the rows as Markdown: one line per encoder, then kNN macro AP by method x regulariser."""
    protocols = [p for p in ("knn", "linear", "finetune") if any(p in row.results for row in rows)]
    titles = {"knn": "kNN", "linear": "linear", "finetune": "fine-tuned"}
    header = ["method", "regulariser"] + [f"{titles[p]} {kind} AP" for p in protocols for kind in ("macro", "micro")]
    lines = [f"Test split of {data}; macro AP over the classes present." if data else "",
             "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]  # fmt: skip
    for row in rows:
        cells = [row.method, row.regulariser] + [_cell(v) for p in protocols for v in row.scores(p)]
        lines.append("| " + " | ".join(cells) + " |")
    methods = list(dict.fromkeys(row.method for row in rows if row.run))
    regularisers = list(dict.fromkeys(row.regulariser for row in rows if row.run))
    if "knn" in protocols and methods:
        lines += ["", "kNN macro AP by method and regulariser:", ""]
        lines += ["| method | " + " | ".join(regularisers) + " |", "|" + " --- |" * (len(regularisers) + 1)]
        for method in methods:
            values = {row.regulariser: row.scores("knn")[0] for row in rows if row.method == method and row.run}
            lines.append(f"| {method} | " + " | ".join(_cell(values.get(r, math.nan)) for r in regularisers) + " |")
    return "\n".join(lines).lstrip() + "\n"
