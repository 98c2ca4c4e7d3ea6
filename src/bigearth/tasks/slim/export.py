"""Writing a slimmed model folder (``bigearth slim export``): cut, re-estimate batch norm, record the cut."""

from pathlib import Path
from typing import Any

from bigearth.errors import ConfigError
from bigearth.features import calibrate
from bigearth.folders.classifier import load_model, save_model
from bigearth.folders.format import SLIM_KEY, describe_folder
from bigearth.folders.foundation import load_foundation_model, save_foundation_model
from bigearth.models.encoders import BackboneEncoder
from bigearth.slim.batchnorm import batch_norms
from bigearth.slim.network import slim_network
from bigearth.slim.spec import SlimSpec


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
    folder = describe_folder(model)
    if folder.slim:
        raise ConfigError(f"{model} is already slimmed (its folder records one cut); slim the original model instead")
    extra: dict[str, Any] = {SLIM_KEY: spec.to_dict(), "slimmed_from": str(model)}
    if folder.kind == "foundation":
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
