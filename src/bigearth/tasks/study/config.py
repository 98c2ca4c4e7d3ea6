"""Study files: a grid of SSL pretraining runs over the axes of the GeoRank paper's investigation.

::

    task: ssl-study
    name: mini-study
    study:
      recipe: configs/ssl/tiny-cpu.yaml   # the SSL recipe every run starts from ({method} is replaced per run)
      overrides: [trainer.max_epochs=5]   # dotted overrides of every run
      design: axes                        # axes: the baseline, then each axis varied alone; grid: every combination
      seeds: [0, 1, 2]                    # every configuration runs once per seed
      probes: [knn, linear]
    axes:                                 # the first value of each axis is the baseline; absent: the recipe's
      method: [mocov2]                    # simclr, mocov2, byol, simsiam, dino
      regulariser: [plain]                # plain, georank, location_clusters
      augment: [recipe, full, full-blur]  # recipe, default, full, none, or SET-NAME: SET without augmentation NAME
      cardinality: [1.0, 0.5, 0.25]       # fractions (floats) or counts (integers) of the training split
      image_size: [48, 32]                # side of the pretraining views in pixels
      temporal: [false, true]             # the second view from another date of the same place
    data: {path: null}                    # --data sets it

Every combination becomes one pretraining recipe (:class:`bigearth.tasks.ssl.config.SSLConfig`), checked with the
data before any run starts (:func:`plan_study`).
"""

import json
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from bigearth.data.index import build_index
from bigearth.data.locations import LocationIndex
from bigearth.errors import ConfigError
from bigearth.recipes import resolve_recipe
from bigearth.ssl.augment import AUGMENTATIONS, DEFAULT_PIPELINE
from bigearth.suggest import did_you_mean
from bigearth.tasks.config import Recipe, parse_recipe, read_recipe, recipe_loader
from bigearth.tasks.ssl.config import parse_ssl_config
from bigearth.tasks.ssl.data import subset_size
from bigearth.tasks.ssl.evaluate import PROTOCOLS

#: The ``task`` of a study file.
TASK = "ssl-study"
#: The regularisers a study compares: the recipe sections each switches on.
REGULARISERS = {"plain": (), "georank": ("georank",), "location_clusters": ("location_clusters",)}
#: Every augmentation of the paper's study, in pipeline order, each with bigearth's default arguments; the crop
#: takes the run's image size (DESIGN 2.6: resized crop, flips, rot90, blur, noise, brightness/contrast,
#: solarise, grayscale, cut-out, channel dropout).
FULL_PIPELINE = (
    {"name": "resized_crop", "scale": [0.2, 1.0]}, {"name": "flip", "p": 0.75}, {"name": "rot90", "p": 0.75},
    {"name": "blur"}, {"name": "noise"}, {"name": "brightness_contrast"}, {"name": "solarize"}, {"name": "grayscale"},
    {"name": "cutout"}, {"name": "channel_dropout"},
)  # fmt: skip
#: Named augmentation sets; ``SET-NAME`` is ``SET`` without augmentation ``NAME`` (the paper's ablation).
AUGMENT_SETS = ("recipe", "default", "full", "none")
#: The designs: ``axes`` (the baseline and each axis varied alone) or ``grid`` (every combination).
DESIGNS = ("axes", "grid")
#: The axes, in the order they name runs.
AXES = ("method", "regulariser", "augment", "cardinality", "image_size", "temporal")


