"""Run records: ``env.json``, what a run or model folder was made with.

Every run folder and every model folder that bigearth writes holds an ``env.json``::

    {
      "written": "2026-12-05T16:40:12+00:00",
      "command": ["bigearth", "train", "configs/classification/demo-cpu.yaml", "--data", "mini-store"],
      "python": "3.11.14",
      "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
      "packages": {"bigearth": "0.1.0", "torch": "2.14.1", "lightning": "2.6.6", "timm": "1.0.31", ...},
      "cuda": "12.8",                  # the CUDA that torch was built with; null for a CPU build
      "gpus": ["NVIDIA H100 80GB HBM3"],  # the GPUs torch sees now; [] without one
      "git": {"revision": "30452a2...", "dirty": false}   # null outside a git checkout
    }

The git revision is the one of the checkout that bigearth's code was imported from (``dirty``: tracked files differ
from it); an installed wheel has none. A resumed run writes the file again, for the command that resumed it.
``env.json`` is a record for people: nothing reads it back, and folders written before it existed load as before.
"""

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bigearth.atomic import atomic_write_json

ENV_FILE = "env.json"
#: The distributions whose versions a record names (absent ones are recorded as null).
PACKAGES = ("bigearth", "torch", "lightning", "timm", "torchmetrics", "numpy", "safetensors", "lmdb", "rasterio",
            "pyarrow", "lightly", "faiss-cpu", "tokenizers", "transformers")  # fmt: skip


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_revision(folder: Path) -> dict[str, Any] | None:
    """Return ``{"revision", "dirty"}`` of the git checkout holding ``folder``, or None (no git, no checkout)."""
    try:
        revision = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()  # fmt: skip
        changes = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"revision": revision, "dirty": bool(changes.strip())}


def environment() -> dict[str, Any]:
    """Return the record of this process: command line, Python, package versions, CUDA, GPUs and git revision."""
    import torch

    gpus = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "cuda": torch.version.cuda,
        "gpus": gpus,
        "git": git_revision(Path(__file__).resolve().parent),
    }


def write_environment(folder: Path) -> Path:
    """Write ``env.json`` into ``folder`` (created if needed), atomically; return its path."""
    path = Path(folder) / ENV_FILE
    atomic_write_json(path, environment())
    return path
