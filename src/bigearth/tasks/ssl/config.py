"""Self-supervised pretraining recipes: YAML with ``task: ssl`` in the layout of the classification recipes.

::

    task: ssl
    seed_everything: 42
    trainer: {...}          # lightning.Trainer keyword arguments
    model: {...}            # SSLModelConfig: method, backbone, learning rate, momentum schedule
    data: {...}             # SSLDataConfig: the ReBENDataModule's arguments (S2, 10 bands by default)
    augment: [...]          # the view pipeline (bigearth.ssl.augment): names or {name: ..., arguments}
    multicrop: {...}        # MultiCropConfig: DINO's local views (none by default)
    georank: {...}          # GeoRankConfig: the rank-based geographic regulariser (off by default)
    location_clusters: {...}  # LocationClusterConfig: the geography-aware SSL baseline (off by default)
    temporal: {...}         # TemporalConfig: the second view from another date of the same place (off by default)
    optimizer: {...}        # SSLOptimizerConfig: timm optimiser name, weight decay, momentum
    scheduler: {...}        # linear warm-up, then cosine decay
    evaluation: {...}       # kNN and linear probes run after pretraining
    slimmable: {...}        # SlimmableConfig: sandwich-rule training over widths (off by default)

Overrides are dotted ``key=value`` pairs as for ``bigearth train``: ``georank.enabled=true``,
``location_clusters.enabled=true``, ``temporal.enabled=true``, ``data.train_size=0.25``,
``model.method_args.memory_bank_size=4096``.
"""

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from bigearth.data.locations import SINGLE_DATE_POLICIES
from bigearth.errors import ConfigError
from bigearth.models.registry import resolve_backbone
from bigearth.slim.sandwich import SlimmableConfig
from bigearth.ssl.augment import DEFAULT_PIPELINE, build_augmentations
from bigearth.ssl.georank_loss import GeoRankLoss
from bigearth.ssl.methods import METHODS, method_arguments
from bigearth.tasks.config import DataConfig, OptimizerConfig, Recipe, SchedulerConfig, parse_recipe, recipe_loader

#: The ``task`` of a self-supervised pretraining recipe.
TASK = "ssl"


@dataclass
class SSLModelConfig:
    """The method, its encoder and its optimisation.

    Attributes:
        method: ``simclr``, ``mocov2``, ``byol``, ``simsiam`` or ``dino`` (:data:`bigearth.ssl.methods.METHODS`).
        method_args: the method's keyword arguments (head widths, temperatures, queue size); absent ones take
            the method's published values.
        backbone: bigearth backbone name or timm architecture (ResNet-18 in the published study; ViTs work).
        backbone_args: extra timm keyword arguments.
        image_size: input size of fixed-size networks (ViT); the crop size of the views must match it.
        lr: peak learning rate.
        momentum: ``[start, end]`` of the cosine schedule of the momentum network's EMA rate (unused by SimCLR and
            SimSiam; 0.996 -> 1 in the GeoRank reference code).
        momentum_epochs: ``0``: the schedule runs per step over the whole run; ``N > 0``: per epoch over ``N`` epochs,
            then ``end``, as lightly's ``cosine_schedule(epoch, N, start, end)`` in the GeoRank reference code
            (MoCo: N = the run's epochs; BYOL and DINO: N = 10).
    """

    method: str = "mocov2"
    method_args: dict[str, Any] = field(default_factory=dict)
    backbone: str = "resnet18"
    backbone_args: dict[str, Any] = field(default_factory=dict)
    image_size: int = 120
    lr: float = 1e-3
    momentum: list[float] = field(default_factory=lambda: [0.996, 1.0])
    momentum_epochs: int = 0


@dataclass
class SSLOptimizerConfig(OptimizerConfig):
    """The optimiser (:class:`bigearth.tasks.config.OptimizerConfig`) with the settings the SSL recipes need.

    Attributes:
        momentum: momentum of the SGD-family optimisers and LARS (timm's default 0.9). timm's ``sgd`` is Nesterov
            SGD; plain ``torch.optim.SGD`` is timm's ``momentum`` (with ``momentum: 0.0``: no momentum).
        exclude_bias_and_norm: no weight decay on biases and norms (timm's default); false decays every parameter,
            as the reference code's LARS (``lightly.utils.lars.LARS(self.parameters(), ...)``), which timm's ``lars``
            then computes.
    """

    momentum: float = 0.9
    exclude_bias_and_norm: bool = True


