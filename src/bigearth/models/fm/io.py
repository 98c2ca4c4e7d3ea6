"""Model folders of cross-sensor foundation models: ``config.json`` + ``model.safetensors``.

They load without Lightning.

``config.json`` holds the bigearth model format header, ``task: cross-sensor-mae``, ``model_type`` (``csmae`` or
``csmoe``), ``variant``, the architecture under ``network`` (sizes, Soft MoE layers, bands per sensor), and the
metadata every bigearth model carries (band order, normalisation statistics, class order of downstream tasks,
training data). Without bigearth's loaders::

    config = json.load(open("model/config.json"))
    net = CrossSensorMAE(config=CrossSensorConfig.from_dict(config["network"]))
    net.load_state_dict(safetensors.torch.load_file("model/model.safetensors"))
"""

from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.models.fm.config import CrossSensorConfig
from bigearth.models.fm.csmae import CrossSensorMAE
from bigearth.models.io import CONFIG_FILE, MODEL_FORMAT, MODEL_FORMAT_VERSION, read_model_config, resolve_model_folder
from bigearth.models.metadata import ModelMetadata
from bigearth.models.weights import MODEL_WEIGHTS_FILE, read_safetensors
from bigearth.runinfo import write_environment

#: The ``task`` entry of a cross-sensor foundation model's ``config.json``.
FOUNDATION_TASK = "cross-sensor-mae"


def save_foundation_model(model: CrossSensorMAE, folder: Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write a model folder (weights first, ``config.json`` last; both atomic).

    Args:
        model: the network; its ``metadata`` (bands, statistics, class order) is recorded when set.
        folder: the model folder (created if needed).
        extra: further JSON entries.
    """
    folder = Path(folder)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    atomic_write_bytes(folder / MODEL_WEIGHTS_FILE, safetensors.torch.save(tensors))
    write_environment(folder)  # env.json: what the folder was made with
    metadata = model.metadata or ModelMetadata.create(model.config.model_type, list(model.config.bands))
    config = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "task": FOUNDATION_TASK,
        "bigearth_version": __version__,
        "model_type": model.config.model_type,
        "variant": model.config.variant,
        "network": model.config.to_dict(),
        **metadata.to_dict(),
        **(extra or {}),
    }
    atomic_write_json(folder / CONFIG_FILE, config)


def is_foundation_model(path: Path) -> bool:
    """Whether ``path`` (a model or run folder) holds a cross-sensor foundation model."""
    try:
        return read_model_config(path).get("task") == FOUNDATION_TASK
    except (MissingDataError, CorruptDataError):
        return False


def load_foundation_model(
    path: Path, *, variant: str | None = None, model_type: str | None = None, device: str | torch.device = "cpu"
) -> CrossSensorMAE:
    """Load a foundation model folder (or a run folder's ``model/``) in evaluation mode.

    Args:
        path: model folder or run folder.
        variant: refuse a model of another variant (``cecd``, ``cesd``, ``secd``, ``sesd``) when given.
        model_type: refuse a model of another type (``csmae`` or ``csmoe``) when given.
        device: where to put the weights.

    Raises:
        MissingDataError: if the folder or its weights are missing.
        ConfigError: if the folder holds another kind of model, variant or type than asked for.
        CorruptDataError: if the weights do not fit the recorded architecture.
    """
    folder = resolve_model_folder(path)
    config = read_model_config(folder)
    if config.get("task") != FOUNDATION_TASK:
        raise ConfigError(
            f"{folder} holds a {config.get('task')!r} model, not a cross-sensor foundation model "
            f"({FOUNDATION_TASK!r}); pass the model folder that `bigearth pretrain configs/fm/...` wrote"
        )
    for key, wanted in (("variant", variant), ("model_type", model_type)):
        if wanted is not None and config.get(key) != wanted:
            raise ConfigError(
                f"{folder} holds a {config.get('model_type')}-{config.get('variant')} model but a {key} of {wanted!r} "
                f"was asked for; use a checkpoint of that {key} or set it to {config.get(key)!r}"
            )
    weights = folder / MODEL_WEIGHTS_FILE
    if not weights.is_file():
        raise MissingDataError(f"{weights} is missing; the model folder {folder} is incomplete")
    model = CrossSensorMAE(config=CrossSensorConfig.from_dict(config["network"]),
                           metadata=ModelMetadata.from_dict(config))  # fmt: skip
    from bigearth.slim.network import restore_slimming  # a slimmed folder's weights fit the cut network

    restore_slimming(model, config)
    try:
        model.load_state_dict(read_safetensors(weights))
    except RuntimeError as error:
        raise CorruptDataError(f"{weights} does not fit {folder / CONFIG_FILE} ({str(error)[:400]})") from error
    return model.to(device).eval()


def load_checkpoint_weights(model: CrossSensorMAE, path: Path) -> None:
    """Load the weights of a foundation model folder into ``model``, refusing one of another architecture.

    Raises:
        ConfigError: if the folder's variant, type or sizes differ from ``model``'s (named in the message).
        MissingDataError: if the folder is missing.
    """
    source = load_foundation_model(path)
    theirs, ours = source.config.to_dict(), model.config.to_dict()
    differences = {key: (theirs[key], ours[key]) for key in ours if key != "size" and theirs.get(key) != ours[key]}
    if differences:
        listed = "; ".join(f"{key}: {a!r} (checkpoint) vs {b!r} (config)" for key, (a, b) in differences.items())
        raise ConfigError(f"the checkpoint {path} is of another architecture ({listed}); use a matching config")
    model.load_state_dict(source.state_dict())
