"""Segmentation recipes (``task: segmentation``): any pretrained encoder plus an upsampling head on reBEN's maps.

::

    task: segmentation
    trainer: {...}          # lightning.Trainer keyword arguments
    model: {...}            # SegmentationModelConfig: the encoder folder, freezing, head width, learning rate
    data: {...}             # the ReBENDataModule's arguments; bands default to the encoder's
    optimizer: {...}
    scheduler: {...}
    early_stopping: {...}   # patience on validation mIoU
"""

from dataclasses import dataclass, field
from typing import Any, Union

from bigearth.errors import ConfigError
from bigearth.tasks.config import (
    DataConfig,
    TrainConfig,
    parse_recipe,
    recipe_loader,
)

TASK = "segmentation"


@dataclass
class SegmentationModelConfig:
    """The network and its learning rate.

    Attributes:
        encoder: model folder (or run folder) of the encoder: a CSMAE/CSMoE model or a scene classifier.
        reinitialise: use the encoder's architecture with random weights (the from-scratch baseline).
        freeze_encoder: train the head only.
        channels: width of the upsampling head.
        lr: peak learning rate.
    """

    encoder: str | None = None
    reinitialise: bool = False
    freeze_encoder: bool = False
    channels: int = 256
    lr: float = 1e-4


@dataclass
class SegmentationDataConfig(DataConfig):
    """:class:`~bigearth.tasks.config.DataConfig` whose bands default to the encoder's (null)."""

    bands: Union[str, int, list[str], None] = None  # noqa: UP007
    batch_size: int = 64


@dataclass
class SegmentationConfig(TrainConfig):
    """A whole segmentation recipe: the supervised sections of :class:`~bigearth.tasks.config.TrainConfig`."""

    name: str = "segmentation"
    task: str = TASK
    model: SegmentationModelConfig = field(default_factory=SegmentationModelConfig)  # type: ignore[assignment]
    data: SegmentationDataConfig = field(default_factory=SegmentationDataConfig)  # type: ignore[assignment]


def parse_segmentation_config(raw: dict[str, Any], *, name: str = "segmentation") -> SegmentationConfig:
    """Build a :class:`SegmentationConfig` from plain data.

    Raises:
        ConfigError: for unknown sections or keys, wrong types, another task or no encoder.
    """
    config = parse_recipe(raw, SegmentationConfig, kind="segmentation recipe", name=name, task=TASK)
    if not config.model.encoder:
        raise ConfigError("model.encoder is not set: name the model folder of a pretrained encoder (or classifier)")
    return config


#: Read a YAML segmentation recipe and apply dotted overrides.
load_segmentation_config = recipe_loader(parse_segmentation_config, "configs/fm/")
