"""Atomic file writes: a temporary name beside the target, fsync, rename.

A reader never sees a half-written file under the final name, so a manifest or a checkpoint that exists is
complete. A failed write (a full disk, an interrupt) removes its temporary file and leaves the target as it was.
"""

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


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented UTF-8 JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())
