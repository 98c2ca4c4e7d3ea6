"""The resumable state of a build in ``OUT/.bigearth-build``: per-tile staging, atomic commits, done markers.

A tile is cut into ``staging/<tile>/`` (the official layout in miniature) and then committed:

1. its rows (``rows.parquet``) and its counts (``commit.json``, the commit marker) are written into the staging
   folder, atomically;
2. its folders are moved into ``OUT`` by renames: ``BigEarthNet-S2/<tile>``, ``Reference_Maps/<tile>`` and each
   ``BigEarthNet-S1/<scene>/<s1_name>`` (a rename either happened or did not; an S1 patch already in place, shared
   with another product of the same MGRS tile and scene, is kept);
3. ``tiles/<tile>.parquet`` and then ``tiles/<tile>.json`` (the done marker) are written atomically;
4. the staging folder is removed.

An interrupted build resumes: a tile with a done marker is skipped; a staging folder with a commit marker is
committed from step 2 on (renames already done are not repeated); any other staging folder is half-cut and is
deleted and cut again. So ``OUT`` never holds a half-written patch folder, and the metadata files, written after
every tile is done, never list a patch that is not complete.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.data.layout import REFERENCE_DIR, S1_DIR, S2_DIR
from bigearth.errors import ConfigError

STATE_DIR = ".bigearth-build"
OPTIONS_FILE = "options.json"
_ROWS = "rows.parquet"
_COMMIT = "commit.json"


def state_dir(out: Path) -> Path:
    """Return the state folder of a build output."""
    return Path(out) / STATE_DIR


def _staging(out: Path, tile: str) -> Path:
    return state_dir(out) / "staging" / tile


def _done(out: Path, tile: str) -> Path:
    return state_dir(out) / "tiles" / f"{tile}.json"


def start(out: Path, options: dict[str, Any], metadata_files: tuple[str, ...]) -> None:
    """Open a build output: create it, or check that it is the same build to resume or extend.

    The metadata files of a previous build are removed first, so that an interrupted build never looks complete.

    Args:
        out: the output folder.
        options: the build options as recorded (:meth:`BuildOptions.record`).
        metadata_files: names of the metadata files to remove.

    Raises:
        ConfigError: if ``out`` is a file, a non-empty folder that holds no bigearth build, or a build made with
            other options.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"cannot build into {out}: it is a file; give a new or empty folder")
    recorded = state_dir(out) / OPTIONS_FILE
    if out.is_dir() and any(out.iterdir()) and not recorded.is_file():
        raise ConfigError(
            f"refusing to build into {out}: the folder is not empty and holds no bigearth build "
            f"({STATE_DIR}/{OPTIONS_FILE} is missing); give a new or empty folder, or a previous build to resume"
        )
    if recorded.is_file():
        before = json.loads(recorded.read_text())
        if before != json.loads(json.dumps(options)):
            changed = sorted(key for key in set(before) | set(options) if before.get(key) != options.get(key))
            raise ConfigError(
                f"{out} holds a build made with other options ({changed}); resume it with the same options or "
                "build into a new folder"
            )
    for name in metadata_files:
        (out / name).unlink(missing_ok=True)
    atomic_write_json(recorded, options)


def is_done(out: Path, tile: str) -> bool:
    """Return whether a tile is committed (its done marker exists)."""
    return _done(out, tile).is_file()


def done_tiles(out: Path) -> list[str]:
    """Return the names of every committed tile of a build output, sorted."""
    folder = state_dir(out) / "tiles"
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


def load_tile(out: Path, tile: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Return a committed tile's counts and rows."""
    counts = json.loads(_done(out, tile).read_text())
    return counts, pd.read_parquet(_done(out, tile).with_suffix(".parquet"))


def new_staging(out: Path, tile: str) -> Path:
    """Return an empty staging folder for a tile, deleting what an interrupted run left there.

    Call :func:`recover` first: a staging folder whose commit had begun must be finished, not deleted.
    """
    staging = _staging(out, tile)
    if staging.is_dir():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def recover(out: Path, tile: str) -> bool:
    """Finish the commit of a tile that an interrupted run had begun; return whether the tile is now committed."""
    staging = _staging(out, tile)
    if (staging / _COMMIT).is_file():
        _finish(out, tile, staging)
    return is_done(out, tile)


def discard(out: Path, tile: str) -> None:
    """Remove a tile's staging folder unless its commit has begun (then a resume finishes it)."""
    staging = _staging(out, tile)
    if staging.is_dir() and not (staging / _COMMIT).is_file():
        shutil.rmtree(staging, ignore_errors=True)


def commit(out: Path, tile: str, staging: Path, rows: pd.DataFrame, counts: dict[str, Any]) -> None:
    """Commit a cut tile: record it in its staging folder, move its folders into ``out``, mark it done."""
    atomic_write_bytes(staging / _ROWS, rows.reset_index(drop=True).to_parquet(index=False))
    atomic_write_json(staging / _COMMIT, counts)
    _finish(out, tile, staging)


def tidy(out: Path) -> None:
    """Remove the staging folder of a build output if no tile is staged in it."""
    staging = state_dir(out) / "staging"
    if staging.is_dir() and not any(staging.iterdir()):
        staging.rmdir()


def _move(source: Path, target: Path) -> None:
    """Move a folder onto ``target`` by one rename, replacing a stale copy; nothing to do if already moved."""
    if not source.is_dir():
        return
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def _move_shared(source: Path, target: Path) -> None:
    """Move an S1 patch folder into place unless it is there already.

    An S1 patch is defined by its scene and grid cell alone, so two S2 products of one MGRS tile that pair with
    the same scene share it: a folder already in place (complete, since it came by a rename) is the same patch.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        try:
            os.replace(source, target)
            return
        except OSError:
            if not target.is_dir():  # not another worker's rename of the same patch
                raise
    shutil.rmtree(source)


def _finish(out: Path, tile: str, staging: Path) -> None:
    out = Path(out)
    for folder in (S2_DIR, REFERENCE_DIR):
        _move(staging / folder / tile, out / folder / tile)
    s1 = staging / S1_DIR
    if s1.is_dir():
        for scene in sorted(s1.iterdir()):
            for patch in sorted(scene.iterdir()):
                _move_shared(patch, out / S1_DIR / scene.name / patch.name)
    done = _done(out, tile)
    atomic_write_bytes(done.with_suffix(".parquet"), (staging / _ROWS).read_bytes())
    atomic_write_bytes(done, (staging / _COMMIT).read_bytes())
    shutil.rmtree(staging)
