"""Training throughput end to end versus the model's ceiling, in one run.

End to end: store -> DataLoader workers (LMDB read + decode of native-size band groups) -> host-to-device copy ->
resampling, normalisation and random flips/rotations on the device -> model -> loss -> optimiser step, exactly
the path of ``bigearth train`` (ReBENDataModule with device_transform, the SceneClassifier, timm's AdamW).
Ceiling: the same model and optimiser fed one batch that already lies on the device. The ratio says how much of
the model's speed the data pipeline delivers (DESIGN 2.11: a loader that keeps resnet50 busy on an H200 must
deliver about 15 k samples/s).

On CUDA: bf16 autocast, channels-last for CNNs, optional ``--compile``; defaults resnet50 and ViT-B/15 at 120 px,
batch 512, S1+S2 (12 bands). On a CPU: small defaults (resnet18 and the demo model, batch 32, a few steps) so that
it runs in a minute or two.

    python benchmarks/train_throughput.py                          # synthesises a small store in a temp folder
    python benchmarks/train_throughput.py --data STORE --workers 14 --steps 100 --compile
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from timm.optim import create_optimizer_v2
from torch import Tensor
from torch.optim import Optimizer
from torch.utils.data import DataLoader

from bigearth.data.datamodule import ReBENDataModule
from bigearth.data.dataset import finish_batch
from bigearth.data.transforms import random_flip_rot90
from bigearth.models import ModelMetadata, SceneClassifier

CNNS = ("resnet", "convnext", "mobilevit", "efficientnet")


def parse_args() -> argparse.Namespace:
    """Command-line options; the defaults depend on whether a GPU is present."""
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="store (or release root); default: synthesise one")
    parser.add_argument("--patches", type=int, default=2000 if cuda else 300, help="patches to synthesise")
    parser.add_argument("--models", default="resnet50,vit_base_patch15" if cuda else "resnet18,resnet10t_slim")
    parser.add_argument("--bands", default="12", help="band preset or s1/s2/s1s2 (12 or 14 for S1+S2)")
    parser.add_argument("--batch-size", type=int, default=512 if cuda else 32)
    parser.add_argument("--steps", type=int, default=50 if cuda else 8, help="timed optimisation steps")
    parser.add_argument("--warmup", type=int, default=10 if cuda else 2, help="untimed steps first")
    parser.add_argument("--workers", type=int, default=max(1, min(14, (os.cpu_count() or 2) - 2)))
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    return parser.parse_args()


def synchronise(device: torch.device) -> None:
    """Wait for the GPU so that timers measure finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(
    name: str, bands: tuple[str, ...], device: torch.device, compile_model: bool
) -> tuple[Callable[[Tensor], Tensor], Optimizer, bool]:
    """Return the model (compiled if asked), timm's AdamW over it, and whether inputs go channels-last."""
    model = SceneClassifier(ModelMetadata.create(name, bands), drop_rate=0.15, drop_path_rate=0.15).to(device)
    channels_last = device.type == "cuda" and name.startswith(CNNS)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = create_optimizer_v2(model, opt="adamw", lr=1e-3, weight_decay=0.01)
    step_model = torch.compile(model) if compile_model else model
    return step_model, optimizer, channels_last


def train_step(
    model: Callable[[Tensor], Tensor], optimizer: Optimizer, images: Tensor, labels: Tensor, channels_last: bool
) -> None:
    """One optimisation step, as the classification task takes it (bf16 autocast on CUDA, BCE in float32)."""
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=images.device.type == "cuda"):
        logits = model(images)
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def end_to_end(
    model: Callable[[Tensor], Tensor],
    optimizer: Optimizer,
    channels_last: bool,
    datamodule: ReBENDataModule,
    loader: DataLoader,
    device: torch.device,
    warmup: int,
    steps: int,
) -> float:
    """Images/s from the store to the optimiser step (a new epoch starts when the store runs out)."""
    transform = datamodule.transform.to(device)
    done, start, seen = 0, 0.0, 0
    while done < warmup + steps:
        for batch in loader:  # persistent workers: later epochs reuse the same worker processes
            if done == warmup:
                synchronise(device)
                start, seen = time.perf_counter(), 0
            groups = {name: group.to(device, non_blocking=True) for name, group in batch["groups"].items()}
            labels = batch["label"].to(device, non_blocking=True)
            images = finish_batch({"groups": groups, "label": labels}, transform)["image"]
            images, _ = random_flip_rot90(images)
            train_step(model, optimizer, images, labels, channels_last)
            done += 1
            seen += len(labels)
            if done == warmup + steps:
                break
    synchronise(device)
    return seen / (time.perf_counter() - start)


def ceiling(
    model: Callable[[Tensor], Tensor],
    optimizer: Optimizer,
    channels_last: bool,
    bands: tuple[str, ...],
    batch_size: int,
    device: torch.device,
    warmup: int,
    steps: int,
) -> float:
    """Images/s of the same training step on one batch already on the device."""
    images = torch.randn(batch_size, len(bands), 120, 120, device=device)
    labels = (torch.rand(batch_size, 19, device=device) < 0.15).float()
    for step in range(warmup + steps):
        if step == warmup:
            synchronise(device)
            start = time.perf_counter()
        train_step(model, optimizer, images, labels, channels_last)
    synchronise(device)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    """Measure every model end to end and at its ceiling, and print both and their ratio."""
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA is not available on this machine; nothing measured (run on a GPU)")
        return
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            from bigearth.data.synth_store import synthesize_store

            data = Path(scratch) / "store"
            started = time.perf_counter()
            synthesize_store(data, patches=args.patches, seed=0, workers=min(args.workers, 4))
            print(f"synthesised a {args.patches}-patch mini-reBEN store in {time.perf_counter() - started:.0f} s")
        datamodule = ReBENDataModule(data, args.bands, batch_size=args.batch_size, num_workers=args.workers)
        datamodule.setup("fit")
        bands = datamodule.bands
        print(
            f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else os.cpu_count()} "
            f"{'GPU' if device.type == 'cuda' else 'CPU cores'}), {len(bands)} bands, batch {args.batch_size}, "
            f"{args.workers} workers, {args.steps} timed steps after {args.warmup}, "
            f"{'bf16 + channels-last (CNNs)' if device.type == 'cuda' else 'float32'}"
            f"{', torch.compile' if args.compile else ''}; {len(datamodule.dataset('train'))} training patches"
        )
        loader = datamodule.train_dataloader()
        print(f"{'model':<18}{'end to end img/s':>18}{'ceiling img/s':>16}{'ratio':>8}")
        for name in args.models.split(","):
            model, optimizer, channels_last = build(name, bands, device, args.compile)
            top = ceiling(model, optimizer, channels_last, bands, args.batch_size, device, args.warmup, args.steps)
            real = end_to_end(model, optimizer, channels_last, datamodule, loader, device, args.warmup, args.steps)
            print(f"{name:<18}{real:>18.1f}{top:>16.1f}{real / top:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
