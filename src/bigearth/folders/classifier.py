"""Scene classifier model folders: ``config.json`` + ``model.safetensors``, like Hugging Face models.

``model.safetensors`` holds the timm backbone's state dict (no prefix); ``config.json`` holds the timm
architecture and keyword arguments, the band names and order, the class order and names, the image size, the
normalisation statistics and the data the model was trained on, plus what timm's ``local-dir:`` / ``hf-hub:``
loader reads (``num_classes``, ``label_names``, ``pretrained_cfg``). Without bigearth::

    net = timm.create_model("local-dir:model", pretrained=True)
    # or
    config = json.load(open("model/config.json"))
    net = timm.create_model(config["architecture"], **config["model_args"])
    net.load_state_dict(safetensors.torch.load_file("model/model.safetensors"))

Both files are written by :func:`bigearth.folders.format.write_folder` (atomic, ``config.json`` last), so a folder
with a ``config.json`` is complete.
"""

from pathlib import Path
from typing import Any

import torch

from bigearth.errors import ConfigError, CorruptDataError
from bigearth.folders.format import (
    CLASSIFICATION_TASK,
    CONFIG_FILE,
    read_model_config,
    read_safetensors,
    resolve_model_folder,
    weights_file,
    write_folder,
)
from bigearth.folders.slimmed import restore_slimming
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata


def save_model(model: SceneClassifier, folder: Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write a model folder (weights first, ``config.json`` last; both atomic).

    Args:
        model: the classifier.
        folder: the model folder (created if needed).
        extra: further JSON entries for ``config.json`` (e.g. the decision threshold).
    """
    write_folder(folder, model.backbone, CLASSIFICATION_TASK, {
        "architecture": model.architecture, "model_args": model.model_args, **timm_config(model),
        **model.metadata.to_dict(), **(extra or {}),
    })  # fmt: skip


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
    weights = weights_file(folder)
    model = SceneClassifier(
        ModelMetadata.from_dict(config), architecture=config["architecture"], model_args=config["model_args"]
    )
    restore_slimming(model, config)  # a slimmed folder's weights fit the cut network
    try:
        model.backbone.load_state_dict(read_safetensors(weights))
    except RuntimeError as error:
        raise CorruptDataError(f"{weights} does not fit {folder / CONFIG_FILE} ({error})") from error
    return model.to(device).eval()
