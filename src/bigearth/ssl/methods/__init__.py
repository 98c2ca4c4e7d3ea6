"""The self-supervised methods by name; each is one small module built on lightly's losses and heads.

========  =====================================================  ==========================
name      method                                                  momentum network
========  =====================================================  ==========================
simclr    SimCLR (NT-Xent, in-batch negatives)                    no
mocov2    MoCo-v2 (InfoNCE, momentum keys, queue)                 yes
byol      BYOL (prediction of momentum projections)               yes
simsiam   SimSiam (prediction through a stop-gradient)            no
dino      DINO (self-distillation with a centred teacher)         yes
========  =====================================================  ==========================
"""

import inspect
from typing import Any

from torch import nn

from bigearth.errors import ConfigError
from bigearth.ssl.methods.base import SSLMethod, SSLOutput
from bigearth.ssl.methods.byol import BYOL
from bigearth.ssl.methods.dino import DINO
from bigearth.ssl.methods.moco import MoCoV2
from bigearth.ssl.methods.simclr import SimCLR
from bigearth.ssl.methods.simsiam import SimSiam

METHODS: dict[str, type[SSLMethod]] = {"simclr": SimCLR, "mocov2": MoCoV2, "byol": BYOL, "simsiam": SimSiam,
                                       "dino": DINO}  # fmt: skip


def method_arguments(name: str) -> list[str]:
    """Return the keyword arguments a method takes besides ``backbone`` and ``feature_dim``."""
    parameters = inspect.signature(METHODS[name].__init__).parameters
    return [key for key in parameters if key not in ("self", "backbone", "feature_dim")]


def build_method(
    name: str, *, backbone: nn.Module, feature_dim: int, arguments: dict[str, Any] | None = None
) -> SSLMethod:
    """Build a method by name around a backbone.

    Args:
        name: a key of :data:`METHODS`.
        backbone: images -> pooled features.
        feature_dim: width of the features.
        arguments: the method's keyword arguments (its published values where absent).

    Raises:
        ConfigError: for an unknown method or argument.
    """
    if name not in METHODS:
        raise ConfigError(f"unknown SSL method {name!r}; use one of {sorted(METHODS)}")
    unknown = [key for key in (arguments or {}) if key not in method_arguments(name)]
    if unknown:
        raise ConfigError(f"SSL method {name!r} takes no argument(s) {unknown}; it takes {method_arguments(name)}")
    return METHODS[name](backbone=backbone, feature_dim=feature_dim, **(arguments or {}))


__all__ = ["METHODS", "SSLMethod", "SSLOutput", "build_method", "method_arguments"]
