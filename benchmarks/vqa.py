"""LiT-4-RSVQA cost and speed: parameters and FLOPs per question for every encoder pair, CPU questions/s.

    python benchmarks/vqa.py cost  [--markdown]          # the table of parameters and FLOPs
    python benchmarks/vqa.py speed [--batch 64] [--threads 2]

Cost: one question = one image (the model's bands, 120 x 120) + 32 tokens, answered by a network with 1000
answers (the published setting), counted with ``torch.utils.flop_counter.FlopCounterMode`` in evaluation mode.
FlopCounterMode counts a multiply-add as 2 FLOPs; attention runs through PyTorch's math kernel here so that its
matrix products are counted too (the fused CPU kernel is invisible to the counter). Element-wise operations,
normalisations and embedding look-ups are not counted (as in fvcore and the published figures).
LiT-4-RSVQA reports mobilevit_s + BERT-tiny at about 10.4 M parameters and 0.89 GFLOPs.

Speed: questions per second on the CPU for the default pair (mobilevit_s + BERT-tiny) and the largest pair of the
LiT encoders (deit_tiny + the pretrained MiniLM-L6), for a training step (forward, backward, AdamW) and for
inference, each with one image per question (the published batches) and with 25 questions per image (RSVQAxBEN's
questions of one image asked together, each image encoded once).
"""

import argparse
import os
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bigearth.models.metadata import ModelMetadata
from bigearth.models.registry import list_backbones
from bigearth.models.vqa.image_encoder import IMAGE_ENCODERS
from bigearth.models.vqa.model import VQAConfig, VQAModel
from bigearth.models.vqa.text_encoder import list_text_encoders

TOKENS = 32
ANSWERS = tuple(f"answer {i}" for i in range(1000))
#: The published pair, then the rest of the LiT encoders, then the classification backbones.
IMAGE_NAMES = ("mobilevit_s", *(name for name in IMAGE_ENCODERS if name != "mobilevit_s"),
               *(name for name in list_backbones() if name not in IMAGE_ENCODERS))  # fmt: skip
PUBLISHED = {"parameters": 10.4e6, "flops": 0.89e9}


def build(image: str, text: str, bands: int = 10) -> VQAModel:
    """Return an untrained network of the pair (1000 answers) in evaluation mode."""
    metadata = ModelMetadata.create(image, bands)
    pooling = "pooler" if text == "bert-tiny" else "mean"
    return VQAModel(VQAConfig(image_encoder=image, text_encoder=text, text_pooling=pooling), metadata, ANSWERS).eval()


def inputs(model: VQAModel, questions: int, images: int) -> tuple[torch.Tensor, ...]:
    """Return random images, token ids (32 tokens, none padded) and the question -> image index."""
    pixels = torch.randn(images, model.metadata.in_chans, 120, 120)
    ids = torch.randint(1000, 2000, (questions, TOKENS))
    return pixels, ids, torch.ones_like(ids), torch.arange(questions) % images


def cost(model: VQAModel) -> tuple[int, float]:
    """Return (parameters, FLOPs per question)."""
    pixels, ids, mask, index = inputs(model, 1, 1)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(pixels, ids, mask, index)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops()


def cost_table(markdown: bool) -> None:
    """Print parameters and GFLOPs per question of every image x text encoder pair."""
    rows = []
    for text in list_text_encoders():
        for image in IMAGE_NAMES:
            model = build(image, text)
            parameters, flops = cost(model)
            text_parameters = sum(p.numel() for p in model.text.parameters())
            rows.append((image, text, parameters / 1e6, (parameters - text_parameters) / 1e6, text_parameters / 1e6,
                         flops / 1e9))  # fmt: skip
            print(f"  measured {image} + {text}", flush=True) if not markdown else None
    header = ("image encoder", "text encoder", "params (M)", "image+head (M)", "text (M)", "GFLOPs/question")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
    else:
        print(" ".join(f"{h:>16}" for h in header))
    for row in rows:
        cells = (row[0], row[1], *(f"{value:.2f}" if i < 4 else f"{value:.3f}" for i, value in enumerate(row[2:])))
        print("| " + " | ".join(cells) + " |" if markdown else " ".join(f"{c:>16}" for c in cells))
    default = next(row for row in rows if row[:2] == ("mobilevit_s", "bert-tiny"))
    print(f"\nmobilevit_s + bert-tiny: {default[2]:.2f} M parameters, {default[5]:.3f} GFLOPs per question; "
          f"published {PUBLISHED['parameters'] / 1e6:.1f} M, {PUBLISHED['flops'] / 1e9:.2f} GFLOPs "
          f"({100 * (default[2] * 1e6 / PUBLISHED['parameters'] - 1):+.1f} %, "
          f"{100 * (default[5] * 1e9 / PUBLISHED['flops'] - 1):+.1f} %)")  # fmt: skip


def rate(model: VQAModel, *, batch: int, per_image: int, train: bool, repeats: int) -> float:
    """Return questions per second of training steps or inference batches."""
    pixels, ids, mask, index = inputs(model, batch, max(1, batch // per_image))
    model.train(train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4) if train else None
    targets = torch.zeros(batch, model.num_answers)
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        start = time.perf_counter()
        if optimizer is not None:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(pixels, ids, mask, index), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        else:
            with torch.inference_mode():
                model(pixels, ids, mask, index)
        times.append(time.perf_counter() - start)
    return batch / min(times[1:])


def speed(batch: int, threads: int, repeats: int) -> None:
    """Print training and inference questions/s of the default and the largest LiT pair."""
    torch.set_num_threads(threads)
    print(f"CPU, {torch.get_num_threads()} threads, batch {batch} questions of {TOKENS} tokens, best of {repeats}")
    print(f"{'pair':>28} {'per image':>10} {'train q/s':>10} {'infer q/s':>10}")
    for image, text in (("mobilevit_s", "bert-tiny"), ("deit_tiny", "minilm-l6")):
        model = build(image, text)
        for per_image in (1, 25):
            train = rate(model, batch=batch, per_image=per_image, train=True, repeats=repeats)
            infer = rate(model, batch=batch, per_image=per_image, train=False, repeats=repeats)
            print(f"{image + ' + ' + text:>28} {per_image:>10} {train:>10.1f} {infer:>10.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("cost", "speed"))
    parser.add_argument("--markdown", action="store_true", help="print the cost table as markdown")
    parser.add_argument("--batch", type=int, default=64, help="questions per batch (speed)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (speed)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (speed)")
    arguments = parser.parse_args()
    if arguments.what == "cost":
        cost_table(arguments.markdown)
    else:
        speed(arguments.batch, arguments.threads, arguments.repeats)


if __name__ == "__main__":
    main()
