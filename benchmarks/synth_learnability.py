"""Can representation learning show on the mini-reBEN? The report of issue 21, item 2, over several draws.

For each seed (a draw of the mini-reBEN, 600 patches by default), in one run:

1. the draw is written straight into a store (``bigearth synth --store``);
2. the supervised demo model: ``bigearth train configs/classification/demo-cpu.yaml`` (test macro AP, wall time);
3. the tiny MoCo-v2 pretraining (``configs/ssl/tiny-cpu.yaml``) and a randomly initialised encoder of its
   architecture (half-width ResNet-10-T, S2), both probed on the test split: kNN (k = 200) and linear probe;
4. the tiny CSMAE pretraining (``configs/fm/tiny-cpu.yaml``) and a random encoder of its shape, probed alike.

Runs are kept under ``--out`` and skipped when complete, so an interrupted report resumes. The table (Markdown)
gives each draw's macro AP, the mean and the standard deviation over the draws, and whether the issue's reach
holds on every draw: the random encoder's kNN macro AP at least 0.15 below the supervised model's, and each
pretraining above its random encoder by more than the spread (the larger standard deviation over the draws of
the two compared numbers), for kNN and the linear probe.

    python benchmarks/synth_learnability.py --out /tmp/learnability --seeds 0,1,2
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bigearth.data.synth_store import synthesize_store
from bigearth.folders.encoders import load_encoder
from bigearth.tasks.ssl.evaluate import probe_encoder

ROOT = Path(__file__).resolve().parent.parent
RECIPES = {
    "supervised": ROOT / "configs/classification/demo-cpu.yaml",
    "mocov2": ROOT / "configs/ssl/tiny-cpu.yaml",
    "csmae": ROOT / "configs/fm/tiny-cpu.yaml",
}
#: Probes are run here, not inside the pretraining runs (the same code for a run and its random twin).
NO_PROBES = {"mocov2": ["evaluation.knn=false", "evaluation.linear_probe=false"],
             "csmae": ["evaluation.linear_probe=false"]}  # fmt: skip
REACH_GAP = 0.15


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the stores, runs and the report")
    parser.add_argument("--seeds", default="0,1,2", help="mini-reBEN seeds (draws), comma-separated")
    parser.add_argument("--patches", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2, help="processes that render the stores")
    parser.add_argument("--override", action="append", default=[], help="KEY=VALUE for every run (a smoke test)")
    parser.add_argument(
        "--accelerator", default="cpu", help="Lightning accelerator of the trainings (the recipes': cpu)"
    )
    return parser.parse_args(argv)


def _bigearth(*args: str) -> float:
    """Run the ``bigearth`` command in a subprocess; return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bigearth", *args], check=True, cwd=ROOT)
    return time.perf_counter() - start


def _macro_ap(result: dict[str, Any]) -> float:
    return float(result["macro"]["ap"])


def _pretrained_and_random(run: Path, store: Path) -> dict[str, float]:
    """Probe a pretraining run's encoder and a random encoder of its architecture (kNN and linear macro AP)."""
    encoder = load_encoder(run)
    torch.manual_seed(0)
    scores = {}
    for name, model in (("pretrained", encoder), ("random", encoder.reinitialised().eval())):
        results = probe_encoder(model, store, seed=0)
        scores[f"{name} knn"], scores[f"{name} linear"] = _macro_ap(results["knn"]), _macro_ap(results["linear"])
    return scores


