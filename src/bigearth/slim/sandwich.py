"""Slimmable training: the sandwich rule and in-place distillation.

- [0] Yu, Huang, "Universally Slimmable Networks and Improved Training Techniques", ICCV 2019,
  https://arxiv.org/abs/1903.05134 (sandwich rule: the largest, the smallest and random widths every step;
  in-place distillation: smaller widths learn the largest width's output)
- [1] Reference code: https://github.com/JiahuiYu/slimmable_networks

:class:`Sandwich` runs one training step's forward passes through a :class:`~bigearth.slim.switch.WidthSwitch`:
the full width first, then the smallest and random widths, each adding its own loss or, with ``distill``, one
minus the cosine similarity of its output to the full width's detached output. The recipes of
:mod:`bigearth.tasks.ssl` and :mod:`bigearth.tasks.mae` switch it on with a ``slimmable`` section.
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.slim.spec import SlimSpec, check_attention_scale, check_width
from bigearth.slim.switch import WidthSwitch

Output = TypeVar("Output")


@dataclass
class SlimmableConfig:
    """The ``slimmable`` section of a pretraining recipe (off by default).

    Attributes:
        enabled: train with the sandwich rule.
        widths: the widths trained; the largest must be 1, the smallest is trained every step.
        sandwich: widths per step: the largest, the smallest and ``sandwich - 2`` random ones from the others
            (uniform between the smallest and the largest when the list names no others).
        distill: smaller widths learn the largest width's output (in-place distillation) instead of the loss.
        seed: seed of the random widths (combined with the step, so a resumed run draws the same ones).
        attention_scale: softmax scale of attention at smaller widths: ``original`` (the full model's) or
            ``slimmed`` (``1/sqrt`` of the kept head dimensions); see :mod:`bigearth.slim.spec`.
    """

    enabled: bool = False
    widths: list[float] = field(default_factory=lambda: [1.0, 0.75, 0.5, 0.25])
    sandwich: int = 3
    distill: bool = False
    seed: int = 0
    attention_scale: str = "original"

    def __post_init__(self) -> None:
        check_attention_scale(self.attention_scale, "slimmable.attention_scale")
        if not self.widths:
            raise ConfigError("slimmable.widths must name at least the width 1")
        for width in self.widths:
            check_width(width, "slimmable.widths entry")
        if max(self.widths) != 1.0:
            raise ConfigError(f"the largest of slimmable.widths must be 1 (the full network), got {self.widths}")
        if self.sandwich < 1:
            raise ConfigError(f"slimmable.sandwich counts the widths per step and must be at least 1, got "
                              f"{self.sandwich}")  # fmt: skip


def sandwich_widths(widths: Sequence[float], count: int, rng: random.Random) -> list[float]:
    """Return one step's widths: the largest, the smallest, then ``count - 2`` random ones (one list of one width).

    Random widths are drawn from the listed widths between the extremes, or uniformly (in steps of 0.05) between
    the smallest and the largest when there are none.

    Args:
        widths: the trained widths.
        count: widths per step (1: the largest only; 2: largest and smallest).
        rng: the source of the random widths.
    """
    largest, smallest = max(widths), min(widths)
    if smallest == largest:
        return [largest]
    chosen = [largest, smallest][:count]
    between = sorted({width for width in widths if smallest < width < largest})
    for _ in range(count - len(chosen)):
        if between:
            chosen.append(rng.choice(between))
        else:  # rounded to 1/20, so that a run builds a bounded number of skeletons
            chosen.append(max(smallest, round(rng.uniform(smallest, largest) * 20) / 20))
    return chosen


def distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Return ``1 - cos(student, teacher)`` averaged over the batch; the teacher gets no gradient.

    Args:
        student: ``(B, D)`` outputs of a smaller width.
        teacher: ``(B, D)`` outputs of the largest width.
    """
    return (1 - F.cosine_similarity(student, teacher.detach(), dim=-1)).mean()


class Sandwich:
    """One training step's forward passes under the sandwich rule.

    Args:
        config: the ``slimmable`` section.
        switch: the switch the step's forward passes go through.
    """

    def __init__(self, config: SlimmableConfig, switch: WidthSwitch) -> None:
        self.config = config
        self.switch = switch

    def __call__(
        self, run: Callable[[], Output], *, step: int, loss: Callable[[Output], Tensor],
        target: Callable[[Output], Tensor], state: Sequence[nn.Module] = (),
    ) -> tuple[Output, Tensor]:  # fmt: skip
        """Run the full width, then the step's smaller widths; return the full output and the smaller widths' loss.

        Args:
            run: one forward pass (through :attr:`switch`) of the step's batch.
            step: the optimisation step (seeds the random widths).
            loss: the objective of an output.
            target: the tensor that distillation compares (e.g. projections ``(B, D)``).
            state: modules whose buffers a forward pass changes beside its output (a MoCo queue, running
                statistics of a momentum network): every smaller width starts from their state before the step,
                and the full width's state is kept.

        Returns:
            The full width's output and the summed losses of the smaller widths (zero when there are none).
        """
        rng = random.Random(self.config.seed * 1_000_003 + step)
        widths = sandwich_widths(self.config.widths, self.config.sandwich, rng)
        before = _buffers(state)
        full = run()
        after = _buffers(state)
        extra = None
        for width in widths[1:]:
            _restore(before)
            with self.switch.at(SlimSpec(width=width, attention_scale=self.config.attention_scale)):
                output = run()
            term = distillation_loss(target(output), target(full)) if self.config.distill else loss(output)
            extra = term if extra is None else extra + term
        _restore(after)
        return full, extra if extra is not None else torch.zeros((), device=target(full).device)


def _buffers(modules: Sequence[nn.Module]) -> list[tuple[nn.Module, str, Tensor]]:
    """Return ``(owner, name, copy)`` of every buffer of ``modules``."""
    return [(owner, name, buffer.detach().clone()) for module in modules for owner in module.modules()
            for name, buffer in owner._buffers.items() if buffer is not None]  # fmt: skip


def _restore(saved: list[tuple[nn.Module, str, Tensor]]) -> None:
    """Point the buffers at fresh copies of the saved values.

    The tensors are replaced, not overwritten, because the step's autograd graph may hold the old ones.
    """
    for owner, name, value in saved:
        owner._buffers[name] = value.clone()
