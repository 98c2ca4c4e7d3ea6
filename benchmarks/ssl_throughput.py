"""MoCo-v2 training throughput with and without GeoRank, side by side on the same batches.

Each variant runs the pretraining task's own step (:meth:`SSLPretrainingTask.objective`: two augmented views on the
device, MoCo-v2 on lightly's heads and queue, GeoRank on view 0's projections) plus backward, AdamW and the momentum
update, on the same synthetic normalised batches (10 S2 bands, patch centres spread over Europe) that already lie
on the device, so that the data loader does not bound the numbers. The goal of the issue: GeoRank costs at most
10 % of the images/s at batch 512 on a GPU.

    python benchmarks/ssl_throughput.py                       # GPU: batch 512, 120 px, bf16 autocast
    python benchmarks/ssl_throughput.py --device cpu --batch 64 --size 64 --steps 5
"""

import argparse
import json
import time

import torch

from bigearth.bands import resolve_bands
from bigearth.models.metadata import ModelMetadata
from bigearth.tasks.ssl.module import SSLPretrainingTask


def make_task(args: argparse.Namespace, georank: bool, device: torch.device) -> SSLPretrainingTask:
    metadata = ModelMetadata.create(args.backbone, resolve_bands(args.bands), class_order="alphabetical")
    task = SSLPretrainingTask(
        metadata=metadata.to_dict(),
        model={"method": "mocov2", "backbone": args.backbone, "method_args": {"memory_bank_size": 65536}},
        augment=[
            {"name": "resized_crop", "size": args.size},
            {"name": "flip", "p": 0.75},
            {"name": "rot90", "p": 0.75},
        ],
        georank={"enabled": georank},
    )
    return task.to(device).to(memory_format=torch.channels_last) if device.type == "cuda" else task.to(device)


def make_batches(args: argparse.Namespace, device: torch.device, count: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    bands = len(resolve_bands(args.bands))
    batches = []
    for index in range(count):
        batches.append({
            "image": torch.randn(args.batch, bands, 120, 120, generator=generator).to(device),
            "lat": (36 + 30 * torch.rand(args.batch, generator=generator, dtype=torch.float64)).to(device),
            "lon": (-10 + 40 * torch.rand(args.batch, generator=generator, dtype=torch.float64)).to(device),
            "patch_id": [f"synthetic_{index}_{i}" for i in range(args.batch)],
        })  # fmt: skip
    return batches


def run(args: argparse.Namespace, georank: bool, batches: list[dict], device: torch.device) -> dict:
    torch.manual_seed(0)
    task = make_task(args, georank, device)
    task.train()
    optimizer = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=1e-4)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" and args.bf16)

    def step(batch: dict) -> float:
        task.method.update_momentum(0.999)
        with autocast:
            terms = task.objective(batch)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        return float(terms.get("georank", torch.zeros(())).detach())

    for batch in batches[: args.warmup]:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    georank_values = [step(batch) for batch in batches[args.warmup :]]
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    images = args.batch * (len(batches) - args.warmup)
    return {"variant": "mocov2+georank" if georank else "mocov2", "images_per_s": images / seconds,
            "step_ms": 1000 * seconds / (len(batches) - args.warmup), "georank_last": georank_values[-1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--size", type=int, default=120, help="view size after the resized crop")
    parser.add_argument("--bands", default="10")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="alternate the variants this many times")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false")
    args = parser.parse_args()
    args.bands = int(args.bands) if args.bands.isdigit() else args.bands
    device = torch.device(args.device)
    batches = make_batches(args, device, args.warmup + args.steps)
    results: dict[str, list[float]] = {"mocov2": [], "mocov2+georank": []}
    for _ in range(args.repeats):  # alternate, so that drifting machine load hits both variants alike
        for georank in (False, True):
            result = run(args, georank, batches, device)
            results[result["variant"]].append(result["images_per_s"])
            print(json.dumps({**vars(args), **result}), flush=True)
    plain, regularised = max(results["mocov2"]), max(results["mocov2+georank"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\n{name}, batch {args.batch}, {args.size} px views, {args.backbone}, best of {args.repeats}:")
    print(f"  MoCo-v2            {plain:9.1f} images/s")
    print(f"  MoCo-v2 + GeoRank  {regularised:9.1f} images/s   ({100 * (1 - regularised / plain):+.1f} % cost)")


if __name__ == "__main__":
    main()
