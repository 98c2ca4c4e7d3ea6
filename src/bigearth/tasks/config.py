"""Training recipes: YAML files with ``trainer``, ``model``, ``data``, ``optimizer`` and ``scheduler`` sections.

The layout follows LightningCLI configs (as TorchGeo and TerraTorch use them) without class paths::

    task: classification            # which LightningModule trains (chosen by the config)
    seed_everything: 42             # seeds torch, numpy, python and the DataLoader workers
    trainer: {...}                  # keyword arguments of lightning.Trainer (max_epochs, precision, devices...)
    model: {...}                    # ModelConfig: backbone, image size, regularisation, learning rate, weights
    data: {...}                     # DataConfig: the ReBENDataModule's arguments (path, bands, batch size...)
    optimizer: {...}                # OptimizerConfig: timm optimizer name and weight decay
    scheduler: {...}                # SchedulerConfig: linear warm-up, then cosine decay
    early_stopping: {...}           # EarlyStoppingConfig: patience on validation macro AP

Command-line overrides are dotted ``key=value`` pairs whose values are parsed as YAML
(``model.lr=5e-4 trainer.max_epochs=3 data.bands=[B04,B03,B02]``). Unknown sections and keys are refused with
the list of allowed ones.
"""

import inspect
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import lightning as L  # noqa: N812
import timm.optim
import torch
import yaml

from bigearth.bands import IMAGE_SIZE
from bigearth.errors import ConfigError, existing_file
from bigearth.suggest import did_you_mean
from bigearth.tasks.extensions import check_entries

#: Trainer arguments that bigearth sets itself (the run folder decides where logs and checkpoints go), with the
#: reason given to a recipe that sets them. ``logger`` and ``callbacks`` add to bigearth's own
#: (:mod:`bigearth.tasks.extensions`).
MANAGED_TRAINER_KEYS: dict[str, str] = {
    "default_root_dir": "the run folder (--out) is the root of logs and checkpoints",
    "enable_checkpointing": "bigearth keeps last.ckpt and the best checkpoint of every run (to resume and to test)",
    "plugins": "bigearth's atomic checkpoint writer is the run's only plugin; precision and devices have their own "
    "trainer keys",
}
#: The tasks ``bigearth train`` can run.
TASKS = ("classification",)
#: Field name -> (smallest allowed value, whether the smallest value itself is allowed), for every section of every
#: task's recipe (a negative batch size, learning rate, warm-up or patience is refused wherever it appears).
LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "batch_size": (0, False),
    "lr": (0, False),
    "image_size": (0, False),
    "num_workers": (0, True),
    "warmup_steps": (0, True),
    "warmup_epochs": (0, True),
    "patience": (0, True),
    "min_delta": (0, True),
    "weight_decay": (0, True),
    "drop_rate": (0, True),
    "drop_path_rate": (0, True),
    "final_lr_fraction": (0, True),
}
#: ``trainer.precision`` values that Lightning accepts.
PRECISIONS = ("16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true", "16", "32", "64", "bf16",
              16, 32, 64, "transformer-engine", "transformer-engine-float16")  # fmt: skip
#: ``trainer.accelerator`` values that Lightning accepts.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


@dataclass
class ModelConfig:
    """The network and its optimisation hyper-parameters.

    Attributes:
        backbone: bigearth backbone name (``bigearth.models.list_backbones()``) or any timm architecture name.
        backbone_args: extra timm keyword arguments (e.g. ``channels`` of a ResNet).
        image_size: input size in pixels (passed to networks built for one size: ViT, MLP-Mixer).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth rate (0 for networks without it).
        lr: peak learning rate (after warm-up).
        weights: local weights to start from (timm/torch file, ``.safetensors`` or a bigearth model folder);
            None for random initialisation. Never downloaded.
        channels_last: use the channels-last memory format (faster convolutions on GPUs).
        compile: compile the model with ``torch.compile``.
    """

    backbone: str = "resnet50"
    backbone_args: dict[str, Any] = field(default_factory=dict)
    image_size: int = IMAGE_SIZE
    drop_rate: float = 0.15
    drop_path_rate: float = 0.15
    lr: float = 1e-3
    weights: str | None = None
    channels_last: bool = False
    compile: bool = False


