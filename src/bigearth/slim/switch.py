"""Width-switchable forward passes: one network run at any width, its full weights sliced on the fly.

Inside ``with switch.at(spec)`` a :class:`WidthSwitch` runs its module slimmed to ``spec``:
:func:`torch.func.functional_call` on a weightless skeleton cut by the same rules as post-hoc slimming
(:mod:`bigearth.slim.network`), fed with slices of the full tensors, so gradients of every width reach the shared
full weights. Sliced batch-norm statistics are copies: only the full width updates them (smaller widths
re-estimate theirs after training, :mod:`bigearth.slim.batchnorm`). Narrower outputs can be zero-padded to the
full width, which equals cutting the next layer's inputs (a projection head then sees its first inputs only).
"""

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch.func import functional_call

from bigearth.slim.network import cut_network
from bigearth.slim.plan import Plan, take
from bigearth.slim.spec import SlimSpec


class WidthSwitch(nn.Module):
    """Run a module at any width, its full weights sliced on the fly.

    Args:
        module: the full network.
        pad_to: zero-pad the last dimension of narrower outputs to this width (None: leave them).

    Shapes:
        as ``module``; with ``pad_to``, outputs ``(..., pad_to)``.
    """

    def __init__(self, module: nn.Module, *, pad_to: int | None = None) -> None:
        super().__init__()
        self.module = module
        self.pad_to = pad_to
        self.spec = SlimSpec()
        self._skeletons: dict[SlimSpec, tuple[nn.Module, Plan]] = {}

    @contextmanager
    def at(self, spec: SlimSpec) -> Iterator[None]:
        """Run forward passes at ``spec`` inside the block."""
        previous, self.spec = self.spec, spec
        try:
            yield
        finally:
            self.spec = previous

    def skeleton(self, spec: SlimSpec) -> tuple[nn.Module, Plan]:
        """Return the weightless (meta) network cut to ``spec`` and its plan, built once per spec."""
        if spec not in self._skeletons:
            skeleton = copy.deepcopy(self.module)
            plan = cut_network(skeleton, spec)
            self._skeletons[spec] = (skeleton.to("meta"), plan)
        return self._skeletons[spec]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module at the current width (the full module itself at width 1)."""
        if self.spec.is_full:
            return self.module(*args, **kwargs)
        skeleton, plan = self.skeleton(self.spec)
        skeleton.train(self.training)
        tensors = {name: take(tensor, plan.get(name, ())) for name, tensor in
                   [*self.module.named_parameters(), *self.module.named_buffers()]}  # fmt: skip
        output = functional_call(skeleton, tensors, args, kwargs, tie_weights=False)
        if self.pad_to is not None and isinstance(output, Tensor) and output.shape[-1] < self.pad_to:
            output = F.pad(output, (0, self.pad_to - output.shape[-1]))
        return output