@dataclass
class StudySection:
    """How the study runs.

    Attributes:
        recipe: the SSL recipe every run starts from (a file or packaged name); ``{method}`` in it is replaced by
            the run's method (``configs/ssl/{method}.yaml``: each method with its own published recipe).
        overrides: dotted ``key=value`` overrides of every run (``trainer.max_epochs=5``).
        design: ``axes`` (the baseline, then each axis varied alone, as the paper's ablations) or ``grid``.
        seeds: every configuration runs once per seed (``seed_everything`` and the training subset's draw).
        probes: ``knn`` and/or ``linear``, run on the whole splits after each pretraining.
        random_baseline: also probe a randomly initialised encoder of the runs' architecture, once per seed.
        workers: runs at once in spawned processes (0: one after another in this process).
        scheduler: a Dask scheduler address, or ``local`` for a local Dask cluster of ``workers`` processes.
    """

    recipe: str = "configs/ssl/tiny-cpu.yaml"
    overrides: list[str] = field(default_factory=list)
    design: str = "axes"
    seeds: list[int] = field(default_factory=lambda: [0])
    probes: list[str] = field(default_factory=lambda: list(PROTOCOLS))
    random_baseline: bool = True
    workers: int = 0
    scheduler: str | None = None


@dataclass
class StudyAxes:
    """The values of each axis; the first is the baseline, an empty list keeps the recipe's value.

    Attributes:
        method: SSL methods (:data:`bigearth.ssl.methods.METHODS`).
        regulariser: ``plain``, ``georank``, ``location_clusters``.
        augment: augmentation sets: ``recipe`` (the recipe's pipeline), ``default`` (crop + flip + rot90),
            ``full`` (:data:`FULL_PIPELINE`), ``none``, or ``SET-NAME`` (``SET`` without ``NAME``).
        cardinality: training patches: fractions in (0, 1] (YAML floats) or counts (YAML integers).
        image_size: side of the pretraining views in pixels (the resized crop's output; probes see 120 px).
        temporal: temporal views off (augmentation-only) or on (the second view from another date).
    """

    method: list[str] = field(default_factory=list)
    regulariser: list[str] = field(default_factory=list)
    augment: list[str] = field(default_factory=list)
    cardinality: list[float | int] = field(default_factory=list)
    image_size: list[int] = field(default_factory=list)
    temporal: list[bool] = field(default_factory=list)


@dataclass
class StudyData:
    """The data every run pretrains and is probed on.

    Attributes:
        path: store folder or release root (``--data`` sets it).
    """

    path: str | None = None


@dataclass
class StudyConfig(Recipe):
    """A whole study file; ``name`` (the file name) names the study folder."""

    name: str = "study"
    task: str = TASK
    study: StudySection = field(default_factory=StudySection)
    axes: StudyAxes = field(default_factory=StudyAxes)
    data: StudyData = field(default_factory=StudyData)


@dataclass(frozen=True)
class StudyRun:
    """One pretraining run of a study.

    Attributes:
        name: the run folder's name (axis values and seed).
        values: axis -> value (None: the recipe's).
        seed: the run's seed.
        raw: the run's SSL recipe as plain data (what :func:`bigearth.tasks.ssl.config.parse_ssl_config` reads).
    """

    name: str
    values: dict[str, Any]
    seed: int
    raw: dict[str, Any]


def parse_study(raw: dict[str, Any], *, name: str = "study") -> StudyConfig:
    """Build a :class:`StudyConfig` from plain data and check its values (without the data).

    Raises:
        ConfigError: for unknown sections, axes (keys of ``axes``) or values, naming them.
    """
    config = parse_recipe(raw, StudyConfig, kind="SSL study", name=name, task=TASK)
    section = config.study
    if section.design not in DESIGNS:
        raise ConfigError(f"study.design {section.design!r} is unknown; use one of {DESIGNS}")
    if not section.seeds or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in section.seeds):
        raise ConfigError(f"study.seeds must be a non-empty list of integers, got {section.seeds!r}")
    unknown = [probe for probe in section.probes if probe not in PROTOCOLS]
    if unknown:
        raise ConfigError(f"study.probes {unknown} are unknown; use {list(PROTOCOLS)}")
    if section.workers < 0:
        raise ConfigError(f"study.workers must be 0 (one run after another) or a number of processes, got "
                          f"{section.workers}")  # fmt: skip
    axes = config.axes
    bad = [value for value in axes.regulariser if value not in REGULARISERS]
    if bad:
        raise ConfigError(f"axes.regulariser values {bad} are unknown{did_you_mean(str(bad[0]), REGULARISERS)}; use "
                          f"{list(REGULARISERS)}")  # fmt: skip
    if not all(isinstance(value, bool) for value in axes.temporal):
        raise ConfigError(f"axes.temporal must list true and/or false, got {axes.temporal!r}")
    for value in axes.augment:
        augment_pipeline(value, [])
    bad_sizes = [size for size in axes.image_size if isinstance(size, bool) or not isinstance(size, int) or size < 1]
    if bad_sizes:
        raise ConfigError(f"axes.image_size values {bad_sizes} must be positive numbers of pixels")
    return config


