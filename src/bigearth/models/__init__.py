"""Networks only (no training logic): reBEN scene classifiers built on timm backbones, and model folders."""

from bigearth.models.classifier import SceneClassifier
from bigearth.models.io import check_compatible, load_model, save_model
from bigearth.models.metadata import ModelMetadata
from bigearth.models.registry import BACKBONES, list_backbones

__all__ = [
    "BACKBONES",
    "ModelMetadata",
    "SceneClassifier",
    "check_compatible",
    "list_backbones",
    "load_model",
    "save_model",
]
