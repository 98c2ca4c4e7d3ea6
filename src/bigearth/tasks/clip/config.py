"""CLIP recipes: YAML with ``task: clip`` and the sections of the classification recipes.

::

    task: clip
    seed_everything: 42
    trainer: {...}           # lightning.Trainer keyword arguments
    model: {...}             # CLIPModelConfig: the architecture (CLIPConfig) plus lr and image weights
    data: {...}              # CLIPDataConfig: images (store or release root) and the BigEarthNet.txt file
    optimizer: {...}         # timm optimiser name and weight decay
    scheduler: {...}         # linear warm-up, then cosine decay to a fraction of the peak
    early_stopping: {...}    # patience on the validation text->image recall@10

Overrides are dotted ``key=value`` pairs as for every ``bigearth train`` recipe
(``model.embed_dim=128 data.texts=texts.parquet``).
"""

from dataclasses import asdict, dataclass, field
from typing import Union

from bigearth.errors import ConfigError
from bigearth.models.clip.model import CLIPConfig
from bigearth.tasks.config import SchedulerConfig, TrainConfig, recipe_loader, recipe_parser

#: The ``task`` of a CLIP recipe.
TASK = "clip"


@dataclass(frozen=True)
class CLIPModelConfig(CLIPConfig):
    """The architecture (:class:`~bigearth.models.clip.model.CLIPConfig`) plus optimisation settings.

    Attributes:
        lr: peak learning rate.
        image_weights: local weights for the image encoder (a timm/torch file, ``.safetensors`` or a bigearth
            classification model folder); its classifier is left out. None: random initialisation.
    """

    lr: float = 5e-4
    image_weights: str | None = None

    def validate(self) -> None:
        """Check the architecture and the optimisation settings.

        Raises:
            ConfigError: naming the offending value.
        """
        super().validate()
        if self.lr <= 0:
            raise ConfigError(f"model.lr = {self.lr} must be positive")

    def network(self) -> CLIPConfig:
        """Return the architecture alone (what the model folder records)."""
        return CLIPConfig.from_dict(asdict(self))


@dataclass
class CLIPDataConfig:
    """Images and captions.

    Attributes:
        path: store folder or release root of the images (``--data`` overrides it).
        texts: BigEarthNet.txt parquet file (released, or ``bigearth text generate`` output); its ``captioning``
            rows are the training pairs, its split decides which captions train, validate and test.
        bands: band preset, ``"s1"``, ``"s2"``, ``"s1s2"`` or band names.
        class_order: ``"table"`` or ``"alphabetical"`` order of the 19 classes (zero-shot evaluation).
        batch_size: patches per training batch (each with one of its captions, drawn anew every epoch).
        num_workers: DataLoader worker processes.
        resample: ``"nearest"`` or ``"bilinear"`` for the 20 m and 60 m bands.
        include_snow_cloud: keep patches with seasonal snow or clouds (the texts must include them).
        device_transform: resample and normalise whole batches on the model's device.
    """

    path: str | None = None
    texts: str | None = None
    bands: Union[str, int, list[str]] = "s1s2"  # noqa: UP007  (a union of types for the config parser)
    class_order: str = "table"
    batch_size: int = 256
    num_workers: int = 8
    resample: str = "nearest"
    include_snow_cloud: bool = False
    device_transform: bool = True

    def validate(self) -> None:
        """Check values that need no data.

        Raises:
            ConfigError: naming the offending value.
        """
        if self.batch_size < 2 or self.num_workers < 0:
            raise ConfigError(
                f"data.batch_size ({self.batch_size}) must be >= 2 (the loss contrasts the pairs of a batch) and "
                f"num_workers ({self.num_workers}) >= 0"
            )


@dataclass
class CLIPTrainConfig(TrainConfig):
    """A whole CLIP recipe: :class:`~bigearth.tasks.config.TrainConfig`'s sections."""

    name: str = "clip"
    task: str = TASK
    model: CLIPModelConfig = field(default_factory=CLIPModelConfig)  # type: ignore[assignment]
    data: CLIPDataConfig = field(default_factory=CLIPDataConfig)  # type: ignore[assignment]
    scheduler: SchedulerConfig = field(default_factory=lambda: SchedulerConfig(warmup_steps=100))


#: Build a :class:`CLIPTrainConfig` from plain data (a parsed YAML file); refuses invalid values (``ConfigError``).
parse_clip_config = recipe_parser(CLIPTrainConfig, "CLIP recipe")


#: Read a YAML CLIP recipe and apply dotted overrides.
load_clip_config = recipe_loader(parse_clip_config, "configs/clip/")
