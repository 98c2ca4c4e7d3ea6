"""VLM speed and memory: tokens per second of fine-tuning and of generation, and peak memory.

    python benchmarks/vlm.py [--threads N] hf --texts TEXTS [--model FOLDER] [--devices cpu cuda] [--steps 8]

Section ``hf``: a Hugging Face image-text-to-text checkpoint as ``bigearth vlm`` runs it (default: the tiny
randomly initialised LLaVA of the tests, :func:`bigearth.tasks.vlm.tiny.write_tiny_llava`; ``--width`` and
``--layers`` make it larger). Samples are the first training rows of a BigEarthNet.txt file (``text generate``),
every type mixed as in fine-tuning; images are random reflectances (their values do not change the cost).

* fine-tuning: :class:`~bigearth.tasks.vlm.hf.TrainingCollate` batches (collated once, before timing: in a run
  the loader's workers do it), then forward, backward and AdamW steps of the model, full and with LoRA (rank 8,
  every linear layer) on each device; bf16 autocast on CUDA, float32 on CPU. Reported: input tokens per second
  (prompt, image and target tokens; padding not counted), target tokens per second (those with a loss), and peak
  memory (CUDA: ``max_memory_allocated``; CPU: the process's peak resident size so far, which includes everything
  loaded before).
* generation: :class:`~bigearth.tasks.vlm.hf.HFGenerator` (greedy, batched, ``--new-tokens`` at most per answer),
  generated tokens per second (tokens after the prompt, up to the end token).

    python benchmarks/vlm.py builtin --data STORE --texts TEXTS [--devices cpu cuda] [--steps 8] [--batch 2]

Section ``builtin``: the built-in small VLM of ``configs/vlm/tiny.yaml`` (``--recipe`` for another) on real patches
of a store and their texts, built as ``bigearth train`` builds it
(:func:`~bigearth.tasks.vlm.small.train.build_small_vlm`).

* fine-tuning: the task's own step (:meth:`~bigearth.tasks.vlm.small.module.SmallVLMTask.shared_step`: length-sorted
  chunks, per-text loss), backward and AdamW, ``--batch`` patches (each with all its texts) per step, the encoder
  trained (``encoder trained``) or kept fixed with its cells computed once per patch (``encoder fixed``, what
  ``configs/vlm/demo-cpu.yaml`` does; the cells of the timed batches are computed in the warm-up). Reported: input
  tokens per second (image and text tokens; padding not counted), target tokens per second, peak memory.
* generation: :class:`~bigearth.tasks.vlm.small.generate.SmallVLMGenerator` on test rows (greedy, cached keys and
  values), generated tokens per second. float32 on every device (the model is small; no autocast).

Ratios printed: each device against the CPU in the same run (the baseline), LoRA against full fine-tuning, and
the fixed encoder against the trained one.
The machine and its load average are printed first: on the shared machine other engineers' runs load the CPU, and
two torch threads on two loaded cores can run several times slower than one (``--threads 1``).
"""

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from bigearth.data.dataset import finish_batch
from bigearth.folders.vlm import load_hf_checkpoint
from bigearth.tasks.vlm.finetune import FinetuneModelConfig, trainable_network
from bigearth.tasks.vlm.hf import IGNORE, HFGenerator, TrainingCollate
from bigearth.tasks.vlm.predict import split_texts
from bigearth.tasks.vlm.small.config import load_small_vlm_config
from bigearth.tasks.vlm.small.generate import SmallVLMGenerator
from bigearth.tasks.vlm.small.train import build_small_vlm
from bigearth.tasks.vlm.tiny import write_tiny_llava
from bigearth.text.instruct import InstructSample, PatchImages


