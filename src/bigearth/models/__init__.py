"""Networks only (no training logic, no files): reBEN scene classifiers on timm backbones, their metadata.

Model folders are :mod:`bigearth.folders`'s.
"""

from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata, check_compatible
from bigearth.models.registry import BACKBONES, list_backbones

__all__ = [
    "BACKBONES",
    "ModelMetadata",
    "SceneClassifier",
    "check_compatible",
    "list_backbones",
]
