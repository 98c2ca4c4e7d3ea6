"""One entry point for slimming any bigearth network.

:func:`cut_network` finds the slimmable part of a network (a timm ViT or ResNet inside a scene classifier or an
SSL backbone, a cross-sensor MAE or its encoder) and cuts it in place; :func:`slim_network` does so on a copy
and :func:`slim_encoder` on a :class:`~bigearth.models.encoders.FeatureEncoder`. Slimmed model folders are
:mod:`bigearth.folders.slimmed`'s.
"""

import copy

from timm.models.resnet import ResNet
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from bigearth.errors import ConfigError
from bigearth.models.classifier import SceneClassifier
from bigearth.models.encoders import BackboneEncoder, FeatureEncoder, FoundationEncoder
from bigearth.models.fm.csmae import CrossSensorMAE
from bigearth.models.fm.encoder import CrossSensorEncoder
from bigearth.slim.plan import Cutter, Plan
from bigearth.slim.resnet import slim_resnet
from bigearth.slim.spec import SlimSpec
from bigearth.slim.transformer import slim_cross_sensor, slim_cross_sensor_mae, slim_vit, width_of
from bigearth.ssl.backbone import PooledBackbone


def slimmable_part(network: nn.Module) -> nn.Module:
    """Return the module that slimming cuts: the timm backbone of a classifier, or the cross-sensor network.

    Raises:
        ConfigError: for a network that holds nothing slimmable.
    """
    wrappers = {PooledBackbone: "classifier", SceneClassifier: "backbone", BackboneEncoder: "model",
                FoundationEncoder: "encoder"}  # fmt: skip
    while type(network) in wrappers:
        network = getattr(network, wrappers[type(network)])
    if not isinstance(network, VisionTransformer | ResNet | CrossSensorMAE | CrossSensorEncoder):
        raise ConfigError(f"cannot slim a {type(network).__name__}; slimming supports timm ViTs, timm ResNets and "
                          "the cross-sensor ViT of CSMAE/CSMoE")  # fmt: skip
    return network


def is_transformer(network: nn.Module) -> bool:
    """Whether the slimmable part of ``network`` is a transformer (heads and an embedding width to cut)."""
    return not isinstance(slimmable_part(network), ResNet)


def cut_network(network: nn.Module, spec: SlimSpec) -> Plan:
    """Slim ``network`` in place and return the plan (tensor name -> kept indices, names relative to it).

    Raises:
        ConfigError: for an unsupported network or a spec it cannot take.
    """
    part, cut = slimmable_part(network), Cutter(network)
    if isinstance(part, VisionTransformer):
        slim_vit(cut, part, spec)
    elif isinstance(part, ResNet):
        slim_resnet(cut, part, spec)
    elif isinstance(part, CrossSensorMAE):
        slim_cross_sensor_mae(cut, part, spec)
    else:
        slim_cross_sensor(cut, part, spec)  # type: ignore[arg-type]
    return cut.plan


def slim_network(network: nn.Module, spec: SlimSpec) -> nn.Module:
    """Return a slimmed copy of ``network`` (the original is left as it is)."""
    slimmed = copy.deepcopy(network)
    cut_network(slimmed, spec)
    return slimmed


def slim_encoder(encoder: FeatureEncoder, spec: SlimSpec) -> FeatureEncoder:
    """Return a slimmed copy of a feature encoder, its ``feature_dim`` updated."""
    slimmed = slim_network(encoder, spec)
    part = slimmable_part(slimmed)
    slimmed.feature_dim = width_of(part) if isinstance(part, CrossSensorEncoder) else int(part.num_features)
    return slimmed  # type: ignore[return-value]
