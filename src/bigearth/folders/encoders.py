"""Any bigearth model folder as a :class:`~bigearth.models.encoders.FeatureEncoder` (weights loaded or fresh)."""

from pathlib import Path
from typing import Any

import torch

from bigearth.errors import ConfigError
from bigearth.folders.classifier import load_model
from bigearth.folders.format import FOUNDATION_TASK, describe_folder
from bigearth.folders.slimmed import restore_slimming
from bigearth.models.classifier import SceneClassifier
from bigearth.models.encoders import BackboneEncoder, FeatureEncoder, FoundationEncoder
from bigearth.models.metadata import ModelMetadata


def load_encoder(path: Path, *, device: str | torch.device = "cpu") -> FeatureEncoder:
    """Load any bigearth model folder (or run folder) as a :class:`FeatureEncoder` in evaluation mode.

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if its files do not belong together.
    """
    if describe_folder(path).task == FOUNDATION_TASK:
        from bigearth.folders.foundation import load_foundation_model  # the [fm] extra, only where needed

        return FoundationEncoder(load_foundation_model(path, device=device)).eval()
    return BackboneEncoder(load_model(path, device=device)).eval()


def encoder_from_config(config: dict[str, Any]) -> FeatureEncoder:
    """Build an encoder of the architecture a model folder's ``config.json`` records, with random weights.

    A recorded slimming cut is applied, so the weights of a model built on a slimmed encoder fit.

    Raises:
        ConfigError: if the configuration is incomplete.
    """
    metadata = ModelMetadata.from_dict(config)
    if config.get("task") == FOUNDATION_TASK:
        from bigearth.models.fm.config import CrossSensorConfig
        from bigearth.models.fm.csmae import CrossSensorMAE

        network = CrossSensorMAE(config=CrossSensorConfig.from_dict(config["network"]), metadata=metadata)
        restore_slimming(network, config)
        return FoundationEncoder(network)
    if "architecture" not in config or "model_args" not in config:
        raise ConfigError("the encoder configuration names neither a foundation network nor a timm architecture")
    classifier = SceneClassifier(metadata, architecture=config["architecture"], model_args=config["model_args"])
    restore_slimming(classifier, config)
    return BackboneEncoder(classifier)
