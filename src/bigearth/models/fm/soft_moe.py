"""Soft Mixture-of-Experts layer with sensor-specific and shared experts.

Soft MoE [0] replaces a transformer block's MLP. Each of the ``n`` experts owns ``p`` slots. Every slot is a
convex combination of all the input tokens (weights: a softmax over the tokens), each expert is an MLP applied to
its own slots, and every output token is a convex combination of all the slots' outputs (weights: a softmax over
the slots). Nothing is dropped and no load-balancing loss is needed. Logits are computed from L2-normalised
tokens and slot parameters times a learned scale, as in the reference implementation [1].

Equations, for one sequence ``X`` of ``m`` tokens of width ``d`` and slot parameters ``Phi`` ``(d, n, p)``::

    logits[m, n, p]  = scale * <X[m] / |X[m]|, Phi[:, n, p] / |Phi[:, n, p]|>
    D = softmax over m of logits        (dispatch weights: every slot's weights sum to one over the tokens)
    C = softmax over (n, p) of logits   (combine weights: every token's weights sum to one over the slots)
    slots[n, p]   = sum_m D[m, n, p] X[m]
    outputs[n, p] = expert_n(slots[n, p])
    Y[m]          = sum_{n, p} C[m, n, p] outputs[n, p]

Einsum indices: ``b`` batch, ``m`` tokens, ``d`` width, ``n`` experts, ``p`` slots per expert, ``h`` expert
hidden width.

Sensor groups (CSMoE; our design, DESIGN 2.7 leaves it open): the layer may reserve experts per sensor. With
``groups = {"s1": (0, 1), "s2": (2, 3)}`` and 8 experts, S1 sequences are routed to experts 0, 1 and the shared
4..7, S2 sequences to 2, 3 and 4..7: the softmaxes run over the slots of the active experts only, so each sensor
gets experts that specialise in it while the shared ones learn what the sensors have in common. A sequence of an
unnamed sensor (``sensor=None``) uses every expert.

[0] Puigcerver, Riquelme, Mustafa, Houlsby, "From Sparse to Soft Mixtures of Experts", ICLR 2024
    (arXiv:2308.00951).
[1] https://github.com/google-research/vmoe (``vmoe/projects/soft_moe/router.py``)
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.errors import ConfigError


class Experts(nn.Module):
    """``n`` two-layer GELU MLPs evaluated together, one per expert, on their own slots.

    The weights are laid out like ``nn.Linear`` weights stacked over experts (``fc1_weight[e]`` is expert ``e``'s
    ``(hidden, dim)`` first layer), so that width slimming can cut the hidden units of every expert as it cuts
    those of a ``timm.layers.Mlp``.

    Args:
        num_experts: number of experts.
        dim: input and output width.
        hidden_dim: hidden width of each expert.
    """

    def __init__(self, *, num_experts: int, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1_weight = nn.Parameter(torch.empty(num_experts, hidden_dim, dim))
        self.fc1_bias = nn.Parameter(torch.zeros(num_experts, hidden_dim))
        self.fc2_weight = nn.Parameter(torch.empty(num_experts, dim, hidden_dim))
        self.fc2_bias = nn.Parameter(torch.zeros(num_experts, dim))
        self.act = nn.GELU()
        for weight in (self.fc1_weight, self.fc2_weight):
            for expert in weight:
                nn.init.xavier_uniform_(expert)

    def forward(self, slots: Tensor, experts: Tensor) -> Tensor:
        """Apply expert ``experts[i]`` to ``slots[:, i]``.

        Args:
            slots: ``(B, n, p, d)``.
            experts: ``(n,)`` int64 indices of the experts that own the ``n`` slot groups.

        Returns:
            ``(B, n, p, d)``.
        """
        hidden = torch.einsum("bnpd,nhd->bnph", slots, self.fc1_weight[experts]) + self.fc1_bias[experts][:, None]
        hidden = self.act(hidden)
        return torch.einsum("bnph,ndh->bnpd", hidden, self.fc2_weight[experts]) + self.fc2_bias[experts][:, None]


class SoftMoE(nn.Module):
    """A Soft MoE layer in place of a transformer MLP (see the module docstring for the equations).

    Args:
        dim: token width ``d``.
        hidden_dim: hidden width of every expert.
        num_experts: experts ``n`` in all.
        slots_per_expert: slots ``p`` per expert.
        groups: sensor name -> indices of the experts reserved for it; experts in no group are shared by every
            sensor. None: every expert is shared.

    Shapes:
        input: ``(B, m, d)`` tokens; output: ``(B, m, d)``.

    Raises:
        ConfigError: for overlapping groups, indices outside ``0..num_experts-1``, or a sensor left without
            experts.
    """

    def __init__(
        self,
        *,
        dim: int,
        hidden_dim: int,
        num_experts: int,
        slots_per_expert: int = 1,
        groups: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__()
        if num_experts < 1 or slots_per_expert < 1:
            raise ConfigError(f"a Soft MoE needs >= 1 expert and slot, got {num_experts} x {slots_per_expert}")
        self.num_experts = num_experts
        self.slots_per_expert = slots_per_expert
        self.phi = nn.Parameter(torch.randn(dim, num_experts, slots_per_expert) * dim**-0.5)
        self.scale = nn.Parameter(torch.ones(()))
        self.experts = Experts(num_experts=num_experts, dim=dim, hidden_dim=hidden_dim)
        self.groups = {name: tuple(members) for name, members in (groups or {}).items()}
        reserved = [index for members in self.groups.values() for index in members]
        if len(set(reserved)) != len(reserved) or any(not 0 <= i < num_experts for i in reserved):
            raise ConfigError(f"expert groups {self.groups} overlap or name experts outside 0..{num_experts - 1}")
        shared = tuple(i for i in range(num_experts) if i not in reserved)
        self._active = {name: torch.tensor(sorted(members + shared)) for name, members in self.groups.items()}
        self._all = torch.arange(num_experts)
        if any(len(active) == 0 for active in self._active.values()):
            raise ConfigError(f"a sensor is left without experts: groups {self.groups}, {len(shared)} shared")

    def active_experts(self, sensor: str | None) -> Tensor:
        """Return the ``(n,)`` indices of the experts that sequences of ``sensor`` are routed to."""
        return self._active.get(sensor, self._all) if sensor is not None else self._all

    def routing(self, tokens: Tensor, experts: Tensor) -> tuple[Tensor, Tensor]:
        """Return the dispatch and combine weights, each ``(B, m, n, p)``, for the given experts.

        Dispatch weights sum to one over the tokens ``m``; combine weights sum to one over the slots ``(n, p)``.
        """
        phi = F.normalize(self.phi[:, experts], dim=0)  # (d, n, p), each slot's parameters unit length
        logits = self.scale * torch.einsum("bmd,dnp->bmnp", F.normalize(tokens, dim=-1), phi)
        dispatch = logits.softmax(dim=1)
        combine = logits.flatten(2).softmax(dim=-1).view_as(logits)
        return dispatch, combine

    def forward(self, tokens: Tensor, sensor: str | None = None) -> Tensor:
        """Mix tokens into slots, run the experts on their slots, mix the slot outputs back into tokens.

        Args:
            tokens: ``(B, m, d)``.
            sensor: the sensor the sequence comes from (selects its experts), or None for all experts.

        Returns:
            ``(B, m, d)``.
        """
        experts = self.active_experts(sensor).to(tokens.device)
        dispatch, combine = self.routing(tokens, experts)
        slots = torch.einsum("bmnp,bmd->bnpd", dispatch, tokens)
        outputs = self.experts(slots, experts)
        return torch.einsum("bmnp,bnpd->bmd", combine, outputs)

    def extra_repr(self) -> str:
        """Experts, slots and groups, for ``print(model)``."""
        return f"experts={self.num_experts}, slots_per_expert={self.slots_per_expert}, groups={self.groups}"
