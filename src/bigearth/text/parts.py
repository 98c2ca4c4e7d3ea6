"""Resumable chunked parquet output: each finished chunk is a part file, merged into the targets at the end.

Parts live in a hidden folder beside the first target (``.<name>.parts``), with the settings of the run. The
targets are written atomically after the last chunk, then the parts are removed, so a target that exists is
complete.

:meth:`ChunkedOutput.run` tells an interruption from a failure:

* interrupted (Ctrl-C, SIGTERM turned into ``SystemExit``, a killed process: anything that is no ``Exception``):
  the parts stay, and a rerun with the same settings skips the chunks already written;
* failed (an ``Exception``: a bad reference map, a full disk, a bug): the parts folder and any half-merged target
  are removed before the error goes on, since a rerun would redo them anyway (other settings) or fail the same way;
* the next run removes parts of other settings, parts without settings and half-merged targets left by a process
  that died while merging.
"""

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.parallel import run_jobs

SETTINGS_FILE = "settings.json"
J = TypeVar("J")


@dataclass
class ChunkResult:
    """What one chunk of patches produced.

    Attributes:
        index: the chunk number.
        tables: output name -> rows of this chunk.
        skipped: ``(patch_id, reason)`` of the patches left out (``--skip-invalid``).
    """

    index: int
    tables: dict[str, pa.Table]
    skipped: list[tuple[str, str]] = field(default_factory=list)


class ChunkedOutput:
    """The part files of one run and the targets they merge into.

    Args:
        targets: output name -> (path, schema).
        settings: what the output depends on (JSON-serialisable); parts of other settings are discarded.
    """

    def __init__(self, targets: dict[str, tuple[Path, pa.Schema]], settings: dict[str, Any]) -> None:
        self.targets = {name: (Path(path), schema) for name, (path, schema) in targets.items()}
        first = next(iter(self.targets.values()))[0]
        self.folder = first.with_name(f".{first.name}.parts")
        self._remove_merges()
        settings_file = self.folder / SETTINGS_FILE
        if self.folder.exists() and (not settings_file.is_file() or json.loads(settings_file.read_text()) != settings):
            shutil.rmtree(self.folder)
        if not settings_file.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(settings_file, settings)

    def run(
        self,
        function: Callable[[J], ChunkResult],
        jobs: Sequence[J],
        sizes: Sequence[int],
        *,
        workers: int = 0,
        scheduler: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[tuple[str, str]]:
        """Run the chunks not written yet, write their parts, merge them into the targets (see the module docstring).

        Args:
            function: turns ``jobs[i]`` into chunk i's result (a module-level function, for worker processes).
            jobs: one job per chunk, in chunk order.
            sizes: ``(chunks,)`` patches per chunk, for ``progress``.
            workers: worker processes (:func:`~bigearth.parallel.run_jobs`).
            scheduler: Dask scheduler address or ``"local"``.
            progress: called as ``progress(patches done, patches)``.

        Returns:
            The skipped patches of all chunks.
        """
        try:
            done = self.done()
            finished = sum(sizes[i] for i in done)
            todo = [job for i, job in enumerate(jobs) if i not in done]
            for result in run_jobs(function, todo, workers=workers, scheduler=scheduler):
                self.write(result)
                finished += sizes[result.index]
                if progress is not None:
                    progress(finished, sum(sizes))
            return self.finish(len(jobs))
        except Exception:
            self._remove_merges()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def _remove_merges(self) -> None:
        """Remove the half-merged targets of any process (``.<name>.<pid>.tmp``)."""
        for path, _ in self.targets.values():
            for merge in path.parent.glob(f".{path.name}.*.tmp"):
                merge.unlink(missing_ok=True)

    def _part(self, name: str, index: int) -> Path:
        return self.folder / f"{name}-{index:06d}.parquet"

    def _marker(self, index: int) -> Path:
        return self.folder / f"done-{index:06d}.json"

    def done(self) -> set[int]:
        """Return the chunk numbers already written."""
        return {int(path.stem.split("-")[1]) for path in self.folder.glob("done-*.json")}

    def write(self, result: ChunkResult) -> None:
        """Write one chunk's parts, then its completion marker (holding the skipped patches)."""
        for name, table in result.tables.items():
            sink = pa.BufferOutputStream()
            pq.write_table(table.cast(self.targets[name][1]), sink)
            atomic_write_bytes(self._part(name, result.index), sink.getvalue().to_pybytes())
        atomic_write_json(self._marker(result.index), {"skipped": result.skipped})

    def finish(self, chunks: int) -> list[tuple[str, str]]:
        """Merge the parts of chunks ``0..chunks-1`` into the targets, in chunk order, and remove the parts.

        Returns:
            The skipped patches of all chunks.
        """
        for name, (path, schema) in self.targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with pq.ParquetWriter(temporary, schema) as writer:
                for index in range(chunks):
                    writer.write_table(pq.read_table(self._part(name, index), schema=schema))
            os.replace(temporary, path)
        skipped = [
            tuple(item) for index in range(chunks) for item in json.loads(self._marker(index).read_text())["skipped"]
        ]
        shutil.rmtree(self.folder)
        return skipped
