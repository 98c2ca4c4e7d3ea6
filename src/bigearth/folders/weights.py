"""Initialising a backbone from a local weights file (never a download).

The file may be a timm/torch checkpoint (``.pth``, ``.pt``, ``.bin``), a ``.safetensors`` file, a bigearth
model folder (its ``model.safetensors``) or a published BIFOLD reBEN hub folder (:mod:`bigearth.folders.hub`; its
band order from the folder name's release suffix). RGB weights are adapted to the number of bands with timm's
``adapt_input_conv``; a classifier with another number of classes is left freshly initialised. A bigearth model
folder records its bands: weights of other bands (or of the same bands in another order) are refused.
"""

import json
from pathlib import Path

import timm
from timm.models import adapt_input_conv
from torch import Tensor, nn

from bigearth.errors import ConfigError, MissingDataError
from bigearth.folders.format import MODEL_WEIGHTS_FILE
from bigearth.folders.hub import is_hub_folder, read_hub_model


def _names(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """Return a timm ``pretrained_cfg`` module-name entry as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def load_backbone_weights(backbone: nn.Module, path: Path, *, bands: tuple[str, ...] | None = None) -> list[str]:
    """Load local weights into a timm backbone.

    Args:
        backbone: a timm model (it has ``pretrained_cfg`` naming its first convolution and classifier).
        path: weights file, a bigearth model folder or a published reBEN hub folder.
        bands: the bands the backbone reads, in channel order; a model folder recording other bands is refused.

    Returns:
        The names of the tensors left at their initial values (a classifier of another size), possibly empty.

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if the weights belong to another architecture (missing, unexpected or misshapen tensors).
    """
    path = Path(path)
    state = _read_state(path, bands)
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


def _read_state(path: Path, bands: tuple[str, ...] | None) -> dict[str, Tensor]:
    """Return the backbone state dict of a weights file, a bigearth model folder or a published hub folder.

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if a folder records other bands than ``bands`` (a hub folder: by its release suffix).
    """
    if path.is_dir() and is_hub_folder(path):
        hub_model = read_hub_model(path)
        _check_bands(path, list(hub_model.metadata.bands), bands)
        return hub_model.backbone.state_dict()
    if path.is_dir():
        config_file = path / "config.json"
        if config_file.is_file():
            _check_bands(path, json.loads(config_file.read_text()).get("bands"), bands)
        path = path / MODEL_WEIGHTS_FILE
    if not path.is_file():
        raise MissingDataError(
            f"weights file {path} does not exist; model.weights must be a local .safetensors/.pth file, a "
            "bigearth model folder or a published reBEN hub folder (weights are never downloaded)"
        )
    return timm.models.load_state_dict(str(path))


def _check_bands(folder: Path, recorded: list[str] | None, bands: tuple[str, ...] | None) -> None:
    """Refuse weights from ``folder`` trained on other bands (``recorded``) than ``bands``.

    Raises:
        ConfigError: naming both band lists.
    """
    if bands is not None and recorded is not None and tuple(recorded) != tuple(bands):
        raise ConfigError(
            f"the weights in {folder} were trained on bands {recorded} but the model reads {list(bands)}; "
            f"load the data with the weights' bands (data.bands) in their order"
        )