@dataclass
class DataConfig:
    """Arguments of :class:`bigearth.data.datamodule.ReBENDataModule`.

    Attributes:
        path: store folder or release root (``--data`` overrides it).
        bands: band preset (2, 3, 4, 10, 12, 14), ``"s1"``, ``"s2"``, ``"s1s2"`` or a list of band names.
        class_order: ``"table"`` or ``"alphabetical"`` (the published reBEN weights use alphabetical).
        batch_size: samples per batch and process (the global batch is this times the number of processes).
        num_workers: DataLoader worker processes per training process.
        resample: ``"nearest"`` or ``"bilinear"`` for the 20 m and 60 m bands.
        include_snow_cloud: keep patches with seasonal snow or clouds.
        augment: random flips and 90-degree rotations of training batches.
        device_transform: resample, normalise and augment whole batches on the model's device.
        loader: ``"auto"``, ``"threads"`` or ``"processes"`` (see :class:`bigearth.data.datamodule.ReBENDataModule`).
    """

    path: str | None = None
    bands: str | int | list[str] = "s1s2"
    class_order: str = "table"
    batch_size: int = 512
    num_workers: int = 8
    resample: str = "nearest"
    include_snow_cloud: bool = False
    augment: bool = True
    device_transform: bool = True
    loader: str = "auto"


@dataclass
class OptimizerConfig:
    """The optimiser, built by ``timm.optim.create_optimizer_v2`` (no weight decay on biases and norms).

    Attributes:
        name: timm optimiser name (``adamw``, ``lamb``, ``sgd``...).
        weight_decay: decoupled weight decay.
    """

    name: str = "adamw"
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        """Refuse an optimiser that timm does not know (``lookahead_`` prefixes are allowed, as timm reads them).

        Raises:
            ConfigError: naming the optimiser.
        """
        if self.name.lower().split("_")[-1] not in timm.optim.list_optimizers():
            raise ConfigError(
                f"optimizer.name = {self.name!r} is no timm optimiser; use e.g. adamw, sgd, lamb or lars "
                "(timm.optim.list_optimizers() lists them all)"
            )


@dataclass
class SchedulerConfig:
    """Learning-rate schedule per optimisation step: linear warm-up from 0, then cosine to a fraction of the peak.

    Attributes:
        warmup_steps: steps of linear warm-up.
        final_lr_fraction: the learning rate at the last step, as a fraction of the peak (0.1 = lr/10).
    """

    warmup_steps: int = 1000
    final_lr_fraction: float = 0.1


@dataclass
class EarlyStoppingConfig:
    """Early stopping on the validation macro average precision.

    Attributes:
        patience: validation epochs without improvement before training stops.
        min_delta: smallest change that counts as an improvement.
    """

    patience: int = 5
    min_delta: float = 0.0