def run_draw(
    seed: int, out: Path, patches: int, workers: int, accelerator: str = "cpu", overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Make one draw and all of its runs (skipping finished ones); return its scores (cached as JSON)."""
    folder = out / f"seed{seed}"
    result_file = folder / "scores.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    store = folder / "store"
    if not (store / "manifest.json").is_file():
        synthesize_store(store, patches=patches, seed=seed, workers=workers)
    scores: dict[str, Any] = {"seed": seed, "patches": patches, "accelerator": accelerator}
    # a GPU has no deterministic kernel for the demo model's global max pooling: warn instead of failing there
    device = [
        f"trainer.accelerator={accelerator}",
        *([] if accelerator == "cpu" else ["trainer.deterministic=warn"]),
        *overrides,
    ]
    partial = folder / "partial.json"  # the stages done so far, cheapest first, so an unfinished draw still informs
    for method in ("mocov2", "csmae"):
        run = folder / method
        if not (run / "metrics.json").is_file():
            _bigearth(
                "pretrain", str(RECIPES[method]), "--data", str(store), "--out", str(run), *NO_PROBES[method], *device
            )
        scores[method] = _pretrained_and_random(run, store)
        partial.write_text(json.dumps(scores, indent=2) + "\n")
    supervised = folder / "supervised"
    seconds = None
    if not (supervised / "metrics.json").is_file():
        seconds = _bigearth(
            "train", str(RECIPES["supervised"]), "--data", str(store), "--out", str(supervised), *device
        )
    metrics = json.loads((supervised / "metrics.json").read_text())
    scores["supervised"] = float(metrics["test"]["macro"]["ap"])
    scores["supervised seconds"] = seconds
    result_file.write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def _row(name: str, values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    cells = " | ".join(f"{value:.3f}" for value in values)
    return f"| {name} | {cells} | {statistics.mean(values):.3f} | {spread:.3f} |"


def report(draws: list[dict[str, Any]]) -> str:
    """Return the Markdown table of the draws and the reach checks."""
    seeds = [draw["seed"] for draw in draws]
    columns = {"supervised demo model, test macro AP": [draw["supervised"] for draw in draws]}
    for method, title in (("mocov2", "MoCo-v2 tiny"), ("csmae", "CSMAE tiny")):
        for protocol in ("knn", "linear"):
            label = "kNN" if protocol == "knn" else "linear probe"
            columns[f"{title}: random encoder, {label}"] = [draw[method][f"random {protocol}"] for draw in draws]
            columns[f"{title}: pretrained, {label}"] = [draw[method][f"pretrained {protocol}"] for draw in draws]
    header = "| macro AP (test split) | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std |"
    lines = [header, "|" + " --- |" * (len(seeds) + 3)]
    lines += [_row(name, values) for name, values in columns.items()]
    checks = []
    for method, title in (("mocov2", "MoCo-v2 tiny"), ("csmae", "CSMAE tiny")):
        gaps = [draw["supervised"] - draw[method]["random knn"] for draw in draws]
        verdict = "met" if min(gaps) >= REACH_GAP else "NOT met"
        checks.append(f"- supervised minus {title}'s random encoder kNN: " + ", ".join(f"{gap:.3f}" for gap in gaps)
                      + f" (reach >= {REACH_GAP}: {verdict} on every draw)")  # fmt: skip
        for protocol in ("knn", "linear"):
            pretrained = [draw[method][f"pretrained {protocol}"] for draw in draws]
            random = [draw[method][f"random {protocol}"] for draw in draws]
            spread = max(statistics.stdev(pretrained), statistics.stdev(random)) if len(draws) > 1 else 0.0
            gaps = [p - r for p, r in zip(pretrained, random, strict=True)]
            met = min(gaps) > spread
            checks.append(f"- {title} minus its random encoder, {protocol}: " + ", ".join(f"{g:+.3f}" for g in gaps)
                          + f"; spread {spread:.3f}: {'met' if met else 'NOT met'} on every draw")  # fmt: skip
    times = [draw["supervised seconds"] for draw in draws if draw.get("supervised seconds")]
    if times:
        checks.append("- supervised demo training wall time (train + test + plots): "
                      + ", ".join(f"{t:.0f} s" for t in times))  # fmt: skip
    return "\n".join([*lines, "", *checks]) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the draws and print and write the report."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    draws = [
        run_draw(int(s), args.out, args.patches, args.workers, args.accelerator, tuple(args.override))
        for s in args.seeds.split(",")
    ]
    text = report(draws)
    machine = f"{platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the end"
    (args.out / "report.md").write_text(text + f"\nMachine: {machine}.\n")
    print(text)
    print(f"Machine: {machine}.")


if __name__ == "__main__":
    main()
