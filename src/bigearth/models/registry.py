"""Backbone names that bigearth recipes use, and how each maps to a timm architecture.

A backbone is built from a name plus keyword arguments, as in timm: ``in_chans`` is the number of bands,
``num_classes`` the number of classes, and networks built for one input size (ViT, MLP-Mixer) receive
``img_size``. Weights are never downloaded: ``pretrained`` is always False here and local weights are loaded by
:mod:`bigearth.folders.weights`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import timm
from torch import nn

from bigearth.errors import ConfigError


@dataclass(frozen=True)
class BackboneSpec:
    """How one bigearth backbone name is built with timm.

    Attributes:
        timm_name: the timm architecture name.
        fixed_size: whether the network is built for one input size (``img_size`` is passed to timm).
        kwargs: keyword arguments fixed by this name (e.g. a patch size or channel widths).
        description: one line for listings and error messages.
    """

    timm_name: str
    fixed_size: bool = False
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


#: The backbones of the published reBEN experiments (DESIGN 2.5), the throughput benchmark and the CPU demo.
BACKBONES: Mapping[str, BackboneSpec] = MappingProxyType(
    {
        "resnet18": BackboneSpec("resnet18", description="ResNet-18 (11 M parameters)"),
        "resnet50": BackboneSpec("resnet50", description="ResNet-50 (24 M parameters)"),
        "resnet101": BackboneSpec("resnet101", description="ResNet-101 (43 M parameters)"),
        "convnextv2_base": BackboneSpec("convnextv2_base", description="ConvNeXt V2 base (88 M parameters)"),
        "mobilevit_s": BackboneSpec("mobilevit_s", description="MobileViT-S (5 M parameters)"),
        "vit_base_patch8": BackboneSpec(
            "vit_base_patch8_224", fixed_size=True, description="ViT-B, 8 px patches (15 x 15 tokens at 120 px)"
        ),
        "vit_base_patch15": BackboneSpec(
            "vit_base_patch16_224",
            fixed_size=True,
            kwargs={"patch_size": 15},
            description="ViT-B, 15 px patches (8 x 8 tokens at 120 px)",
        ),
        "mixer_b16": BackboneSpec("mixer_b16_224", fixed_size=True, description="MLP-Mixer B/16 (7 x 7 at 120 px)"),
        "resnet10t_slim": BackboneSpec(
            "resnet10t",
            kwargs={"channels": (32, 64, 128, 256), "stem_width": 16},
            description="ResNet-10-T at half width (1.2 M parameters): the CPU demo",
        ),
    }
)


def list_backbones() -> list[str]:
    """Return the bigearth backbone names (any other timm architecture name is accepted too)."""
    return list(BACKBONES)


def resolve_backbone(name: str) -> BackboneSpec:
    """Return the spec of a bigearth backbone name, or a plain spec for another timm architecture name.

    Raises:
        ConfigError: if the name is neither a bigearth backbone nor a timm architecture.
    """
    if name in BACKBONES:
        return BACKBONES[name]
    if timm.is_model(name):
        fixed = bool(timm.models.get_pretrained_cfg_value(name, "fixed_input_size"))
        return BackboneSpec(name, fixed_size=fixed, description=f"timm {name}")
    raise ConfigError(
        f"unknown backbone {name!r}; use one of {list_backbones()} or any timm architecture name "
        "(python -c 'import timm; print(timm.list_models())')"
    )


def timm_kwargs(
    name: str,
    *,
    in_chans: int,
    num_classes: int,
    image_size: int,
    backbone_args: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return the timm architecture name and the keyword arguments that build backbone ``name``.

    These two values rebuild the network without bigearth: ``timm.create_model(architecture, **kwargs)``.

    Args:
        name: bigearth backbone name or timm architecture name.
        in_chans: number of input bands.
        num_classes: number of outputs.
        image_size: input size in pixels (passed as ``img_size`` to fixed-size networks only).
        backbone_args: extra keyword arguments; they override the name's fixed ones.

    Raises:
        ConfigError: for an unknown name.
    """
    spec = resolve_backbone(name)
    kwargs: dict[str, Any] = {"in_chans": in_chans, "num_classes": num_classes, **spec.kwargs}
    if spec.fixed_size:
        kwargs["img_size"] = image_size
    kwargs.update(backbone_args or {})
    return spec.timm_name, {key: list(v) if isinstance(v, tuple) else v for key, v in kwargs.items()}


def create_backbone(architecture: str, kwargs: Mapping[str, Any], **training_kwargs: Any) -> nn.Module:
    """Build a timm network without pretrained weights.

    Args:
        architecture: timm architecture name (from :func:`timm_kwargs`).
        kwargs: its keyword arguments (from :func:`timm_kwargs`).
        **training_kwargs: regularisation that does not change the weights' shapes, e.g. ``drop_rate`` and
            ``drop_path_rate``.

    Returns:
        The timm model, honouring timm's contract (``forward_features``, ``forward_head``, ``num_classes``).

    Raises:
        ConfigError: if timm rejects an argument (e.g. ``drop_path_rate`` for a network without stochastic depth).
    """
    arguments = {key: tuple(v) if isinstance(v, list) else v for key, v in {**kwargs, **training_kwargs}.items()}
    try:
        return timm.create_model(architecture, pretrained=False, **arguments)
    except TypeError as error:
        raise ConfigError(
            f"timm cannot build {architecture!r} with {sorted(arguments)} ({error}); "
            "remove the unsupported option from model.backbone_args (or model.drop_path_rate)"
        ) from error
