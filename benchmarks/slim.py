"""Inference speed of slimmed encoders on the CPU, next to their measured FLOPs (DESIGN 2.8).

For each encoder and width the table gives the FLOPs of one pooled feature (``FlopCounterMode``, 2 per
multiply-add), the images/s of feature extraction (batch ``--batch``, ``torch.inference_mode``, float32) and
both relative to width 1, so one sees where falling FLOPs stop buying time (small matrices, memory traffic,
per-operation overhead). Width 1 is the baseline; transformer widths below ``--embed-below`` also cut the
embedding width. Encoders (random weights: speed does not depend on them):

* ``vit-s``: ViT-S/15 at 120 px on the 10 S2 bands (384 d, 6 heads, 12 blocks; 64 tokens + CLS);
* ``resnet18``: ResNet-18 on the 10 S2 bands at 120 px;
* ``csmae-tiny``: the cross-sensor ViT-Ti encoder (192 d, 3 heads, 12 blocks) on an S1+S2 pair;
* any model folder given with ``--model``.

One torch thread by default (the development machine's 2 cores are shared): ``python benchmarks/slim.py``.
"""

import argparse
import time
from pathlib import Path

import torch

from bigearth.folders.encoders import load_encoder
from bigearth.models.classifier import SceneClassifier
from bigearth.models.encoders import BackboneEncoder, FeatureEncoder, FoundationEncoder
from bigearth.models.fm.config import preset
from bigearth.models.fm.csmae import CrossSensorMAE
from bigearth.models.metadata import ModelMetadata
from bigearth.slim.flops import encoder_flops
from bigearth.slim.network import is_transformer, slim_encoder
from bigearth.slim.spec import SlimSpec, parse_widths, width_spec


def builtin(name: str) -> FeatureEncoder:
    """Build a named encoder with random weights."""
    if name == "vit-s":
        metadata = ModelMetadata.create("vit_base_patch15", 10, backbone_args={"embed_dim": 384, "num_heads": 6})
        return BackboneEncoder(SceneClassifier(metadata))
    if name == "resnet18":
        return BackboneEncoder(SceneClassifier(ModelMetadata.create("resnet18", 10)))
    if name == "csmae-tiny":
        config = preset("tiny")
        return FoundationEncoder(CrossSensorMAE(config=config, metadata=ModelMetadata.create("csmae", config.bands)))
    raise SystemExit(f"unknown encoder {name!r}: use vit-s, resnet18, csmae-tiny or --model PATH")


@torch.inference_mode()
def images_per_second(encoder: FeatureEncoder, *, batch: int, seconds: float) -> float:
    """Time feature extraction of random batches for at least ``seconds`` (after one warm-up batch)."""
    size = encoder.metadata.image_size
    images = torch.randn(batch, len(encoder.bands), size, size)
    encoder.eval()(images)
    done, start = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - start < seconds:
        encoder(images)
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", default="vit-s,resnet18,csmae-tiny")
    parser.add_argument("--model", type=Path, action="append", default=[], help="a model folder (repeatable)")
    parser.add_argument("--widths", default="1,0.75,0.5,0.25,0.1")
    parser.add_argument("--embed-below", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per width")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU inference, float32, batch {args.batch}, torch.set_num_threads({args.threads}) (the machine's cores "
          f"are shared with other jobs; ratios within one encoder are the comparable numbers)")  # fmt: skip
    encoders = {name: builtin(name) for name in args.encoders.split(",") if name}
    encoders.update({str(path): load_encoder(path) for path in args.model})
    header = f"{'encoder':<12} {'width':>5} {'embed':>5} {'GFLOPs':>8} {'x FLOPs':>8} {'images/s':>9} {'x speed':>8}"
    print(header + f" {'speed-up / FLOPs cut':>21}")
    for name, encoder in encoders.items():
        base_flops = base_speed = 0.0
        for width in parse_widths(args.widths):
            spec = width_spec(width, embed_below=args.embed_below) if is_transformer(encoder) else SlimSpec(width)
            slimmed = slim_encoder(encoder, spec)
            flops, speed = encoder_flops(slimmed), images_per_second(slimmed, batch=args.batch, seconds=args.seconds)
            base_flops, base_speed = base_flops or flops, base_speed or speed
            flops_ratio, speed_ratio = flops / base_flops, speed / base_speed
            print(f"{name:<12} {width:>5g} {spec.embed_width:>5g} {flops / 1e9:>8.3f} {flops_ratio:>8.3f} "
                  f"{speed:>9.1f} {speed_ratio:>8.2f} {speed_ratio * flops_ratio:>21.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