def peak_memory(device: str) -> float:
    """Return the peak memory in MB: CUDA allocations since the last reset, or the process's resident peak."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def reflectance(count: int, seed: int = 0) -> torch.Tensor:
    """Return ``(count, 3, 120, 120)`` random B04, B03, B02 values in native units (0..3000)."""
    return torch.rand(count, 3, 120, 120, generator=torch.Generator().manual_seed(seed)) * 3000


def finetune_speed(model_dir: Path, samples: list[InstructSample], device: str, *, steps: int, batch: int,
                   lora: bool) -> dict[str, float]:  # fmt: skip
    """Return input and target tokens per second of fine-tuning steps, and the peak memory."""
    model, processor = load_hf_checkpoint(model_dir)
    network = trainable_network(model, FinetuneModelConfig(lora=lora, lora_r=8, lora_alpha=16)).to(device).train()
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=1e-4)
    collate = TrainingCollate(processor, "tags")
    batches = [collate({"samples": samples[i * batch : (i + 1) * batch], "image": reflectance(batch, i)})
               for i in range(steps + 2)]  # fmt: skip
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))

    def step(inputs: dict[str, torch.Tensor]) -> None:
        with autocast:
            loss = network(**{k: v.to(device) for k, v in inputs.items()}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for inputs in batches[:2]:  # warm-up
        step(inputs)
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    for inputs in batches[2:]:
        step(inputs)
    sync(device)
    seconds = time.perf_counter() - start
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[2:])
    targets = sum(int((b["labels"] != IGNORE).sum()) for b in batches[2:])
    return {"tokens_s": tokens / seconds, "target_tokens_s": targets / seconds, "peak_mb": peak_memory(device)}


def generation_speed(model_dir: Path, samples: list[InstructSample], device: str, *, batches: int, batch: int,
                     new_tokens: int) -> dict[str, float]:  # fmt: skip
    """Return generated tokens per second of greedy batched generation, and the peak memory."""
    dtype = torch.bfloat16 if device.startswith("cuda") else None
    model, processor = load_hf_checkpoint(model_dir, dtype=dtype)
    generator = HFGenerator(model.to(device).eval(), processor)
    chunks = [samples[i * batch : (i + 1) * batch] for i in range(batches + 1)]
    generator.generate(chunks[0], reflectance(len(chunks[0])), new_tokens)  # warm-up
    generator.generated_tokens = 0
    reset_peak(device)
    start = time.perf_counter()
    for i, chunk in enumerate(chunks[1:]):
        generator.generate(chunk, reflectance(len(chunk), i), new_tokens)
    sync(device)
    seconds = time.perf_counter() - start
    return {"tokens_s": generator.generated_tokens / seconds, "tokens": generator.generated_tokens,
            "peak_mb": peak_memory(device)}  # fmt: skip


def hf_section(args: argparse.Namespace) -> None:
    """Fine-tuning and generation of a Hugging Face checkpoint on each device, with ratios to the CPU."""
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model or write_tiny_llava(
            Path(scratch) / "tiny", width=args.width, layers=args.layers, vocab=args.vocab
        )
        needed = max(args.steps + 2, args.batches + 1) * args.batch
        _, samples = split_texts(args.texts, "train", limit=needed)
        if len(samples) < needed:
            sys.exit(f"{args.texts} has {len(samples)} training rows; the benchmark needs {needed}")
        parameters = sum(p.numel() for p in load_hf_checkpoint(model_dir)[0].parameters())
        print(f"model {model_dir}: {parameters / 1e6:.2f} M parameters; batch {args.batch}, {args.steps} timed "
              f"steps, {args.batches} generation batches of at most {args.new_tokens} new tokens")  # fmt: skip
        results: dict[tuple[str, str], dict[str, float]] = {}
        for device in args.devices:
            for mode in ("full", "lora"):
                results[(device, mode)] = finetune_speed(model_dir, samples, device, steps=args.steps,
                                                         batch=args.batch, lora=mode == "lora")  # fmt: skip
            results[(device, "generate")] = generation_speed(model_dir, samples, device, batches=args.batches,
                                                             batch=args.batch, new_tokens=args.new_tokens)  # fmt: skip
    print(f"{'device':<8} {'run':<18} {'tokens/s':>10} {'target tok/s':>13} {'peak MB':>9} {'x CPU':>7}")
    for (device, mode), values in results.items():
        base = results.get(("cpu", mode))
        ratio = f"{values['tokens_s'] / base['tokens_s']:7.1f}" if base and device != "cpu" else "      -"
        name = "generation" if mode == "generate" else f"fine-tuning {mode}"
        target = f"{values['target_tokens_s']:13.0f}" if "target_tokens_s" in values else f"{'-':>13}"
        print(f"{device:<8} {name:<18} {values['tokens_s']:10.0f} {target} {values['peak_mb']:9.0f} {ratio}")
    for device in args.devices:
        full, lora = results[(device, "full")], results[(device, "lora")]
        print(f"{device}: LoRA / full fine-tuning tokens/s = {lora['tokens_s'] / full['tokens_s']:.2f}, peak memory "
              f"{lora['peak_mb'] / full['peak_mb']:.2f}")  # fmt: skip


def builtin_finetune_speed(args: argparse.Namespace, device: str, *, fixed: bool) -> dict[str, float]:
    """Return input and target tokens per second of the built-in VLM's training steps, and the peak memory."""
    overrides = [f"data.path={args.data}", f"data.texts={args.texts}", f"model.freeze_encoder={str(fixed).lower()}",
                 "model.encoder=resnet10t_slim", "data.bands=s1s2"]  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        task, datamodule = build_small_vlm(load_small_vlm_config(args.recipe, overrides), Path(scratch))
    task.log = lambda *_, **__: None  # no trainer: nothing to log to
    task = task.to(device).train()
    dataset = datamodule.dataset("train")
    batches = [finish_batch(dataset.__getitems__(list(range(i * args.batch, (i + 1) * args.batch))),
                            datamodule.transform) for i in range(args.steps)]  # fmt: skip
    batches = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()} for b in batches]
    optimizer = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=1e-3)

    def step(batch: dict) -> None:
        task.shared_step(batch, "train").backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with torch.no_grad():  # warm-up: a fixed encoder's cells of every timed batch, and the kernels
        for batch in batches:
            task.image_cells(batch)
    step(batches[0])
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    sync(device)
    seconds = time.perf_counter() - start
    image = task.network.image_tokens
    tokens = sum(int(b["attention_mask"].sum()) + image * len(b["input_ids"]) for b in batches)
    targets = sum(int(b["target_mask"].sum()) for b in batches)
    return {"tokens_s": tokens / seconds, "target_tokens_s": targets / seconds, "peak_mb": peak_memory(device)}


