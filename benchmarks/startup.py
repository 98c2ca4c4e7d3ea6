"""Start-up time and memory of `bigearth --help` and `bigearth info STORE`, against a baseline checkout.

Each command runs as a fresh process (``python -c "from bigearth.cli import app; app()" ...``) ``--repeats`` times;
the median wall time and the largest peak resident memory (``ru_maxrss`` of the child) are printed for this
checkout and for the baseline checkout (default ``/work/main``, where every command imported Lightning), with
their ratio. It also says whether torch was imported. The machine is shared: the load average is printed too.

Usage: python benchmarks/startup.py [--baseline /work/main] [--store data/bench-startup] [--repeats 5]
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
#: Runs the CLI, then says on stderr whether torch was imported.
RUN = (
    "import sys; from bigearth.cli import app\n"
    "try:\n    app()\n"
    "finally:\n    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)"
)
#: Runs its arguments as its only child and prints that child's peak resident memory (KiB) last on stderr.
PEAK = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(done.returncode)"
)


def measure(source: Path, arguments: list[str], repeats: int) -> tuple[float, float, bool]:
    """Return (median seconds, peak MiB, torch imported) of one command run from ``source``'s ``src``."""
    environment = {**os.environ, "PYTHONPATH": str(source / "src")}
    times, peaks, torch_imported = [], [], False
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-c", RUN, *arguments], env=environment,
                              capture_output=True, text=True, check=False)  # fmt: skip
        times.append(time.perf_counter() - start)  # includes the small launcher's own start (the same for both)
        if done.returncode != 0:
            raise SystemExit(f"{arguments} failed from {source}: {done.stderr[-2000:]}")
        peaks.append(int(done.stderr.split()[-1]) / 1024)
        torch_imported = "torch imported: True" in done.stderr
    return statistics.median(times), max(peaks), torch_imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--store", type=Path, default=HERE / "data" / "bench-startup")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (args.store / "manifest.json").is_file():
        subprocess.run([sys.executable, "-c", RUN, "synth", str(args.store), "--patches", "60", "--store"], check=True,
                       env={**os.environ, "PYTHONPATH": str(HERE / "src")}, capture_output=True)  # fmt: skip
    cores = os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()}")
    print(f"{'command':<24} {'checkout':<10} {'median s':>9} {'peak MiB':>9} {'torch':>6}")
    for name, arguments in (("bigearth --help", ["--help"]), ("bigearth info STORE", ["info", str(args.store)])):
        results = {}
        for label, source in (("baseline", args.baseline), ("this", HERE)):
            results[label] = measure(source, arguments, args.repeats)
            seconds, peak, torch_imported = results[label]
            print(f"{name:<24} {label:<10} {seconds:9.2f} {peak:9.0f} {torch_imported!s:>6}")
        print(f"{name:<24} {'ratio':<10} {results['baseline'][0] / results['this'][0]:8.1f}x "
              f"{results['baseline'][1] / results['this'][1]:8.1f}x")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