@dataclass
class MultiCropConfig:
    """DINO's multi-crop (Caron et al. 2021): local views besides the two global views of the ``augment`` pipeline.

    The local views run the ``augment`` pipeline with its ``resized_crop`` at ``local_size`` and ``local_scale``
    (the reference code's ``DINOTransform``: the same augmentations, another crop).

    Attributes:
        local_views: number of local views (0: none; 4 in the GeoRank reference code).
        local_size: side of the local views in pixels (60).
        local_scale: range of their area as a fraction of the image's (0.08 to 0.25).
    """

    local_views: int = 0
    local_size: int = 60
    local_scale: list[float] = field(default_factory=lambda: [0.08, 0.25])

    def local_pipeline(self, augment: list[Any]) -> list[Any]:
        """Return the ``augment`` pipeline with its ``resized_crop`` at the local size and scale.

        Raises:
            ConfigError: if the pipeline has no ``resized_crop`` step.
        """
        crops = [i for i, step in enumerate(augment) if isinstance(step, dict) and step.get("name") == "resized_crop"]
        if not crops:
            raise ConfigError("multicrop.local_views needs a resized_crop step in `augment` (the global crop)")
        local = [dict(step) if isinstance(step, dict) else step for step in augment]
        local[crops[0]].update(size=self.local_size, scale=list(self.local_scale))
        return local


