"""S1/S2 CLIP training speed: image-text pairs per second, against the image encoder trained alone.

    python benchmarks/clip.py [--batch 64] [--steps 3] [--threads 2] [--tokens 48]

For each pair of encoders (the demo's resnet10t_slim + BERT-tiny and the published recipe's resnet50 + the
pretrained all-MiniLM-L6-v2), a training step is forward, :func:`~bigearth.models.clip.loss.clip_loss`, backward
and AdamW on random 14-band 120 x 120 images and ``--tokens`` unpadded tokens per caption. The baseline, in the same
run, is the image encoder alone (the same timm network with a 19-class head, binary cross-entropy): the ratio says
what the text tower and the contrastive loss cost on top of classification. On a CUDA machine both run on the
GPU in bf16 autocast too, with the peak GPU memory; on the CPU the peak resident memory of the process is printed
(it only grows). The first step of each measurement is a warm-up and not timed. The machine, its load
(``os.getloadavg()``) and the thread count are printed: on a shared machine the numbers move with the load.
"""

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812

from bigearth.models.clip import CLIPConfig, CLIPModel, clip_loss
from bigearth.models.metadata import ModelMetadata
from bigearth.models.registry import create_backbone, timm_kwargs

PAIRS = (("resnet10t_slim", "bert-tiny"), ("resnet50", "minilm-l6"))


def timed(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Return the seconds per step after one warm-up step."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def clip_step(image: str, text: str, batch: int, tokens: int, device: torch.device, bf16: bool) -> Callable[[], None]:
    """Return one CLIP training step on random inputs."""
    model = CLIPModel(CLIPConfig(image_encoder=image, text_encoder=text), ModelMetadata.create(image, "s1s2")).to(
        device
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    pixels = torch.randn(batch, 14, 120, 120, device=device)
    ids = torch.randint(1000, 2000, (batch, tokens), device=device)
    mask = torch.ones_like(ids)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            images, texts, scale = model(pixels, ids, mask)
        loss = clip_loss(images.float(), texts.float(), scale.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def image_step(image: str, batch: int, device: torch.device, bf16: bool) -> Callable[[], None]:
    """Return one training step of the image encoder alone (19-class head, binary cross-entropy)."""
    architecture, arguments = timm_kwargs(image, in_chans=14, num_classes=19, image_size=120)
    model = create_backbone(architecture, arguments).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    pixels = torch.randn(batch, 14, 120, 120, device=device)
    labels = (torch.rand(batch, 19, device=device) > 0.8).float()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(pixels)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    """Print pairs/s per encoder pair and device, the image-only baseline and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} threads, load {os.getloadavg()}")  # fmt: skip
    devices = [(torch.device("cpu"), False)]
    if torch.cuda.is_available():
        devices.append((torch.device("cuda"), True))
        print(f"GPU: {torch.cuda.get_device_name()}")
    print(f"batch {args.batch}, {args.tokens} tokens per caption, {args.steps} timed steps")
    print("| device | image + text encoder | CLIP pairs/s | image encoder alone, images/s | ratio | peak memory |")
    print("| --- | --- | --- | --- | --- | --- |")
    for device, bf16 in devices:
        for image, text in PAIRS:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            seconds = timed(clip_step(image, text, args.batch, args.tokens, device, bf16), args.steps, device)
            if device.type == "cuda":
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
            else:
                peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"
            baseline = timed(image_step(image, args.batch, device, bf16), args.steps, device)
            name = f"{device.type}{' bf16' if bf16 else ''}"
            print(f"| {name} | {image} + {text} | {args.batch / seconds:.1f} | {args.batch / baseline:.1f} | "
                  f"{baseline / seconds:.2f} | {peak} |", flush=True)  # fmt: skip
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
