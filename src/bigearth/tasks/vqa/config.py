"""VQA recipes: YAML with ``task: vqa`` and the sections of the classification recipes.

::

    task: vqa
    seed_everything: 42
    trainer: {...}           # lightning.Trainer keyword arguments
    model: {...}             # VQAModelConfig: the architecture (VQAConfig) plus lr, timm dropout, image weights
    data: {...}              # VQADataConfig: images (store or release root) and the questions file
    optimizer: {...}         # timm optimiser name and weight decay (AdamW, 0.01)
    scheduler: {...}         # linear warm-up, then cosine decay to a fraction of the peak
    early_stopping: {...}    # patience on the validation average accuracy

Overrides are dotted ``key=value`` pairs as for every ``bigearth train`` recipe
(``model.fusion=mfb data.questions=qa.parquet``).
"""

from dataclasses import asdict, dataclass, field
from typing import Union

from bigearth.errors import ConfigError
from bigearth.models.vqa.model import VQAConfig
from bigearth.tasks.config import (
    SchedulerConfig,
    TrainConfig,
    recipe_loader,
    recipe_parser,
)
from bigearth.tasks.vqa.questions import ANSWERABLE_TYPES, answerable_types

#: The ``task`` of a VQA recipe.
TASK = "vqa"


@dataclass(frozen=True)
class VQAModelConfig(VQAConfig):
    """The architecture (:class:`~bigearth.models.vqa.model.VQAConfig`) plus optimisation settings.

    Attributes:
        lr: peak learning rate (5e-4 in LiT-4-RSVQA).
        drop_rate: timm dropout of the image encoder (0.2 in LiT-4-RSVQA).
        drop_path_rate: timm stochastic depth of the image encoder (0.2 in LiT-4-RSVQA; 0 for networks without).
        image_weights: local weights for the image encoder (a timm/torch file, ``.safetensors`` or a bigearth
            classification model folder); its classifier is left out. None: random initialisation.
        freeze_image: keep the image encoder's pretrained body fixed (no gradients, evaluation mode); its head to
            ``image_features`` still trains. Needs ``image_weights``.
    """

    lr: float = 5e-4
    drop_rate: float = 0.2
    drop_path_rate: float = 0.2
    image_weights: str | None = None
    freeze_image: bool = False

    def validate(self) -> None:
        """Check the architecture and the optimisation settings.

        Raises:
            ConfigError: naming the offending value.
        """
        super().validate()
        if self.lr <= 0:
            raise ConfigError(f"model.lr = {self.lr} must be positive")
        if not (0 <= self.drop_rate < 1 and 0 <= self.drop_path_rate < 1):
            raise ConfigError(f"model.drop_rate ({self.drop_rate}) and drop_path_rate must be in [0, 1)")
        if self.freeze_image and not self.image_weights:
            raise ConfigError("model.freeze_image keeps pretrained image weights fixed: set model.image_weights too")

    def network(self) -> VQAConfig:
        """Return the architecture alone (what the model folder records)."""
        return VQAConfig.from_dict(asdict(self))


@dataclass
class VQADataConfig:
    """Images and questions.

    Attributes:
        path: store folder or release root of the images (``--data`` overrides it).
        questions: parquet file of questions: ``bigearth text rsvqa`` (RSVQAxBEN-style) or ``bigearth text
            generate`` (BigEarthNet.txt) output; the kind is told by its columns.
        text_types: BigEarthNet.txt text types to learn (``binary`` -> yes/no, ``mcq``; the earlier names
            ``multiple_choice`` are read with a warning); ignored for RSVQA files.
        bands: band preset, ``"s2"``, ``"s1s2"`` or band names (LiT-4-RSVQA: the 10 S2 bands, preset 10).
        batch_size: questions per batch and process; with ``group_by_image``, images per batch (each with all its
            questions, 25 per image for RSVQAxBEN).
        num_workers: DataLoader worker processes.
        group_by_image: batch whole images with all their questions, so that each image is read and encoded once
            per epoch (about 25 times less image work; the published recipe draws questions independently).
        resample: ``"nearest"`` or ``"bilinear"`` for the 20 m and 60 m bands.
        include_snow_cloud: keep patches with seasonal snow or clouds (the question file must include them).
        augment: random flips and 90-degree rotations of training images; off by default because questions about
            directions and positions (BigEarthNet.txt) would no longer match the image.
        device_transform: resample and normalise whole batches on the model's device.
    """

    path: str | None = None
    questions: str | None = None
    text_types: list[str] = field(default_factory=lambda: list(ANSWERABLE_TYPES))
    bands: Union[str, int, list[str]] = 10  # noqa: UP007  (a union of types for the config parser)
    batch_size: int = 512
    num_workers: int = 8
    group_by_image: bool = False
    resample: str = "nearest"
    include_snow_cloud: bool = False
    augment: bool = False
    device_transform: bool = True

    def validate(self) -> None:
        """Check values that need no data.

        Raises:
            ConfigError: naming the offending value.
        """
        answerable_types(self.text_types)
        if self.batch_size < 1 or self.num_workers < 0:
            raise ConfigError(f"data.batch_size ({self.batch_size}) must be >= 1 and num_workers >= 0")


@dataclass
class VQATrainConfig(TrainConfig):
    """A whole VQA recipe: :class:`~bigearth.tasks.config.TrainConfig`'s sections, 10,000 warm-up steps."""

    name: str = "vqa"
    task: str = TASK
    model: VQAModelConfig = field(default_factory=VQAModelConfig)  # type: ignore[assignment]
    data: VQADataConfig = field(default_factory=VQADataConfig)  # type: ignore[assignment]
    scheduler: SchedulerConfig = field(default_factory=lambda: SchedulerConfig(warmup_steps=10000))


#: Build a :class:`VQATrainConfig` from plain data (a parsed YAML file); refuses invalid values (``ConfigError``).
parse_vqa_config = recipe_parser(VQATrainConfig, "VQA recipe")


#: Read a YAML VQA recipe and apply dotted overrides.
load_vqa_config = recipe_loader(parse_vqa_config, "configs/vqa/")