@dataclass
class GeoRankConfig:
    """GeoRank (:class:`bigearth.ssl.georank_loss.GeoRankLoss`); the published values by default.

    Attributes:
        enabled: add the regulariser: loss = (1 - alpha) L_ssl + alpha L_georank.
        alpha: mixing weight (0.5).
        tau: temperature of the similarities (0.04).
        strength: soft-rank regularisation strength (1e-3).
        max_distance_km: pairs farther apart are ignored (3000).
        margin: rank errors up to this many rank steps are ignored (1).
        ties: target ranks of equal distances: ``ordinal`` (the reference code) or ``mean`` (bigearth's option).
    """

    enabled: bool = False
    alpha: float = 0.5
    tau: float = 0.04
    strength: float = 1e-3
    max_distance_km: float = 3000.0
    margin: float = 1.0
    ties: str = "ordinal"

    def loss_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~bigearth.ssl.georank_loss.GeoRankLoss` (all but enabled and alpha)."""
        return {key: value for key, value in asdict(self).items() if key not in ("enabled", "alpha")}


@dataclass
class LocationClusterConfig:
    """The geography-aware SSL baseline (Ayush et al. 2021): classify each patch's location cluster.

    Attributes:
        enabled: loss = (1 - alpha) L_ssl + alpha x the cross-entropy of the cluster logits of view 0's projection
            (the GeoRank reference code's ``ayush_geo_aware``: ``Linear(128, k)`` on MoCo's 128-d projection; for
            the other methods ``Linear(projection width, k)``, bigearth's extension).
        clusters: k of the k-means on the training split's coordinates (10).
        alpha: mixing weight (0.5, as GeoRank's in the reference code).
        seed: seed of the k-means initialisation.
    """

    enabled: bool = False
    clusters: int = 10
    alpha: float = 0.5
    seed: int = 0


@dataclass
class TemporalConfig:
    """Temporal positives (SeCo-style; the temporal baseline of the GeoRank paper): view 1 is another date.

    View 0 is the patch, view 1 another acquisition of the same place (MGRS tile, x, y), drawn uniformly among
    the other dates of that location in the training split (:class:`bigearth.data.locations.TemporalPairs`).

    Attributes:
        enabled: draw the second view from another date (off: both views are augmentations of one patch).
        augment: run the ``augment`` pipeline on both acquisitions (the usual augmentations on top); false: the
            two acquisitions are the views as they are.
        single_date: patches of places imaged once: ``skip`` (pretrain on the others only: every pair is two
            dates) or ``same`` (pair them with themselves: augmentation-only views for those).
    """

    enabled: bool = False
    augment: bool = True
    single_date: str = "skip"


@dataclass
class SSLDataConfig(DataConfig):
    """The data module's arguments (:class:`bigearth.tasks.config.DataConfig`) for pretraining.

    Attributes:
        bands: the ten 10 m and 20 m S2 bands by default (preset 10); ``s1s2`` or 12 for S1+S2.
        augment: must stay false: the views come from the ``augment`` section.
        train_size: pretrain on part of the training split: a fraction in (0, 1] (a YAML float, ``0.25``) or a
            number of patches (a YAML integer, ``100``); none: all of it. The probes still use whole splits.
        subset_seed: seed of the draw of that part (nested: a smaller part is a prefix of a larger one).
    """

    bands: Union[str, int, list[str]] = 10  # noqa: UP007
    batch_size: int = 512
    augment: bool = False
    train_size: Union[int, float, None] = None  # noqa: UP007 (an integer stays a count)
    subset_seed: int = 0


@dataclass
class SSLEvaluationConfig:
    """Probes of the pretrained encoder, run after pretraining on the same data.

    Attributes:
        knn: the kNN probe (:mod:`bigearth.tasks.ssl.knn`).
        linear_probe: the linear probe (:func:`bigearth.tasks.mae.probe.linear_probe`).
        k: neighbours of the kNN probe (200).
        knn_temperature: temperature of the kNN vote weights (0.07, Wu et al. 2018).
        probe_steps: optimisation steps of the linear probe.
        batch_size: patches per forward pass when extracting features.
    """

    knn: bool = True
    linear_probe: bool = True
    k: int = 200
    knn_temperature: float = 0.07
    probe_steps: int = 300
    batch_size: int = 64


@dataclass
class SSLConfig(Recipe):
    """A whole pretraining recipe; ``name`` (the file name) names the run folder."""

    name: str = "ssl"
    task: str = TASK
    model: SSLModelConfig = field(default_factory=SSLModelConfig)
    data: SSLDataConfig = field(default_factory=SSLDataConfig)
    augment: list[Any] = field(default_factory=lambda: [dict(step) for step in DEFAULT_PIPELINE])
    multicrop: MultiCropConfig = field(default_factory=MultiCropConfig)
    georank: GeoRankConfig = field(default_factory=GeoRankConfig)
    location_clusters: LocationClusterConfig = field(default_factory=LocationClusterConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    optimizer: SSLOptimizerConfig = field(default_factory=SSLOptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    evaluation: SSLEvaluationConfig = field(default_factory=SSLEvaluationConfig)
    slimmable: SlimmableConfig = field(default_factory=SlimmableConfig)

    @property
    def regulariser(self) -> str:
        """``plain``, ``georank`` or ``location_clusters`` (at most one is on)."""
        if self.georank.enabled:
            return "georank"
        return "location_clusters" if self.location_clusters.enabled else "plain"


def _check(config: SSLConfig) -> None:
    """Refuse values that would fail later, naming the key to change."""
    model = config.model
    if model.method not in METHODS:
        raise ConfigError(f"model.method {model.method!r} is unknown; use one of {sorted(METHODS)}")
    unknown = [key for key in model.method_args if key not in method_arguments(model.method)]
    if unknown:
        raise ConfigError(f"model.method_args {unknown} are not arguments of {model.method!r}; it takes "
                          f"{method_arguments(model.method)}")  # fmt: skip
    if len(model.momentum) != 2 or not all(0 <= value <= 1 for value in model.momentum):
        raise ConfigError(f"model.momentum must be [start, end] within [0, 1], got {model.momentum}")
    if model.momentum_epochs < 0:
        raise ConfigError(f"model.momentum_epochs must be 0 (per step over the run) or a number of epochs, got "
                          f"{model.momentum_epochs}")  # fmt: skip
    if config.multicrop.local_views:
        if model.method != "dino":
            raise ConfigError(f"multicrop.local_views is DINO's multi-crop; {model.method!r} takes two views: set it "
                              "to 0")  # fmt: skip
        build_augmentations(config.multicrop.local_pipeline(config.augment))
    if config.data.augment:
        raise ConfigError("data.augment must be false for pretraining: the views come from the `augment` section")
    if config.temporal.single_date not in SINGLE_DATE_POLICIES:
        raise ConfigError(f"temporal.single_date {config.temporal.single_date!r} is unknown; use one of "
                          f"{SINGLE_DATE_POLICIES}")  # fmt: skip
    size = config.data.train_size
    if size is not None and (isinstance(size, bool) or not (0 < size <= 1 if isinstance(size, float) else size >= 1)):
        raise ConfigError(f"data.train_size must be a fraction in (0, 1] (e.g. 0.25) or a number of patches >= 1 "
                          f"(e.g. 100), got {size!r}")  # fmt: skip
    georank = config.georank
    for name, alpha in (("georank", georank.alpha), ("location_clusters", config.location_clusters.alpha)):
        if not 0 <= alpha <= 1:
            raise ConfigError(f"{name}.alpha mixes (1 - alpha) L_ssl + alpha L_{name} and must lie in [0, 1], got "
                              f"{alpha}")  # fmt: skip
    if georank.enabled and config.data.batch_size < 2:
        raise ConfigError(f"GeoRank ranks the other patches of a batch: data.batch_size must be at least 2, got "
                          f"{config.data.batch_size}")  # fmt: skip
    if georank.enabled and config.location_clusters.enabled:
        raise ConfigError("georank and location_clusters are alternative geographic terms, each alpha-mixed with the "
                          "SSL loss as in the reference code; enable one of them")  # fmt: skip
    try:
        GeoRankLoss(**georank.loss_arguments())
    except ValueError as error:
        raise ConfigError(f"georank: {error}") from error
    if config.location_clusters.clusters < 1:
        raise ConfigError(f"location_clusters.clusters must be at least 1, got {config.location_clusters.clusters}")
    build_augmentations(config.augment)
    crops = [step.get("size", 120) for step in config.augment if isinstance(step, dict) and step.get("name") ==
             "resized_crop"] or [120]  # fmt: skip
    if resolve_backbone(model.backbone).fixed_size and crops[-1] != model.image_size:
        raise ConfigError(f"{model.backbone} takes {model.image_size} px inputs but the views are {crops[-1]} px; set "
                          "the resized_crop size to model.image_size")  # fmt: skip


def _migrate_location_weight(raw: dict[str, Any]) -> dict[str, Any]:
    """Read ``location_clusters.weight`` of recipes and run folders written before the alpha mixing.

    The old term was ``L_ssl + weight x CE``, which is ``(1 + weight)`` times the alpha-mixed loss with
    ``alpha = weight / (1 + weight)``: the same direction of the gradient at another scale.
    """
    section = raw.get("location_clusters")
    if not isinstance(section, dict) or "weight" not in section:
        return raw
    if "alpha" in section:
        raise ConfigError("location_clusters has both `weight` (before alpha mixing) and `alpha`: keep `alpha`")
    section = dict(section)
    weight = section.pop("weight")
    if not isinstance(weight, int | float) or weight < 0:
        raise ConfigError(f"location_clusters.weight must be a number >= 0, got {weight!r}")
    section["alpha"] = weight / (1 + weight)
    warnings.warn(
        f"location_clusters.weight is deprecated: read as alpha = {section['alpha']:.4g} (the loss is now "
        "(1 - alpha) L_ssl + alpha CE, the same gradient direction at 1 / (1 + weight) of the old scale)",
        DeprecationWarning,
        stacklevel=3,
    )
    return {**raw, "location_clusters": section}


def parse_ssl_config(raw: dict[str, Any], *, name: str = "ssl") -> SSLConfig:
    """Build an :class:`SSLConfig` from plain data (a parsed YAML file).

    Raises:
        ConfigError: for unknown sections or keys, wrong types, another task, or inconsistent values.
    """
    augment = None
    if isinstance(raw, dict):  # anything else is refused by parse_recipe
        raw = _migrate_location_weight(raw)
        augment = raw.get("augment", [dict(step) for step in DEFAULT_PIPELINE])
        if not isinstance(augment, list):
            raise ConfigError(f"augment must be a list of augmentation names or mappings, got {augment!r}")
    config = parse_recipe(raw, SSLConfig, kind="SSL pretraining recipe", name=name, task=TASK, augment=augment)
    _check(config)
    return config


#: Read a YAML SSL pretraining recipe and apply dotted overrides.
load_ssl_config = recipe_loader(parse_ssl_config, "configs/ssl/")
