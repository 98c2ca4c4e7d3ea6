"""Initialising a backbone from a local weights file (never a download).

The file may be a timm/torch checkpoint (``.pth``, ``.pt``, ``.bin``), a ``.safetensors`` file, or a bigearth
model folder (its ``model.safetensors``). RGB weights are adapted to the number of bands with timm's
``adapt_input_conv``; a classifier with another number of classes is left freshly initialised. A bigearth model
folder records its bands: weights of other bands (or of the same bands in another order) are refused.
"""

import json
from pathlib import Path

import safetensors
import safetensors.torch
import timm
import torch
from timm.models import adapt_input_conv
from torch import nn

from bigearth.errors import ConfigError, CorruptDataError, MissingDataError

MODEL_WEIGHTS_FILE = "model.safetensors"


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Return the tensors of a ``.safetensors`` weights file.

    Raises:
        CorruptDataError: naming the file, if it is truncated or no safetensors file.
    """
    try:
        return safetensors.torch.load_file(path)
    except (safetensors.SafetensorError, OSError) as error:
        raise CorruptDataError(
            f"{path} cannot be read as safetensors weights ({error}): the file is truncated or of another kind; "
            "copy the model folder again or re-export the model"
        ) from error


def _names(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """Return a timm ``pretrained_cfg`` module-name entry as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def load_backbone_weights(backbone: nn.Module, path: Path, *, bands: tuple[str, ...] | None = None) -> list[str]:
    """Load local weights into a timm backbone.

    Args:
        backbone: a timm model (it has ``pretrained_cfg`` naming its first convolution and classifier).
        path: weights file, or a bigearth model folder.
        bands: the bands the backbone reads, in channel order; a model folder recording other bands is refused.

    Returns:
        The names of the tensors left at their initial values (a classifier of another size), possibly empty.

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if the weights belong to another architecture (missing, unexpected or misshapen tensors).
    """
    path = Path(path)
    if path.is_dir():
        _check_folder_bands(path, bands)
        path = path / MODEL_WEIGHTS_FILE
    if not path.is_file():
        raise MissingDataError(
            f"weights file {path} does not exist; model.weights must be a local .safetensors/.pth file or a "
            "bigearth model folder (weights are never downloaded)"
        )
    state = timm.models.load_state_dict(str(path))
    own = backbone.state_dict()
    config = getattr(backbone, "pretrained_cfg", {}) or {}
    for conv in _names(config.get("first_conv")):
        key = f"{conv}.weight"
        if key in state and key in own and state[key].shape[1] != own[key].shape[1]:
            state[key] = adapt_input_conv(own[key].shape[1], state[key], base_chans=state[key].shape[1])
    skipped = []
    for head in _names(config.get("classifier")):
        for key in (f"{head}.weight", f"{head}.bias"):
            if key in state and key in own and state[key].shape != own[key].shape:
                del state[key]
                skipped.append(key)
    misshapen = [f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}" for key in state if key in own and
                 state[key].shape != own[key].shape]  # fmt: skip
    if misshapen:
        raise ConfigError(f"weights {path} do not fit the backbone: {misshapen[:5]}; are they of another architecture?")
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    missing = [key for key in missing if key not in skipped]
    if missing or unexpected:
        raise ConfigError(
            f"weights {path} do not fit the backbone: missing {missing[:5]}, unexpected {unexpected[:5]}; "
            "model.weights must hold weights of the configured model.backbone"
        )
    return skipped


def _check_folder_bands(folder: Path, bands: tuple[str, ...] | None) -> None:
    """Refuse a bigearth model folder whose ``config.json`` records other bands than ``bands``.

    Raises:
        ConfigError: naming both band lists.
    """
    config_file = folder / "config.json"
    if bands is None or not config_file.is_file():
        return
    recorded = json.loads(config_file.read_text()).get("bands")
    if recorded is not None and tuple(recorded) != tuple(bands):
        raise ConfigError(
            f"the weights in {folder} were trained on bands {recorded} but the model reads {list(bands)}; "
            f"load the data with the weights' bands (data.bands) in their order"
        )
