"""Efficiency of CSMAE vs CSMoE: parameters, GFLOPs per image pair, throughput, next to downstream scores.

For every model (CSMAE and its CSMoE twins, ``csmoe`` with the full and ``csmoe-lean`` with the lean wiring of
sensor-specific blocks, ``moe.wiring``) at each size (``mini``: the tiny-cpu recipe's width-64 ViT; ``tiny``,
``small``, ``base``: the ViT ladder, separate encoder ``sesd``) the table gives

* encoder parameters, and all parameters (with decoders);
* GFLOPs of embedding one S1+S2 pair (both sensors, all 64 tokens each: inference) and of one pretraining step's
  forward pass per pair (masked encoder and decoders), counted with ``torch.utils.flop_counter.FlopCounterMode``
  (attention through the math kernel so its matrix products are counted; a multiply-add is 2 FLOPs);
* measured pretraining throughput (forward, backward, AdamW step; images pairs/s) on this machine's device (bf16
  autocast on a GPU, float32 on a CPU: say which when you report it);
* the linear-probe test macro AP on the mini-reBEN after pretraining with the tiny-cpu recipe (``--pretrain``
  sizes only; ``mini`` by default, as that fits a CPU).

It prints the table and writes an accuracy-vs-GFLOPs plot. CPU default (a few minutes on 2 cores)::

    python benchmarks/fm_efficiency.py --out benchmarks/results/fm_efficiency.png

On a GPU: ``--sizes mini,tiny,small,base --throughput-sizes tiny,small,base --batch 256``.
"""

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bigearth.evaluation.plots import save_figure
from bigearth.models.fm import CSMOE_DEFAULT, CrossSensorMAE, csmae_objective, preset
from bigearth.models.fm.config import CrossSensorConfig, MoEConfig
from bigearth.tasks.mae.config import load_pretrain_config

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "fm" / "tiny-cpu.yaml"
#: The Soft MoE of the mini CSMoE: 4 experts (1 S1, 1 S2, 2 shared), 4 slots each: 12 slots per sensor.
#: Its MoE layer sits in the last (shared) block, so its two wirings coincide.
MINI_MOE = ["model.moe.num_experts=4", "model.moe.sensor_experts=1", "model.moe.slots_per_expert=4"]
#: Recipe overrides (mini) and Soft MoE (ladder sizes) of each model kind.
KINDS: dict[str, tuple[list[str], MoEConfig | None]] = {
    "csmae": ([], None),
    "csmoe": (MINI_MOE, CSMOE_DEFAULT),
    "csmoe-lean": ([*MINI_MOE, "model.moe.wiring=lean"], replace(CSMOE_DEFAULT, wiring="lean")),
}


def configs(size: str) -> dict[str, CrossSensorConfig]:
    if size == "mini":
        return {kind: load_pretrain_config(RECIPE, overrides).model.network() for kind, (overrides, _) in KINDS.items()}
    return {kind: preset(size, moe=moe) for kind, (_, moe) in KINDS.items()}


