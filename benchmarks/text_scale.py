"""`bigearth text stats` and `bigearth text evaluate` on a file the size of the BigEarthNet.txt release: time and
peak memory against the issue's 4 GB budget.

The release has 9,553,962 rows over 464,044 S1/S2 pairs, about 0.46 M of them captions (DESIGN 2.10). The file is
made by replicating generated rows, not by generating 464 k patches: `bigearth text generate --captions 1` over a
mini-reBEN (one caption per pair, as the release), then every row copied ``--replicas`` times with ``-rN`` appended
to ``ID`` and ``patch_id`` (so each copy is a patch of its own, with its own caption references). The predictions
are the reference outputs (a perfect model), so every row is scored. Each command runs in a fresh process under
``/usr/bin/time -v``; the maximum resident set size is its peak memory. The big files are deleted afterwards
unless ``--keep``.

Usage: python benchmarks/text_scale.py [--data /work/demo-data/store] [--replicas 924] [--scratch DIR] [--keep]
    [--commands stats evaluate] (with --keep, a second run reuses the big files)
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bigearth.text.generate import GenerateSettings, generate

BUDGET_GB = 4.0
RELEASE_ROWS = 9_553_962


def replicate(texts: Path, out: Path, predictions: Path, replicas: int) -> int:
    """Write ``replicas`` copies of the texts (IDs and patch names suffixed) and the perfect predictions."""
    table = pq.read_table(texts)
    with (
        pq.ParquetWriter(out, table.schema) as writer,
        pq.ParquetWriter(predictions, pa.schema([("ID", pa.string()), ("prediction", pa.string())])) as answers,
    ):
        for copy in range(replicas):
            suffix = f"-r{copy}"
            ids = pc.binary_join_element_wise(table["ID"], suffix, "")
            part = table.set_column(0, "ID", ids)
            index = part.schema.get_field_index("patch_id")
            part = part.set_column(index, "patch_id", pc.binary_join_element_wise(table["patch_id"], suffix, ""))
            writer.write_table(part, row_group_size=200_000)
            answers.write_table(pa.table({"ID": ids, "prediction": table["output"]}))
    return table.num_rows * replicas


def _tree_rss(root: int) -> tuple[int, int]:
    """Return the resident memory (kB) of the processes under ``root``: (Java processes, the others)."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid=,rss=,comm="], capture_output=True, text=True, check=False)
    rows = [line.split(None, 3) for line in table.stdout.splitlines()]
    children: dict[int, list[tuple[int, int, str]]] = {}
    for pid, ppid, rss, name in (row for row in rows if len(row) == 4):
        children.setdefault(int(ppid), []).append((int(pid), int(rss), name))
    java = other = 0
    queue = [root]
    while queue:
        for pid, rss, name in children.get(queue.pop(), []):
            java, other = (java + rss, other) if name == "java" else (java, other + rss)
            queue.append(pid)
    return java, other


def measure(label: str, command: list[str]) -> tuple[float, float]:
    """Run a command under /usr/bin/time -v; return (seconds, peak GB) and print its last lines and CPU time.

    The process tree is sampled every 5 s with ``ps``: the peak of bigearth and of the Java processes it starts
    (PTB tokenizer, METEOR 1.5) apart, of their sum, and when Java first held more than 1 GB (the METEOR JVM).
    """
    start = time.perf_counter()
    process = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    samples: list[tuple[float, int, int]] = []

    def sample() -> None:
        while process.poll() is None:
            samples.append((time.perf_counter() - start, *_tree_rss(process.pid)))
            time.sleep(5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    seconds = time.perf_counter() - start
    if samples:
        gb = 1024**2
        meteor = next((f"{t:,.0f} s" for t, java, _ in samples if java > gb), "never")
        print(f"{label} sampled every 5 s: bigearth peak {max(s[2] for s in samples) / gb:.2f} GB, Java peak "
              f"{max(s[1] for s in samples) / gb:.2f} GB, together {max(s[1] + s[2] for s in samples) / gb:.2f} GB; "
              f"Java above 1 GB (METEOR 1.5) from {meteor}")  # fmt: skip
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    peak_gb = int(peak[1]) / 1024**2 if peak else float("nan")
    cpu = sum(float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", result.stderr))
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{label} failed ({result.returncode})")
    print("\n".join(result.stdout.splitlines()[-12:]))
    print(f"{label}: {seconds:,.0f} s wall, {cpu:,.0f} s CPU (user + system; the machine is shared), peak "
          f"{peak_gb:.2f} GB = {peak_gb / BUDGET_GB:.2f} x the {BUDGET_GB:.0f} GB budget")  # fmt: skip
    return seconds, peak_gb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/demo-data/store"))
    parser.add_argument("--replicas", type=int, default=924)
    parser.add_argument("--scratch", type=Path, default=Path("/work/scratch-text/scale"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--commands", nargs="+", choices=["stats", "evaluate"], default=["stats", "evaluate"])
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"load {os.getloadavg()} (other engineers' work shares it)")  # fmt: skip
    texts = args.scratch / "texts.parquet"
    if not texts.is_file():
        generate(args.data, texts, settings=GenerateSettings(captions=1))
    big, predictions = args.scratch / "release-size.parquet", args.scratch / "predictions.parquet"
    start = time.perf_counter()
    if big.is_file() and predictions.is_file():
        rows = pq.ParquetFile(big).metadata.num_rows
    else:
        rows = replicate(texts, big, predictions, args.replicas)
    print(f"{rows:,} rows ({rows / RELEASE_ROWS:.2f} x the release), "
          f"{big.stat().st_size / 1e9:.2f} GB, in {time.perf_counter() - start:,.0f} s")  # fmt: skip
    captions = pc.sum(pc.equal(pq.read_table(big, columns=["type"])["type"], "captioning")).as_py()
    print(f"{captions:,} caption rows")
    cli = [str(Path(sys.executable).with_name("bigearth")), "text"]
    try:
        if "stats" in args.commands:
            measure("text stats", [*cli, "stats", str(big)])
        if "evaluate" in args.commands:
            report = str(args.scratch / "report")
            measure("text evaluate", [*cli, "evaluate", str(big), str(predictions), "--out", report])
        print(f"load after: {os.getloadavg()}")
    finally:
        if not args.keep:
            big.unlink(missing_ok=True)
            predictions.unlink(missing_ok=True)
            shutil.rmtree(args.scratch / "report", ignore_errors=True)


if __name__ == "__main__":
    main()