@dataclass
class Recipe:
    """What every task's recipe has: ``name`` (the file name without suffix) names the run folder.

    Attributes:
        name: the run's name.
        task: what ``bigearth train`` / ``pretrain`` runs.
        seed_everything: the seed of Lightning's ``seed_everything``.
        trainer: ``lightning.Trainer`` keyword arguments.
    """

    name: str = "run"
    task: str = "classification"
    seed_everything: int = 42
    trainer: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as plain data (what ``config.yaml`` of a run folder holds)."""
        return asdict(self)


RecipeT = TypeVar("RecipeT", bound=Recipe)


@dataclass
class TrainConfig(Recipe):
    """A whole classification recipe."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field annotation; numbers may be written as YAML strings (``5e-4``).

    Raises:
        ConfigError: if the value has the wrong type.
    """
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r} is none of {[getattr(o, '__name__', str(o)) for o in options]}")
    kind = origin or annotation
    if kind is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    is_int = kind is int and isinstance(value, int) and not isinstance(value, bool)
    if is_int or (kind in (bool, str, list, dict) and isinstance(value, kind)):
        return value
    name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"{where} must be a {name}, got {value!r}")


def parse_section(kind: type, values: dict[str, Any] | None, name: str) -> Any:
    """Build a typed section (a dataclass) from a mapping, refusing unknown keys and wrong types.

    Raises:
        ConfigError: naming the unknown keys and the allowed ones, or the value of the wrong type.
    """
    values = values or {}
    if not isinstance(values, dict):
        raise ConfigError(f"section {name!r} must be a mapping of keys to values, got {values!r}")
    allowed = [item.name for item in fields(kind)]
    unknown = [key for key in values if key not in allowed]
    if unknown:
        hint = did_you_mean(unknown[0], allowed)
        raise ConfigError(f"unknown key(s) {unknown} in section {name!r}{hint}; allowed keys: {allowed}")
    hints = get_type_hints(kind)
    coerced = {key: coerce(value, hints[key], f"{name}.{key}") for key, value in values.items()}
    for key, value in coerced.items():
        check_bound(key, value, f"{name}.{key}")
    return kind(**coerced)


def check_bound(key: str, value: Any, where: str) -> None:
    """Refuse a number below the field's lower bound (:data:`LOWER_BOUNDS`).

    Raises:
        ConfigError: naming the key, its value and the allowed range.
    """
    if key not in LOWER_BOUNDS or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    bound, inclusive = LOWER_BOUNDS[key]
    if value < bound or (value == bound and not inclusive):
        relation = ">=" if inclusive else ">"
        raise ConfigError(f"{where} = {value!r} is out of range: it must be {relation} {bound}")


def check_trainer(values: dict[str, Any] | None) -> dict[str, Any]:
    """Return the trainer section, refusing keys that ``lightning.Trainer`` does not take or that bigearth manages.

    ``logger`` and ``callbacks`` are returned as lists of ``{class_path, init_args}`` entries
    (:func:`bigearth.tasks.extensions.check_entries`).

    Raises:
        ConfigError: naming the keys and the accepted ones.
    """
    values = dict(values or {})
    accepted = [name for name in inspect.signature(L.Trainer.__init__).parameters if name != "self"]
    managed = [key for key in values if key in MANAGED_TRAINER_KEYS]
    if managed:
        reasons = "; ".join(f"{key}: {MANAGED_TRAINER_KEYS[key]}" for key in managed)
        raise ConfigError(f"trainer key(s) {managed} are set by bigearth ({reasons}); remove them from the config")
    unknown = [key for key in values if key not in accepted]
    if unknown:
        allowed = [name for name in accepted if name not in MANAGED_TRAINER_KEYS]
        hint = did_you_mean(unknown[0], allowed)
        raise ConfigError(f"unknown trainer key(s) {unknown}{hint}" if hint else
                          f"unknown trainer key(s) {unknown}; lightning.Trainer accepts {allowed}")  # fmt: skip
    for key in ("logger", "callbacks"):
        if key in values:
            values[key] = check_entries(values[key], key)
    epochs = values.get("max_epochs", 1)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ConfigError(f"trainer.max_epochs = {epochs!r} must be a whole number of epochs, at least 1")
    if "precision" in values and values["precision"] not in PRECISIONS:
        raise ConfigError(f"trainer.precision = {values['precision']!r} is unknown; use one of {list(PRECISIONS)}")
    accelerator = values.get("accelerator", "auto")
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"trainer.accelerator = {accelerator!r} is unknown; use one of {list(ACCELERATORS)}")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator = {accelerator!r} but this machine has no CUDA GPU that torch can use; "
            "set trainer.accelerator=cpu (or auto)"
        )
    return values


#: Top-level keys of every recipe besides its sections.
RECIPE_KEYS = ("name", "task", "seed_everything", "trainer")


def recipe_header(raw: Any, *, sections: tuple[str, ...], kind: str, name: str, task: str | None) -> dict[str, Any]:
    """Check a parsed recipe's top level; return its ``name``, ``seed_everything``, ``trainer`` (and ``task``).

    Args:
        raw: the parsed YAML.
        sections: the recipe's other top-level keys.
        kind: how messages name the recipe (``"VQA recipe"``).
        name: the run name where the recipe sets none (the file name).
        task: the ``task`` the recipe must name or leave out (returned too); None: the caller checks it.

    Raises:
        ConfigError: for a recipe that is no mapping, unknown top-level keys or another task.
    """
    top_level = [*RECIPE_KEYS, *sections]
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping with sections {top_level}, got {type(raw).__name__}")
    unknown = [key for key in raw if key not in top_level]
    if unknown:
        raise ConfigError(
            f"unknown section(s) {unknown}{did_you_mean(unknown[0], top_level)}; a {kind} has {top_level}"
        )
    header = {
        "name": str(raw.get("name", name)),
        "seed_everything": coerce(raw.get("seed_everything", 42), int, "seed_everything"),
        "trainer": check_trainer(raw.get("trainer")),
    }
    if task is None:
        return header
    if raw.get("task", task) != task:
        raise ConfigError(f"task {raw.get('task')!r} is no {kind} (task: {task})")
    return {**header, "task": task}


def parse_config(raw: dict[str, Any], *, name: str = "run") -> TrainConfig:
    """Build a :class:`TrainConfig` from plain data (a parsed YAML file).

    Raises:
        ConfigError: for unknown sections or keys, wrong types or an unknown task.
    """
    task = raw.get("task", "classification") if isinstance(raw, dict) else "classification"
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; `bigearth train` runs {list(TASKS)}")
    return parse_recipe(raw, TrainConfig, kind="config", name=name, task=task)  # refuses a raw that is no mapping


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with dotted ``key=value`` overrides applied (values parsed as YAML).

    Raises:
        ConfigError: for an override without ``=`` or one whose path runs through a non-mapping value.
    """
    result = yaml.safe_load(yaml.safe_dump(raw)) if raw else {}
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key:
            raise ConfigError(f"override {override!r} is not key=value (e.g. model.lr=5e-4 trainer.max_epochs=3)")
        value = yaml.safe_load(text) if text else None
        *parents, leaf = key.strip().split(".")
        node = result
        for part in parents:
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {override!r}: {part!r} holds {child!r}, not a section")
            node = child
        node[leaf] = value
    return result


