"""Pretraining recipes of CSMAE and CSMoE: YAML with ``task: csmae`` and the classification recipes' layout.

::

    task: csmae
    seed_everything: 42
    trainer: {...}          # lightning.Trainer keyword arguments
    model: {...}            # PretrainModelConfig: the architecture (CrossSensorConfig) plus lr, temperature...
    data: {...}             # PretrainDataConfig: the ReBENDataModule's arguments plus ``ids`` (a subset)
    optimizer: {...}        # AdamW, weight decay 0.05, betas (0.9, 0.95) (DESIGN 2.7)
    scheduler: {...}        # linear warm-up, then cosine decay
    evaluation: {...}       # the linear probe run after pretraining
    slimmable: {...}        # SlimmableConfig: sandwich-rule training over encoder widths (off by default)

Overrides are dotted ``key=value`` pairs as for ``bigearth train`` (``model.moe.num_experts=8``).
"""

from dataclasses import dataclass, field, fields, replace
from typing import Any, Union

from bigearth.bands import resolve_bands
from bigearth.errors import ConfigError
from bigearth.models.fm.config import CrossSensorConfig, MoEConfig
from bigearth.slim.sandwich import SlimmableConfig
from bigearth.tasks.config import (
    DataConfig,
    OptimizerConfig,
    Recipe,
    SchedulerConfig,
    parse_recipe,
    parse_section,
    recipe_loader,
)

#: The ``task`` of a CSMAE/CSMoE pretraining recipe.
TASK = "csmae"
LOSS_TERMS = ("same_sensor", "cross_sensor", "contrastive")


@dataclass(frozen=True)
class PretrainModelConfig(CrossSensorConfig):
    """The architecture plus the objective's and optimiser's hyper-parameters.

    Attributes:
        lr: peak learning rate (1e-4 in DESIGN 2.7).
        temperature: NT-Xent temperature (0.5).
        normalize_targets: score per-patch normalised pixels (MAE's ``norm_pix_loss``).
        loss_weights: weights of ``same_sensor``, ``cross_sensor`` and ``contrastive`` (1 each: the plain sum).
    """

    lr: float = 1e-4
    temperature: float = 0.5
    normalize_targets: bool = False
    loss_weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LOSS_TERMS, 1.0))

    def validate(self) -> None:
        """Check the architecture and the loss weights.

        Raises:
            ConfigError: naming the offending value.
        """
        super().validate()
        unknown = [key for key in self.loss_weights if key not in LOSS_TERMS]
        if unknown:
            raise ConfigError(f"unknown model.loss_weights {unknown}; the terms are {list(LOSS_TERMS)}")
        if self.temperature <= 0 or self.lr <= 0:
            raise ConfigError(f"model.temperature ({self.temperature}) and model.lr ({self.lr}) must be positive")

    def network(self) -> CrossSensorConfig:
        """Return the architecture alone (what the model folder records)."""
        return CrossSensorConfig(**{item.name: getattr(self, item.name) for item in fields(CrossSensorConfig)})


@dataclass
class PretrainDataConfig(DataConfig):
    """The data module's arguments (:class:`bigearth.tasks.config.DataConfig`) plus a pretraining subset.

    Attributes:
        bands: must be the model's bands, S1 then S2 (preset 12 = VV VH + the ten S2 bands by default).
        ids: a parquet file with a ``patch_id`` column (``bigearth sample``): pretrain on these training patches
            only; None: the whole training split.
    """

    bands: Union[str, int, list[str]] = 12  # noqa: UP007
    batch_size: int = 256
    ids: str | None = None


@dataclass
class PretrainOptimizerConfig(OptimizerConfig):
    """AdamW with DESIGN 2.7's weight decay and betas.

    Attributes:
        betas: Adam's moment decay rates.
    """

    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])


@dataclass
class EvaluationConfig:
    """What runs after pretraining, its results written to ``metrics.json``.

    Attributes:
        linear_probe: fit a linear multi-label classifier on frozen pooled features of the training split and
            report its validation and test metrics.
        probe_steps: optimisation steps of the probe.
        batch_size: patches per forward pass when extracting features.
    """

    linear_probe: bool = True
    probe_steps: int = 300
    batch_size: int = 64


@dataclass
class PretrainConfig(Recipe):
    """A whole pretraining recipe; ``name`` (the file name) names the run folder."""

    name: str = "csmae"
    task: str = TASK
    model: PretrainModelConfig = field(default_factory=PretrainModelConfig)
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    optimizer: PretrainOptimizerConfig = field(default_factory=PretrainOptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    slimmable: SlimmableConfig = field(default_factory=SlimmableConfig)


def parse_model(values: dict[str, Any] | None, name: str = "model") -> PretrainModelConfig:
    """Build the model section (its ``moe`` subsection included), refusing unknown keys and wrong types.

    Raises:
        ConfigError: naming the offending key or value.
    """
    values = dict(values or {})
    moe = parse_section(MoEConfig, values.pop("moe", None), f"{name}.moe")
    return replace(parse_section(PretrainModelConfig, values, name), moe=moe)


def parse_pretrain_config(raw: dict[str, Any], *, name: str = "csmae") -> PretrainConfig:
    """Build a :class:`PretrainConfig` from plain data (a parsed YAML file).

    Raises:
        ConfigError: for unknown sections or keys, wrong types, another task, or data bands that are not the
            model's.
    """
    config = parse_recipe(raw, PretrainConfig, kind="CSMAE/CSMoE recipe", name=name, task=TASK,
                          parsers={"model": parse_model})  # fmt: skip
    if resolve_bands(config.data.bands) != config.model.bands:
        raise ConfigError(
            f"data.bands {list(resolve_bands(config.data.bands))} are not the model's bands {list(config.model.bands)} "
            "(S1 then S2, as model.sensor_bands lists them); set data.bands to the model's bands"
        )
    return config


#: Read a YAML CSMAE/CSMoE pretraining recipe and apply dotted overrides.
load_pretrain_config = recipe_loader(parse_pretrain_config, "configs/fm/")