def builtin_generation_speed(args: argparse.Namespace, device: str) -> dict[str, float]:
    """Return generated tokens per second of the built-in VLM (greedy, batched), and the peak memory."""
    overrides = [f"data.path={args.data}", f"data.texts={args.texts}"]
    with tempfile.TemporaryDirectory() as scratch:
        task, datamodule = build_small_vlm(load_small_vlm_config(args.recipe, overrides), Path(scratch))
    generator = SmallVLMGenerator(task.network.to(device), datamodule.encoder.tokenizer)
    _, samples = split_texts(args.texts, "test", limit=(args.batches + 1) * args.batch * 20)
    images = PatchImages(args.data, generator.image_spec.bands, normalise=False)
    chunks = [samples[i * args.batch * 20 : (i + 1) * args.batch * 20] for i in range(args.batches + 1)]
    reads = [images.read([sample.patch_id for sample in chunk]) for chunk in chunks]
    generator.generate(chunks[0], reads[0], args.new_tokens)  # warm-up
    generator.generated_tokens = 0
    reset_peak(device)
    start = time.perf_counter()
    for chunk, read in zip(chunks[1:], reads[1:], strict=True):
        generator.generate(chunk, read, args.new_tokens)
    sync(device)
    seconds = time.perf_counter() - start
    return {"tokens_s": generator.generated_tokens / seconds, "tokens": generator.generated_tokens,
            "peak_mb": peak_memory(device)}  # fmt: skip


