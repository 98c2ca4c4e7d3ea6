"""Model folders: ``config.json`` + ``model.safetensors``, like Hugging Face models, and their checks.

``model.safetensors`` holds the timm backbone's state dict (no prefix); ``config.json`` holds the timm
architecture and keyword arguments, the band names and order, the class order and names, the image size, the
normalisation statistics and the data the model was trained on, plus what timm's ``local-dir:`` / ``hf-hub:``
loader reads (``num_classes``, ``label_names``, ``pretrained_cfg``). Without bigearth::

    net = timm.create_model("local-dir:model", pretrained=True)
    # or
    config = json.load(open("model/config.json"))
    net = timm.create_model(config["architecture"], **config["model_args"])
    net.load_state_dict(safetensors.torch.load_file("model/model.safetensors"))

Both files are written atomically, the weights first and ``config.json`` last, so a folder with a
``config.json`` is complete.
"""

import json
import math
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.data.bands import BandStats
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.models.classifier import SceneClassifier
from bigearth.models.hub import is_hub_folder
from bigearth.models.metadata import ModelMetadata
from bigearth.models.weights import MODEL_WEIGHTS_FILE, read_safetensors
from bigearth.runinfo import write_environment

CONFIG_FILE = "config.json"
MODEL_FORMAT = "bigearth-model"
MODEL_FORMAT_VERSION = 1
#: A run folder keeps its model folder under this name.
RUN_MODEL_DIR = "model"
#: The ``task`` entry of a scene classifier's ``config.json``.
CLASSIFICATION_TASK = "multilabel-classification"