def augment_pipeline(value: str, recipe: list[Any]) -> list[Any]:
    """Return the pipeline an ``augment`` axis value names (crop sizes as given; the run sets them).

    Raises:
        ConfigError: for an unknown set or augmentation name.
    """
    base, _, removed = str(value).partition("-")
    sets = {"recipe": list(recipe), "default": [dict(step) for step in DEFAULT_PIPELINE],
            "full": [dict(step) for step in FULL_PIPELINE], "none": []}  # fmt: skip
    if base not in sets:
        raise ConfigError(f"axes.augment value {value!r}: unknown set {base!r}{did_you_mean(base, sets)}; use "
                          f"{list(AUGMENT_SETS)} or SET-NAME (SET without the augmentation NAME)")  # fmt: skip
    if removed and removed not in AUGMENTATIONS:
        raise ConfigError(f"axes.augment value {value!r}: {removed!r} is no augmentation"
                          f"{did_you_mean(removed, AUGMENTATIONS)}; they are {sorted(AUGMENTATIONS)}")  # fmt: skip
    return [step for step in sets[base] if _step_name(step) != removed]


def _step_name(step: Any) -> str:
    return step if isinstance(step, str) else step.get("name", "")


def _with_size(pipeline: list[Any], size: int) -> list[Any]:
    """Set the crop of a pipeline to ``size`` px; a pipeline without a crop gets a plain resize (a crop of p = 0)."""
    steps = [{"name": step} if isinstance(step, str) else dict(step) for step in pipeline]
    crops = [step for step in steps if step["name"] == "resized_crop"]
    if not crops and size != 120:
        steps.insert(0, {"name": "resized_crop", "size": size, "p": 0.0})
    for step in crops:
        step["size"] = size
    return steps


def crop_size(pipeline: list[Any]) -> int:
    """Return the size of a pipeline's views: its last resized crop's, else the patches' 120 px."""
    sizes = [step.get("size", 120) for step in pipeline if isinstance(step, dict) and step.get("name") ==
             "resized_crop"]  # fmt: skip
    return sizes[-1] if sizes else 120


def _combinations(axes: StudyAxes, design: str) -> list[dict[str, Any]]:
    """Return the axis values of every configuration: the baseline first (None: the recipe's value)."""
    values = {axis: list(getattr(axes, axis)) or [None] for axis in AXES}
    if design == "grid":
        return [dict(zip(AXES, combination, strict=True)) for combination in product(*values.values())]
    baseline = {axis: options[0] for axis, options in values.items()}
    varied = [{**baseline, axis: option} for axis in AXES for option in values[axis][1:]]
    return [baseline, *varied]


def run_name(values: dict[str, Any], seed: int) -> str:
    """Name a run by its axis values and seed (``mocov2-plain-full-n0.5-px48-temporal-s0``)."""
    parts = [str(values[axis]) for axis in ("method", "regulariser", "augment") if values[axis] is not None]
    if values["cardinality"] is not None:
        parts.append(f"n{values['cardinality']}")
    if values["image_size"] is not None:
        parts.append(f"px{values['image_size']}")
    if values["temporal"] is not None:
        parts.append("temporal" if values["temporal"] else "augonly")
    return "-".join([*parts, f"s{seed}"])


