"""``bigearth sample``: describe an archive, select a thematic-climatic subset, write its ids and a report.

Writes ``IDS.parquet`` (``patch_id``, ``s1_name``, ``split``, ``country``, ``climate_zone``, ``land_cover``,
``cell``) and ``IDS.report.json`` (:mod:`bigearth.sampling.report`) beside it, both atomically; a pretraining
recipe names the parquet file as ``data.ids``.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.sampling.descriptors import patch_descriptors
from bigearth.sampling.report import distribution_report
from bigearth.sampling.select import random_sample, thematic_climatic_sample


@dataclass(frozen=True)
class SampleResult:
    """The ids file, its report file and the report."""

    ids_file: Path
    report_file: Path
    report: dict[str, Any]


def report_path(ids_file: Path) -> Path:
    """Return ``IDS.report.json`` beside ``IDS.parquet``."""
    return ids_file.with_name(ids_file.stem + ".report.json")


def sample_archive(
    data: Path, size: int, out: Path, *, split: str | None = "train", theme: str = "labels", power: float = 0.5,
    seed: int = 0, progress: Callable[[int, int], None] | None = None,
) -> SampleResult:  # fmt: skip
    """Select ``size`` patches of a split of ``data`` and write the ids and the report.

    Args:
        data: store folder or release root.
        size: patches to select.
        out: the ids parquet file to write.
        split: the split to sample (``train`` for pretraining), or None for every patch.
        theme: land-cover descriptor source, ``"labels"`` or ``"maps"``.
        power: allocation exponent (:mod:`bigearth.sampling.select`).
        seed: random seed.
        progress: ``(done, total)`` callback while reading reference maps.

    Raises:
        ConfigError: for a size outside ``1..patches`` or an unknown theme source.
        MissingDataError: if ``data`` is no store or release root.
    """
    descriptors, index = patch_descriptors(Path(data), split=split, theme=theme, progress=progress)
    subset = thematic_climatic_sample(descriptors, size, power=power, seed=seed)
    baseline = random_sample(descriptors, size, seed=seed)
    report = {"data": str(data), "split": split, "theme": theme, "power": power, "seed": seed,
              **distribution_report(descriptors, subset, baseline, index.labels)}  # fmt: skip
    buffer = io.BytesIO()
    subset.reset_index(drop=True).to_parquet(buffer, index=False)
    out = Path(out)
    atomic_write_bytes(out, buffer.getvalue())
    atomic_write_json(report_path(out), report)
    return SampleResult(ids_file=out, report_file=report_path(out), report=report)