def save_model(model: SceneClassifier, folder: Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write a model folder (weights first, ``config.json`` last; both atomic).

    Args:
        model: the classifier.
        folder: the model folder (created if needed).
        extra: further JSON entries for ``config.json`` (e.g. the decision threshold).
    """
    folder = Path(folder)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.backbone.state_dict().items()}
    atomic_write_bytes(folder / MODEL_WEIGHTS_FILE, safetensors.torch.save(tensors))
    write_environment(folder)  # env.json: what the folder was made with
    config = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "task": CLASSIFICATION_TASK,
        "bigearth_version": __version__,
        "architecture": model.architecture,
        "model_args": model.model_args,
        **timm_config(model),
        **model.metadata.to_dict(),
        **(extra or {}),
    }
    atomic_write_json(folder / CONFIG_FILE, config)


def timm_config(model: SceneClassifier) -> dict[str, Any]:
    """Return the ``config.json`` entries that timm's ``local-dir:`` and ``hf-hub:`` loaders read.

    ``pretrained_cfg`` follows timm's ``PretrainedCfg``: ``input_size`` ``(bands, size, size)``, ``mean`` / ``std``
    per band in native units (reflectance x 10^4, dB: the inputs are NOT 0..1 images, unlike timm's ImageNet
    models), the first convolution and the classifier (from the backbone's own configuration), the class names.
    """
    metadata = model.metadata
    own = model.backbone.pretrained_cfg
    return {
        "num_classes": metadata.num_classes,
        "label_names": list(metadata.class_names),
        "pretrained_cfg": {
            "input_size": [metadata.in_chans, metadata.image_size, metadata.image_size],
            "fixed_input_size": bool(own.get("fixed_input_size", False)),
            "interpolation": "bilinear" if metadata.resample == "bilinear" else "nearest",
            "crop_pct": 1.0,
            "mean": list(metadata.mean),
            "std": list(metadata.std),
            "num_classes": metadata.num_classes,
            "label_names": list(metadata.class_names),
            "first_conv": own.get("first_conv"),
            "classifier": own.get("classifier"),
            "description": f"reBEN multi-label classifier on bands {','.join(metadata.bands)} (bigearth)",
        },
    }


def resolve_model_folder(path: Path) -> Path:
    """Return the model folder of a model folder or of a run folder (its ``model/``).

    Raises:
        MissingDataError: if neither ``path/config.json`` nor ``path/model/config.json`` exists.
    """
    path = Path(path)
    for folder in (path, path / RUN_MODEL_DIR):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise MissingDataError(
        f"{path} is no model folder (no {CONFIG_FILE}) and no finished run folder (no {RUN_MODEL_DIR}/{CONFIG_FILE}); "
        "pass the folder that `bigearth train` wrote (an unfinished run: resume it with `bigearth train RUN`)"
    )


def read_model_config(path: Path) -> dict[str, Any]:
    """Read and check the ``config.json`` of a model or run folder.

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if the file is no bigearth model configuration.
    """
    folder = resolve_model_folder(path)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except json.JSONDecodeError as error:
        raise CorruptDataError(f"{folder / CONFIG_FILE} is not valid JSON ({error}); re-export the model") from error
    if config.get("format") != MODEL_FORMAT or config.get("format_version") != MODEL_FORMAT_VERSION:
        if is_hub_folder(folder):
            raise CorruptDataError(
                f"{folder} is a published BIFOLD/ConfigILM reBEN classifier, not a bigearth model folder; convert it "
                f"once with `bigearth import {folder} --out MODEL` (add --band-order v0.1|v0.2 if its name has no "
                "-v0.1.x / -v0.2.x suffix) and pass MODEL"
            )
        raise CorruptDataError(
            f"{folder / CONFIG_FILE} is no {MODEL_FORMAT} v{MODEL_FORMAT_VERSION} configuration "
            f"(format {config.get('format')!r}, version {config.get('format_version')!r})"
        )
    return config


def load_model(path: Path, *, device: str | torch.device = "cpu") -> SceneClassifier:
    """Load a model folder (or a run folder's ``model/``) in evaluation mode.

    Args:
        path: model folder or run folder.
        device: where to put the weights.

    Raises:
        MissingDataError: if the folder or its weights are missing.
        CorruptDataError: if the files do not belong together.
    """
    folder = resolve_model_folder(path)
    config = read_model_config(folder)
    if config.get("task") != CLASSIFICATION_TASK:
        raise ConfigError(
            f"{folder} holds a {config.get('task')!r} model, not a scene classifier; use the command of that task "
            "(e.g. `bigearth probe` or `bigearth retrieve` for a foundation model, `bigearth ask` for VQA)"
        )
    weights = folder / MODEL_WEIGHTS_FILE
    if not weights.is_file():
        raise MissingDataError(f"{weights} is missing; the model folder {folder} is incomplete")
    model = SceneClassifier(
        ModelMetadata.from_dict(config), architecture=config["architecture"], model_args=config["model_args"]
    )
    from bigearth.slim.network import restore_slimming  # a slimmed folder's weights fit the cut network

    restore_slimming(model, config)
    try:
        model.backbone.load_state_dict(read_safetensors(weights))
    except RuntimeError as error:
        raise CorruptDataError(f"{weights} does not fit {folder / CONFIG_FILE} ({error})") from error
    return model.to(device).eval()


def _differences(expected: tuple[str, ...], found: tuple[str, ...]) -> str:
    """Describe how two name sequences differ (missing, extra, or the same names in another order)."""
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if not missing and not extra:
        return "the same names in another order"
    return f"missing {missing}, extra {extra}"


def check_compatible(
    metadata: ModelMetadata,
    *,
    bands: tuple[str, ...],
    class_names: tuple[str, ...],
    stats: dict[str, BandStats] | None = None,
    source: str = "the data",
) -> None:
    """Refuse data whose band order, class order or normalisation differs from the model's.

    Nothing is reordered silently: the user loads the data the way the model expects.

    Args:
        metadata: the model's metadata.
        bands: band names of the data's images, in channel order.
        class_names: class names of the data's labels, in label order.
        stats: normalisation statistics the data applies (checked when given).
        source: how to name the data in messages.

    Raises:
        ConfigError: naming what differs and how to load the data instead.
    """
    if tuple(bands) != metadata.bands:
        raise ConfigError(
            f"the model reads bands {list(metadata.bands)} but {source} yields {list(bands)} "
            f"({_differences(metadata.bands, tuple(bands))}); load the data with bands={list(metadata.bands)} "
            "in this order (bigearth evaluate/predict do so from the model folder)"
        )
    if tuple(class_names) != metadata.class_names:
        raise ConfigError(
            f"the model's outputs are the classes in {metadata.class_order!r} order but {source} labels them in "
            f"another order ({_differences(metadata.class_names, tuple(class_names))}); load the data with "
            f"class_order={metadata.class_order!r}"
        )
    if stats is not None and metadata.mean:
        for band, mean, std in zip(metadata.bands, metadata.mean, metadata.std, strict=True):
            same = math.isclose(stats[band].mean, mean, rel_tol=1e-6) and math.isclose(
                stats[band].std, std, rel_tol=1e-6
            )
            if not same:
                raise ConfigError(
                    f"{source} normalises band {band} with mean {stats[band].mean} / std {stats[band].std}, the model "
                    f"was trained with {mean} / {std}; use the model's statistics (config.json mean/std)"
                )
