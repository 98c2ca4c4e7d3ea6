"""Finishing a build: the summary of what was kept and dropped, the per-patch record, the metadata files.

Written once every tile is committed, in this order: ``build_patches.parquet`` (every patch with the official
columns and how it was made: tile, cell, S1 scene, season, coordinates, SCL fractions), ``build_summary.json``
(options, inputs, radiometry and counts per tile), the snow/cloud metadata file and, last, ``metadata.parquet``:
its presence marks a complete build.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.construct import state
from bigearth.construct.country import BOUNDARY_SOURCE
from bigearth.construct.options import BuildOptions
from bigearth.construct.tile import DROP_REASONS
from bigearth.data.layout import METADATA_FILE, METADATA_SCHEMA, SNOW_CLOUD_METADATA_FILE
from bigearth.data.metadata import write_metadata

BUILD_SUMMARY_FILE = "build_summary.json"
BUILD_PATCHES_FILE = "build_patches.parquet"
#: Counts summed over tiles.
COUNTED = ("grid_cells", "candidates", *DROP_REASONS, "kept", "seasonal_snow", "cloud_or_shadow")


@dataclass(frozen=True)
class BuildSummary:
    """What a build made.

    Attributes:
        out: the output folder.
        tiles: the counts of each tile (candidates, drops per reason, kept, flagged, radiometry, seconds).
        totals: the counts summed over tiles, plus ``clean`` (kept without snow or cloud) and ``flagged``.
        built: names of the tiles cut in this run (the others were committed before).
    """

    out: Path
    tiles: list[dict[str, Any]]
    totals: dict[str, int]
    built: list[str]


def finish(out: Path, options: BuildOptions, built: list[str]) -> BuildSummary:
    """Write the build record and the metadata files from every committed tile of ``out``.

    Args:
        out: the build output folder.
        options: the build options.
        built: the tiles cut in this run.

    Returns:
        The build summary.
    """
    out = Path(out)
    loaded = [state.load_tile(out, tile) for tile in state.done_tiles(out)]
    tiles = [counts for counts, _rows in loaded]
    frames = [rows for _counts, rows in loaded if len(rows)]
    columns = list(loaded[0][1].columns) if loaded else list(METADATA_SCHEMA.names)
    patches = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    patches = patches.sort_values("patch_id", kind="stable").reset_index(drop=True)
    flagged = (patches["contains_seasonal_snow"] | patches["contains_cloud_or_shadow"]).to_numpy(dtype=bool)
    totals = {name: int(sum(counts[name] for counts in tiles)) for name in COUNTED}
    totals |= {"clean": int((~flagged).sum()), "flagged": int(flagged.sum())}
    record = {
        "format": "bigearth-build",
        "bigearth_version": __version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": options.record(),
        "country_source": BOUNDARY_SOURCE,
        "totals": totals,
        "tiles": tiles,
    }
    atomic_write_bytes(out / BUILD_PATCHES_FILE, patches.to_parquet(index=False))
    atomic_write_json(out / BUILD_SUMMARY_FILE, record)
    official = list(METADATA_SCHEMA.names)
    write_metadata(patches.loc[flagged, official], out / SNOW_CLOUD_METADATA_FILE)
    write_metadata(patches.loc[~flagged, official], out / METADATA_FILE)
    return BuildSummary(out=out, tiles=tiles, totals=totals, built=built)