def builtin_section(args: argparse.Namespace) -> None:
    """Training and generation of the built-in VLM on each device, with ratios to the CPU."""
    torch.manual_seed(0)
    results: dict[tuple[str, str], dict[str, float]] = {}
    for device in args.devices:
        for fixed in (False, True):
            name = "encoder fixed" if fixed else "encoder trained"
            results[(device, name)] = builtin_finetune_speed(args, device, fixed=fixed)
        results[(device, "generation")] = builtin_generation_speed(args, device)
    print(
        f"recipe {args.recipe}; {args.steps} timed steps of {args.batch} patches (all their texts); "
        f"{args.batches} generation batches of {args.batch * 20} texts, at most {args.new_tokens} new tokens"
    )
    print(f"{'device':<8} {'run':<26} {'tokens/s':>10} {'target tok/s':>13} {'peak MB':>9} {'x CPU':>7}")
    for (device, mode), values in results.items():
        base = results.get(("cpu", mode))
        ratio = f"{values['tokens_s'] / base['tokens_s']:7.1f}" if base and device != "cpu" else "      -"
        name = mode if mode == "generation" else f"training, {mode}"
        target = f"{values['target_tokens_s']:13.0f}" if "target_tokens_s" in values else f"{'-':>13}"
        print(f"{device:<8} {name:<26} {values['tokens_s']:10.0f} {target} {values['peak_mb']:9.0f} {ratio}")
    for device in args.devices:
        trained, fixed = results[(device, "encoder trained")], results[(device, "encoder fixed")]
        print(f"{device}: fixed / trained encoder tokens/s = {fixed['tokens_s'] / trained['tokens_s']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sections = parser.add_subparsers(dest="section", required=True)
    hf = sections.add_parser("hf", help="a Hugging Face image-text-to-text checkpoint (default: the tiny LLaVA)")
    hf.add_argument("--texts", type=Path, required=True, help="BigEarthNet.txt parquet file (text generate)")
    hf.add_argument("--model", type=Path, default=None, help="checkpoint folder (default: a tiny LLaVA)")
    hf.add_argument("--devices", nargs="+", default=["cpu", *(["cuda"] if torch.cuda.is_available() else [])])
    hf.add_argument("--steps", type=int, default=8, help="timed fine-tuning steps")
    hf.add_argument("--batches", type=int, default=4, help="timed generation batches")
    hf.add_argument("--batch", type=int, default=8, help="samples per step or generation batch")
    hf.add_argument("--new-tokens", type=int, default=32, help="most tokens generated per answer")
    hf.add_argument("--width", type=int, default=32, help="hidden size of the tiny LLaVA")
    hf.add_argument("--layers", type=int, default=2, help="layers of the tiny LLaVA's towers")
    hf.add_argument("--vocab", type=Path, default=None, help="vocab.txt of the tiny LLaVA (default: packaged)")
    hf.set_defaults(run=hf_section)
    builtin = sections.add_parser("builtin", help="the built-in small VLM (configs/vlm/tiny.yaml)")
    builtin.add_argument("--data", type=Path, required=True, help="store folder or release root of the texts")
    builtin.add_argument("--texts", type=Path, required=True, help="BigEarthNet.txt parquet file (text generate)")
    builtin.add_argument("--recipe", type=Path, default=Path(__file__).resolve().parents[1] / "configs/vlm/tiny.yaml")
    builtin.add_argument("--devices", nargs="+", default=["cpu", *(["cuda"] if torch.cuda.is_available() else [])])
    builtin.add_argument("--steps", type=int, default=8, help="timed training steps")
    builtin.add_argument("--batches", type=int, default=2, help="timed generation batches")
    builtin.add_argument("--batch", type=int, default=2, help="patches per step (texts per generation batch / 20)")
    builtin.add_argument("--new-tokens", type=int, default=32, help="most tokens generated per answer")
    builtin.set_defaults(run=builtin_section)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()}"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))  # fmt: skip
    args.run(args)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
