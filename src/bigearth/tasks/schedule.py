"""The reBEN learning-rate schedule: linear warm-up, then cosine decay to a fraction of the peak rate."""

import math
from functools import partial
from typing import Any

import timm.optim
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(step: int, *, warmup_steps: int, total_steps: int, final_fraction: float) -> float:
    """Return the multiplier of the peak learning rate at an optimisation step.

    Steps ``0 .. warmup_steps - 1`` rise linearly to 1 (step 0 gets ``1 / warmup_steps``); the remaining steps
    up to ``total_steps`` follow half a cosine from 1 down to ``final_fraction``, which holds afterwards.

    Args:
        step: optimisation step, from 0.
        warmup_steps: length of the warm-up (0 for none).
        total_steps: steps of the whole run.
        final_fraction: the multiplier at ``total_steps`` (0.1 = lr/10).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, *, warmup_steps: int, total_steps: int, final_fraction: float) -> LambdaLR:
    """Return a per-step ``LambdaLR`` following :func:`warmup_cosine_factor` (its state is the step count).

    Args:
        optimizer: the optimiser whose learning rates are the peak rates.
        warmup_steps: length of the warm-up; clipped to a tenth of ``total_steps`` for very short runs.
        total_steps: steps of the whole run (``trainer.estimated_stepping_batches``).
        final_fraction: the multiplier at the last step.
    """
    warmup = min(warmup_steps, max(1, total_steps // 10)) if warmup_steps else 0
    factor = partial(warmup_cosine_factor, warmup_steps=warmup, total_steps=total_steps, final_fraction=final_fraction)
    return LambdaLR(optimizer, factor)


def optimizer_with_schedule(
    network: nn.Module,
    *,
    name: str,
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    total_steps: int,
    final_fraction: float,
    **optimizer_args: Any,
) -> dict[str, Any]:
    """Return what a ``LightningModule.configure_optimizers`` returns for every bigearth task.

    The timm optimiser over ``network`` (no weight decay on biases, norms and 1-d parameters; parameters without
    gradients left out) and :func:`warmup_cosine` stepped once per optimisation step.

    Args:
        network: the module whose parameters are optimised.
        name: timm optimiser name (``adamw``, ``lamb``, ``sgd`` ...).
        lr: peak learning rate.
        weight_decay: weight decay of the decayed parameters.
        warmup_steps: warm-up length in steps.
        total_steps: steps of the whole run (``trainer.estimated_stepping_batches``).
        final_fraction: the learning-rate multiplier at the last step.
        optimizer_args: further keyword arguments of the optimiser (e.g. ``betas``).
    """
    optimizer = timm.optim.create_optimizer_v2(network, opt=name, lr=lr, weight_decay=weight_decay, **optimizer_args)
    scheduler = warmup_cosine(optimizer, warmup_steps=warmup_steps, total_steps=total_steps,
                              final_fraction=final_fraction)  # fmt: skip
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