def read_recipe(path: Path, overrides: list[str] | tuple[str, ...] = (), *, folder: str) -> dict[str, Any]:
    """Read any task's YAML recipe and apply dotted ``key=value`` overrides.

    Args:
        path: the YAML file.
        overrides: dotted ``key=value`` pairs.
        folder: where the task's recipes live, named in the error for a missing file.

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if it is not valid YAML.
    """
    path = existing_file(path, f"does not exist (no recipe file there); recipes live in {folder}")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid YAML text: {error}") from error
    if raw is None:
        raise ConfigError(
            f"{path} is empty; a recipe names at least its model and data (copy one from {folder}), so that "
            "defaults never train a model nobody asked for"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} holds a YAML {type(raw).__name__}, not a mapping of sections; see {folder}")
    return apply_overrides(raw, list(overrides))


def recipe_sections(recipe: type[Recipe]) -> dict[str, type]:
    """Return a recipe class's sections: its fields whose type is a dataclass, by name, in field order."""
    hints = get_type_hints(recipe)
    return {item.name: hints[item.name] for item in fields(recipe) if is_dataclass(hints[item.name])}


def parse_recipe(
    raw: Any,
    recipe: type[RecipeT],
    *,
    kind: str,
    name: str,
    task: str | None,
    parsers: dict[str, Callable[[Any, str], Any]] | None = None,
    **values: Any,
) -> RecipeT:
    """Build any task's recipe from plain data (a parsed YAML file).

    Every section the data names is checked by :func:`parse_section` (or by ``parsers[section]``); a section it
    leaves out takes the recipe class's default. Then every section that has a ``validate()`` method (the checks
    that span its fields) is validated, in field order, defaults included.

    Args:
        raw: the parsed YAML.
        recipe: the recipe class.
        kind: how messages name the recipe (``"VQA recipe"``).
        name: the run name where the recipe sets none (the file name).
        task: the ``task`` the recipe must name or leave out; None: the caller checks it.
        parsers: section name -> ``parse(values, name)`` for sections with subsections.
        values: further top-level fields the caller has parsed (e.g. SSL's ``augment`` list).

    Raises:
        ConfigError: for unknown sections or keys, wrong types, another task or values a section's ``validate()``
            refuses.
    """
    sections = recipe_sections(recipe)
    header = recipe_header(raw, sections=(*values, *sections), kind=kind, name=name, task=task)
    parsers = parsers or {}
    parsed = {key: parsers.get(key, partial(parse_section, section))(raw[key], key)
              for key, section in sections.items() if key in raw}  # fmt: skip
    config = recipe(**header, **values, **parsed)
    for key in sections:
        validate = getattr(getattr(config, key), "validate", None)
        if callable(validate):
            validate()
    return config


def recipe_parser(recipe: type[RecipeT], kind: str) -> Callable[..., RecipeT]:
    """Return ``parse(raw, *, name=...)``: :func:`parse_recipe` of a recipe whose checks are its sections' own.

    The class's defaults of ``name`` and ``task`` are the run name where the recipe sets none and the task it must
    name; messages call it ``kind`` (``"CLIP recipe"``).
    """
    defaults = {item.name: item.default for item in fields(recipe) if item.name in ("name", "task")}

    def parse(raw: Any, *, name: str = defaults["name"]) -> RecipeT:
        return parse_recipe(raw, recipe, kind=kind, name=name, task=defaults["task"])

    parse.__doc__ = f"Build a :class:`{recipe.__name__}` from plain data, refusing what :func:`parse_recipe` refuses."
    return parse


def recipe_loader(parse: Callable[..., RecipeT], folder: str) -> Callable[..., RecipeT]:
    """Return ``load(path, overrides=())``: read a YAML recipe, apply dotted overrides, ``parse`` it.

    The file name without suffix names the run unless the recipe sets ``name``; a missing file
    (:class:`~bigearth.errors.MissingDataError`) names ``folder``, where the task's recipes live.
    """

    def load(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> RecipeT:
        return parse(read_recipe(path, overrides, folder=folder), name=Path(path).stem)

    load.__doc__ = f"Read a YAML recipe (see {folder}), apply dotted ``key=value`` overrides and check it."
    return load


#: Read a classification recipe (see ``configs/classification/``) and apply command-line overrides.
load_config = recipe_loader(parse_config, "configs/classification/")


def dump_config(config: Recipe) -> str:
    """Return a recipe as YAML text (sections in the documented order)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