def _run_recipe(study: StudyConfig, values: dict[str, Any], seed: int) -> dict[str, Any]:
    """Return the SSL recipe (plain data) of one run: the base recipe with the run's values set."""
    method = values["method"]
    recipe = study.study.recipe.replace("{method}", method) if method is not None else study.study.recipe
    if "{method}" in recipe:
        raise ConfigError(f"study.recipe {study.study.recipe!r} names {{method}} but axes.method is empty: list the "
                          "methods")  # fmt: skip
    trainer = [f"trainer.{key}={json.dumps(value)}" for key, value in study.trainer.items()]
    raw = read_recipe(resolve_recipe(recipe), [*study.study.overrides, *trainer], folder="configs/ssl/")
    model, data = dict(raw.get("model") or {}), dict(raw.get("data") or {})
    if method is not None and "{method}" not in study.study.recipe:
        model["method"] = method
    if values["regulariser"] is not None:
        for section in ("georank", "location_clusters"):
            raw[section] = {**(raw.get(section) or {}), "enabled": section in REGULARISERS[values["regulariser"]]}
    recipe_augment = raw.get("augment", [dict(step) for step in DEFAULT_PIPELINE])
    pipeline = augment_pipeline(values["augment"], recipe_augment) if values["augment"] is not None else recipe_augment
    size = values["image_size"] if values["image_size"] is not None else crop_size(recipe_augment)
    raw["augment"] = _with_size(pipeline, size)
    if values["image_size"] is not None:
        model["image_size"] = size
    if values["cardinality"] is not None:
        data["train_size"] = values["cardinality"]
    if values["temporal"] is not None:
        raw["temporal"] = {**(raw.get("temporal") or {}), "enabled": values["temporal"]}
    data.update(path=study.data.path, subset_seed=seed)
    probes = study.study.probes
    raw["evaluation"] = {**(raw.get("evaluation") or {}), "knn": "knn" in probes, "linear_probe": "linear" in probes}
    return {**raw, "model": model, "data": data, "seed_everything": seed, "name": run_name(values, seed)}


def plan_study(study: StudyConfig) -> list[StudyRun]:
    """Expand a study into its runs and check every one of them, and the data, before any run starts.

    Raises:
        ConfigError: if no data path is set, a run's recipe is invalid (naming the run), a cardinality exceeds the
            training split, or temporal views are asked of data with one date per location.
        MissingDataError: if the data path is neither a store nor a release root.
    """
    if not study.data.path:
        raise ConfigError("no data: pass --data PATH (a store or a release root) or set data.path in the study file")
    runs = []
    for values in _combinations(study.axes, study.study.design):
        for seed in study.study.seeds:
            raw = _run_recipe(study, values, seed)
            try:
                parse_ssl_config(raw, name=raw["name"])
            except ConfigError as error:
                raise ConfigError(f"study run {raw['name']}: {error}") from error
            runs.append(StudyRun(raw["name"], values, seed, raw))
    _check_data(study, runs)
    return runs


def _check_data(study: StudyConfig, runs: list[StudyRun]) -> None:
    """Refuse cardinalities beyond the training split and temporal views of data imaged once per place."""
    first = parse_ssl_config(runs[0].raw, name=runs[0].name)
    train = build_index(Path(str(study.data.path)), split="train", include_snow_cloud=first.data.include_snow_cloud)
    for value in dict.fromkeys(run.values["cardinality"] for run in runs if run.values["cardinality"] is not None):
        subset_size(value, len(train.patch_id), where="axes.cardinality value")
    temporal = [run for run in runs if (run.raw.get("temporal") or {}).get("enabled")]
    if temporal:
        locations = LocationIndex.from_patch_ids(train.patch_id)
        if not len(locations.multi_date_rows()):
            raise ConfigError(
                f"temporal views are asked (run {temporal[0].name}) but every place in the training split of "
                f"{study.data.path} was imaged on one date ({len(locations.names)} locations, "
                f"{int(np.max(locations.counts, initial=0))} date at most); use data with repeated acquisitions or "
                "drop `true` from axes.temporal"
            )


#: Read a YAML study file and apply dotted overrides (``data.path=...``, ``study.seeds=[0,1]``).
load_study = recipe_loader(parse_study, "configs/study/")
