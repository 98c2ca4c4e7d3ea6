"""Atomic file writes: a temporary name beside the target, fsync, rename.

A reader never sees a half-written file under the final name, so a manifest or a checkpoint that exists is
complete. A failed write (a full disk, an interrupt) removes its temporary file and leaves the target as it was; a
writer killed before it could (kill -9, a power cut) leaves ``.NAME.PID.tmp``, which the next write of ``NAME``
removes once no process ``PID`` runs (and the next checkpoint write in its folder, for checkpoints, whose names
change from epoch to epoch).
"""

import glob
import json
import os
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename).

    Raises:
        OSError: as the write raised it (e.g. ``ENOSPC``); the temporary file is removed and ``path`` is unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, glob.escape(path.name))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def remove_stale_temporaries(folder: Path, names: str) -> list[Path]:
    """Remove the temporary files ``.NAME.PID.tmp`` in ``folder`` that writers killed mid-write left behind.

    A temporary file whose process still runs (another writer) is left alone.

    Args:
        folder: the folder of the targets.
        names: glob pattern of the target names (``glob.escape(name)`` for one target, ``"*.ckpt"`` for checkpoints).

    Returns:
        The files removed.
    """
    removed = []
    for temporary in folder.glob(f".{names}.*.tmp"):
        pid = temporary.name.removesuffix(".tmp").rpartition(".")[2]
        if pid.isdigit() and not process_runs(int(pid)):
            temporary.unlink(missing_ok=True)
            removed.append(temporary)
    return removed


def process_runs(pid: int) -> bool:
    """Return whether a process ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented UTF-8 JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())
