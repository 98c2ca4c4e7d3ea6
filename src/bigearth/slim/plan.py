"""The slicing primitives shared by post-hoc slimming and width-switchable training.

A :class:`Cutter` replaces tensors of a network's modules by slices of themselves (in place) and records, in a
:data:`Plan`, which indices every tensor kept along each dimension. Post-hoc slimming keeps the cut network;
slimmable training keeps the plan and slices the full network's tensors with :func:`take` at every step, so
that gradients reach the full weights (:mod:`bigearth.slim.switch`). The rules of what to keep live in
:mod:`bigearth.slim.transformer` and :mod:`bigearth.slim.resnet`.
"""

import torch
from torch import Tensor, nn

#: Kept indices of one tensor, per dimension (None: the whole dimension).
Index = tuple[Tensor | None, ...]
#: Tensor name (as ``named_parameters``/``named_buffers`` of the root give it) -> its kept indices.
Plan = dict[str, Index]


def first(count: int) -> Tensor:
    """Return the indices ``0 .. count - 1`` (int64)."""
    return torch.arange(count)


def take(tensor: Tensor, index: Index) -> Tensor:
    """Return the slice of ``tensor`` that ``index`` keeps (differentiable; a copy when anything is cut)."""
    for dim, kept_indices in enumerate(index):
        if kept_indices is not None:
            tensor = tensor.index_select(dim, kept_indices.to(tensor.device))
    return tensor


class Cutter:
    """Cut tensors of ``root``'s modules in place and remember what was kept.

    Args:
        root: the network whose tensor names the plan uses.
    """

    def __init__(self, root: nn.Module) -> None:
        self.root = root
        self.plan: Plan = {}
        self._names = {id(module): name for name, module in root.named_modules()}

    def tensor(self, module: nn.Module, name: str, index: Index) -> None:
        """Replace parameter or buffer ``name`` of ``module`` by its slice (a parameter stays a parameter)."""
        prefix = self._names[id(module)]
        key = f"{prefix}.{name}" if prefix else name
        if name in module._parameters:
            old = module._parameters[name]
            if old is not None:
                module._parameters[name] = nn.Parameter(take(old.detach(), index).clone(),
                                                        requires_grad=old.requires_grad)  # fmt: skip
        else:
            old = module._buffers[name]
            if old is not None:
                module._buffers[name] = take(old, index).clone()
        if old is not None:
            self.plan[key] = index

    def linear(self, module: nn.Linear, *, rows: Tensor | None = None, cols: Tensor | None = None) -> None:
        """Keep output features ``rows`` and input features ``cols`` of a linear layer."""
        self.tensor(module, "weight", (rows, cols))
        self.tensor(module, "bias", (rows,))
        module.out_features = len(rows) if rows is not None else module.out_features
        module.in_features = len(cols) if cols is not None else module.in_features

    def conv(self, module: nn.Conv2d, *, out: Tensor | None = None, inp: Tensor | None = None) -> None:
        """Keep output channels ``out`` and input channels ``inp`` of a (dense) convolution."""
        self.tensor(module, "weight", (out, inp))
        self.tensor(module, "bias", (out,))
        module.out_channels = len(out) if out is not None else module.out_channels
        module.in_channels = len(inp) if inp is not None else module.in_channels

    def norm(self, module: nn.LayerNorm | nn.BatchNorm2d, channels: Tensor | None) -> None:
        """Keep ``channels`` of a layer norm (over the last dimension) or a batch norm."""
        if channels is None:
            return
        for name in ("weight", "bias", "running_mean", "running_var"):
            if name in module._parameters or name in module._buffers:
                self.tensor(module, name, (channels,))
        if isinstance(module, nn.LayerNorm):
            module.normalized_shape = (len(channels),)
        else:
            module.num_features = len(channels)
