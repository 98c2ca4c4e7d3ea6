"""Identical continuation after a resume: every training epoch starts from random state derived from its number.

Lightning restores weights, optimiser, scheduler and loop counters from ``last.ckpt`` but not the random number
generators, so a resumed run would shuffle, drop out and augment differently from a run that never stopped.
:class:`EpochSeed` reseeds torch, numpy and python at the start of every epoch from ``(seed, epoch, rank)``; on a
resume it reseeds when the checkpoint is loaded, before the first training iterator draws its shuffling order,
exactly as an uninterrupted run does before that epoch's iterator.
"""

import random
from typing import Any

import lightning as L  # noqa: N812
import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Return the seed of one epoch of one process (distinct per epoch and rank, within numpy's 32-bit range)."""
    return (seed * 1_000_003 + epoch * 1_009 + rank) % (2**32)


class EpochSeed(L.Callback):
    """Reseed all random generators at the start of every training epoch.

    Args:
        seed: the run's ``seed_everything``.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._seeded_epoch: int | None = None
        self._rank = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Remember this process's rank."""
        self._rank = trainer.global_rank

    def _reseed(self, epoch: int) -> None:
        # not lightning's seed_everything: it would also change PL_GLOBAL_SEED, the seed of DistributedSampler
        seed = epoch_seed(self.seed, epoch, self._rank)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # also seeds every CUDA device
        self._seeded_epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Reseed for this epoch unless the resume already did (before the iterator was made)."""
        if self._seeded_epoch != trainer.current_epoch:
            self._reseed(trainer.current_epoch)

    def state_dict(self) -> dict[str, Any]:
        """Return the epoch the checkpoint's run continues with (checkpoints are written at epoch ends)."""
        return {"seed": self.seed, "next_epoch": self._seeded_epoch + 1 if self._seeded_epoch is not None else 0}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Reseed for the epoch the resumed run starts with, before its training iterator is created."""
        self._reseed(int(state_dict["next_epoch"]))