def pair(batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    return {"s1": torch.randn(batch, 2, 120, 120, device=device), "s2": torch.randn(batch, 10, 120, 120, device=device)}


def gflops(function) -> float:
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops() / 1e9


def count(config: CrossSensorConfig) -> dict[str, float]:
    torch.manual_seed(0)
    model = CrossSensorMAE(config=config).eval()
    images = pair(1, torch.device("cpu"))
    with torch.no_grad():
        embed = gflops(lambda: model.encoder(images))
        pretrain = gflops(lambda: model(images))
    return {
        "encoder_params_m": sum(p.numel() for p in model.encoder.parameters()) / 1e6,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflops_embed_pair": embed,
        "gflops_pretrain_pair": pretrain,
    }


def throughput(config: CrossSensorConfig, *, batch: int, steps: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = CrossSensorMAE(config=config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    images = pair(batch, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> None:
        with autocast:
            loss = csmae_objective(model(images)).total
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def downstream(size: str, kind: str, store: Path, work: Path) -> float:
    from bigearth.folders.encoders import load_encoder
    from bigearth.tasks.mae.probe import linear_probe
    from bigearth.tasks.registry import train_recipe

    if size != "mini":
        raise SystemExit(
            "--pretrain runs the tiny-cpu recipe (size 'mini') only; pretrain larger sizes with "
            "`bigearth pretrain configs/fm/cs*-*.yaml` and probe them with `bigearth probe`"
        )
    overrides = [*KINDS[kind][0], "evaluation.linear_probe=false"]
    run = train_recipe(RECIPE, data=store, out=work / f"{size}-{kind}", overrides=overrides)
    return linear_probe(load_encoder(run), store).test.macro["ap"]


def plot(rows: list[dict], path: Path) -> None:
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.subplots()
    for kind, marker, name in (("csmae", "o", "CSMAE"), ("csmoe", "s", "CSMoE"), ("csmoe-lean", "^", "CSMoE lean")):
        points = [row for row in rows if row["model"] == kind and row.get("probe_macro_ap") is not None]
        if points:
            axes.plot(
                [r["gflops_embed_pair"] for r in points],
                [r["probe_macro_ap"] for r in points],
                marker=marker,
                linestyle="-",
                label=name,
            )
            for r in points:
                axes.annotate(
                    r["size"], (r["gflops_embed_pair"], r["probe_macro_ap"]), textcoords="offset points", xytext=(4, 4)
                )
    axes.set(
        xscale="log",
        xlabel="GFLOPs per S1+S2 pair (encoder, inference)",
        ylabel="linear-probe test macro AP (mini-reBEN)",
        title="Accuracy vs compute",
    )
    axes.legend()
    save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="mini,tiny,small,base", help="sizes to count (parameters, FLOPs)")
    parser.add_argument("--throughput-sizes", default="mini,tiny", help="sizes whose training throughput to measure")
    parser.add_argument("--pretrain", default="mini", help="sizes to pretrain and probe on the mini-reBEN ('' none)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--patches", type=int, default=600, help="mini-reBEN size for --pretrain")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest for tiny models)")
    parser.add_argument("--out", type=Path, default=Path("fm_efficiency.png"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({args.threads} thread(s))"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        store = None
        if args.pretrain:
            from bigearth.data.synth_store import synthesize_store

            store = Path(work) / "store"
            synthesize_store(store, patches=args.patches, seed=11, workers=0)
        for size in args.sizes.split(","):
            for kind, config in configs(size).items():
                row = {"size": size, "model": kind, **count(config)}
                if size in args.throughput_sizes.split(","):
                    row["pairs_per_s"] = throughput(config, batch=args.batch, steps=args.steps, device=device)
                if store is not None and size in args.pretrain.split(","):
                    row["probe_macro_ap"] = downstream(size, kind, store, Path(work))
                rows.append(row)
                print(json.dumps(row), flush=True)
    header = (
        f"{'size':6} {'model':10} {'enc M':>7} {'all M':>7} {'GF embed':>9} {'GF pretrain':>11} "
        f"{'pairs/s':>8} {'probe AP':>8}"
    )
    print(
        f"\ndevice: {device_name}; throughput = pretraining steps (forward, backward, AdamW), batch {args.batch}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work shares the machine)"
    )
    print(header)
    for row in rows:
        rate = f"{row['pairs_per_s']:8.1f}" if "pairs_per_s" in row else f"{'-':>8}"
        ap = f"{row['probe_macro_ap']:8.3f}" if "probe_macro_ap" in row else f"{'-':>8}"
        print(
            f"{row['size']:6} {row['model']:10} {row['encoder_params_m']:7.2f} {row['params_m']:7.2f} "
            f"{row['gflops_embed_pair']:9.3f} {row['gflops_pretrain_pair']:11.3f} {rate} {ap}"
        )
    for size in dict.fromkeys(row["size"] for row in rows):
        pair_rows = {row["model"]: row for row in rows if row["size"] == size}
        for kind in ("csmoe", "csmoe-lean"):
            ratios = [
                pair_rows["csmae"][key] / pair_rows[kind][key] for key in ("gflops_embed_pair", "encoder_params_m")
            ]
            print(
                f"{size}: CSMAE/{kind} GFLOPs per pair (inference) = {ratios[0]:.2f}, encoder parameters = "
                f"{ratios[1]:.2f}"
            )
    plot(rows, args.out)
    print(f"plot: {args.out}")
    if args.json:
        args.json.write_text(json.dumps({"device": device_name, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
