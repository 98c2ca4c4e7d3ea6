"""Start-up time and memory of `bigearth --help` and `bigearth info STORE`, against a baseline checkout.

Each command runs as a fresh process (``python -c "from bigearth.cli import app; app()" ...``) ``--repeats`` times,
the baseline's and this checkout's runs interleaved (so a change of the machine's load hits both alike). Printed
per command and checkout: the median wall time, the median CPU time (user + system of the command's process,
which a loaded machine inflates far less than the wall time), the largest peak resident memory (``ru_maxrss``)
and which heavy stacks were imported; then the baseline / this ratios. The baseline defaults to ``/work/main``.
For ``info``, a third row in the same rounds imports only the libraries it needs (:data:`FLOOR`): the part of its
start-up that bigearth does not control.
The machine is shared: the load average is printed before and after.

Usage: python benchmarks/startup.py [--baseline /work/main] [--store /work/demo-data/store] [--repeats 5]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
#: Stacks whose import dominates a start-up; which of them a command imported is printed.
HEAVY = ("torch", "lightning", "pandas", "rasterio")
#: Runs the CLI, then says on stderr which heavy stacks were imported.
RUN = (
    "import sys; from bigearth.cli import app\n"
    "try:\n    app()\n"
    f"finally:\n    print('heavy:', ','.join(m for m in {HEAVY!r} if m in sys.modules) or '-', file=sys.stderr)"
)
#: The libraries that ``info`` needs: typer (which imports pydantic to convert every argument), pyarrow (with numpy
#: and its compute functions), lmdb and rich; their import is the floor of its start-up.
FLOOR = "import typer._adapters, pyarrow.compute, pyarrow.parquet, lmdb, rich.table"
#: Runs its arguments as its only child and prints that child's peak memory (KiB) and CPU seconds last on stderr.
PEAK = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr)\n"
    "sys.exit(done.returncode)"
)


def run_once(source: Path, arguments: list[str], code: str = RUN) -> tuple[float, float, float, str]:
    """Return (wall seconds, CPU seconds, peak MiB, heavy stacks imported) of one run from ``source``'s ``src``."""
    environment = {**os.environ, "PYTHONPATH": str(source / "src")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-c", code, *arguments], env=environment,
                          capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - start  # includes the small launcher's own start (the same for both checkouts)
    if done.returncode != 0:
        raise SystemExit(f"{arguments} failed from {source}: {done.stderr[-2000:]}")
    lines = done.stderr.splitlines()
    peak, cpu = lines[-1].split()
    heavy = next((line.split()[1] for line in lines if line.startswith("heavy:")), "-")
    return wall, float(cpu), int(peak) / 1024, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--store", type=Path, default=Path("/work/demo-data/store"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (args.store / "manifest.json").is_file():
        raise SystemExit(f"{args.store} is no complete store; make one with `bigearth synth STORE --store`")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")  # fmt: skip
    print(f"load average before: {os.getloadavg()}")
    print(f"{'command':<22} {'checkout':<9} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9}  heavy imports")
    for name, arguments in (("bigearth --help", ["--help"]), ("bigearth info STORE", ["info", str(args.store)])):
        runs = {"baseline": (args.baseline, RUN), "this": (HERE, RUN)}
        if arguments[0] == "info":  # the libraries alone, in the same rounds
            runs["libraries"] = (HERE, FLOOR)
        results: dict[str, list[tuple[float, float, float, str]]] = {label: [] for label in runs}
        for _ in range(args.repeats):
            for label, (source, code) in runs.items():
                results[label].append(run_once(source, arguments, code))
        medians = {}
        for label, rounds in results.items():
            wall, cpu = (statistics.median(result[column] for result in rounds) for column in (0, 1))
            peak = max(result[2] for result in rounds)
            medians[label] = (wall, cpu, peak)
            print(f"{name:<22} {label:<9} {wall:7.2f} {cpu:7.2f} {peak:9.0f}  {rounds[-1][3]}")
        ratios = [medians["baseline"][column] / medians["this"][column] for column in range(3)]
        print(f"{name:<22} {'ratio':<9} {ratios[0]:6.1f}x {ratios[1]:6.1f}x {ratios[2]:8.1f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
