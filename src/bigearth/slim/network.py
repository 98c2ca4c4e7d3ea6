"""One entry point for slimming any bigearth network, and slimmed model folders.

:func:`cut_network` finds the slimmable part of a network (a timm ViT or ResNet inside a scene classifier or an
SSL backbone, a cross-sensor MAE or its encoder) and cuts it in place; :func:`slim_network` does so on a copy
and :func:`slim_encoder` on a :class:`~bigearth.models.fm.features.FeatureEncoder`.

A slimmed model folder is an ordinary model folder whose ``config.json`` also holds ``"slim": {"width": ...,
"embed_width": ..., "mode": ..., "attention_scale": ...}`` (a record without ``attention_scale`` reads as
``slimmed``, what folders written before the option used) and whose weights are the cut tensors: the model
loaders rebuild the recorded architecture, cut it by :func:`restore_slimming`, then load the weights, so every
command that takes a model folder takes a slimmed one.
"""

import copy
from pathlib import Path
from typing import Any

from timm.models.resnet import ResNet
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from bigearth.errors import ConfigError
from bigearth.models.classifier import SceneClassifier
from bigearth.models.fm.csmae import CrossSensorMAE
from bigearth.models.fm.encoder import CrossSensorEncoder
from bigearth.models.fm.features import BackboneEncoder, FeatureEncoder, FoundationEncoder
from bigearth.models.fm.io import is_foundation_model, load_foundation_model, save_foundation_model
from bigearth.models.io import load_model, read_model_config, save_model
from bigearth.slim.batchnorm import batch_norms, calibrate
from bigearth.slim.plan import Cutter, Plan
from bigearth.slim.resnet import slim_resnet
from bigearth.slim.spec import SlimSpec
from bigearth.slim.transformer import slim_cross_sensor, slim_cross_sensor_mae, slim_vit, width_of
from bigearth.ssl.backbone import PooledBackbone

#: ``config.json`` key of a slimmed model folder.
SLIM_KEY = "slim"


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


def restore_slimming(network: nn.Module, config: dict[str, Any]) -> None:
    """Cut a freshly built network as its model folder's ``config.json`` records (nothing when it records none).

    The model loaders call this between building the architecture and loading the weights.

    Raises:
        ConfigError: for an invalid ``slim`` entry.
    """
    if config.get(SLIM_KEY):
        cut_network(network, SlimSpec.from_dict(config[SLIM_KEY]))


def save_slimmed_model(
    model: Path, spec: SlimSpec, out: Path, *, data: Path | None = None, calibration_batches: int = 8
) -> int:
    """Slim a model folder's network and write it as a model folder (``slim`` recorded in ``config.json``).

    A network with batch norm (a ResNet) gets statistics re-estimated at its new width from the first training
    batches of ``data`` (:mod:`bigearth.slim.batchnorm`); the full width's sliced statistics do not fit it.

    Args:
        model: a model or run folder (classifier, SSL encoder or CSMAE/CSMoE).
        spec: the width to keep.
        out: the new model folder.
        data: store folder or release root for the batch-norm statistics.
        calibration_batches: training batches that re-estimate them (0: keep the sliced full-width ones).

    Returns:
        The images the batch-norm statistics were estimated from (0 when none were).

    Raises:
        MissingDataError: if there is no model folder at ``model``.
        ConfigError: for an already slimmed model, an unsupported network, or a network with batch norm and no
            data to re-estimate it.
    """
    if read_model_config(model).get(SLIM_KEY):
        raise ConfigError(f"{model} is already slimmed (its folder records one cut); slim the original model instead")
    extra: dict[str, Any] = {SLIM_KEY: spec.to_dict(), "slimmed_from": str(model)}
    if is_foundation_model(model):
        save_foundation_model(slim_network(load_foundation_model(model), spec), out, extra=extra)  # type: ignore[arg-type]
        return 0
    classifier = slim_network(load_model(model), spec)
    images = 0
    if batch_norms(classifier) and calibration_batches:
        if data is None:
            raise ConfigError(
                "the network has batch norm, whose statistics must be re-estimated at the new width: pass --data "
                "STORE (or --calibration-batches 0 to keep the sliced ones)"
            )
        images = calibrate(BackboneEncoder(classifier), Path(data), batches=calibration_batches)  # type: ignore[arg-type]
        extra["batchnorm_statistics"] = {"data": str(data), "images": images}
    save_model(classifier.eval(), out, extra=extra)  # type: ignore[arg-type]
    return images
