"""The published BIFOLD reBEN classifiers (ConfigILM / reben-training-scripts Hugging Face folders) as bigearth models.

A published folder (``BIFOLD-BigEarthNetv2-0/<architecture>-<modality>-v0.<minor>.<patch>`` on the hub) is what
``huggingface_hub.PyTorchModelHubMixin`` writes for reben-training-scripts' ``BigEarthNetv2_0_ImageClassifier``:

* ``config.json`` = the classifier's constructor arguments, ``{"config": {ILMConfiguration fields: timm_model_name,
  channels, classes, image_size, ...}, "lr": ..., "warmup": ...}``;
* ``model.safetensors`` = the Lightning module's state dict: the timm network that ConfigILM builds with
  ``timm.create_model(timm_model_name, in_chans=channels, num_classes=classes, img_size=image_size)`` (keywords
  the architecture does not take are dropped) under the prefix ``model.vision_encoder.``.

The outputs are the 19 classes in alphabetical order (ConfigILM's ``NEW_LABELS``), the inputs are normalised with
reBEN's published train-split statistics after nearest upsampling (ConfigILM's BENv2 defaults). The band ORDER is
not in the folder: only the channel count is, and the hub releases v0.1.x and v0.2.x stack 2, 10 and 12 channels
in different orders (their model cards; DESIGN 2.4). :func:`hub_band_order` takes the release from the folder
name's ``-v0.1.x`` / ``-v0.2.x`` suffix or from the user and refuses to guess.

:func:`import_hub_model` converts such a folder once into a bigearth model folder that records the band order, so
that every command that takes a model folder (and timm) reads it without further options.
"""

import json
import re
from pathlib import Path
from typing import Any

import safetensors.torch
import timm

from bigearth.bands import BAND_PRESETS, REBEN_STATS, resolve_bands
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.classifier import save_model
from bigearth.folders.format import MODEL_WEIGHTS_FILE, is_hub_folder
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata

#: Prefix of the timm network's tensors in a published folder's ``model.safetensors``.
HUB_WEIGHTS_PREFIX = "model.vision_encoder."
#: The reBEN class count of the published classifiers.
HUB_CLASSES = 19
#: Band orders of the published releases by channel count (their model cards). v0.2.x uses ConfigILM's presets;
#: v0.1.x put B08 after B04 and B8A last among the S2 bands, and VH before VV, after the S2 bands.
_V01_S2 = ("B02", "B03", "B04", "B08", "B05", "B06", "B07", "B11", "B12", "B8A")
HUB_BAND_ORDERS: dict[str, dict[int, tuple[str, ...]]] = {
    "v0.1": {2: ("VH", "VV"), 10: _V01_S2, 12: (*_V01_S2, "VH", "VV")},
    "v0.2": {channels: BAND_PRESETS[channels] for channels in (2, 10, 12)},
}
_RELEASE_SUFFIX = re.compile(r"-(v0\.[12])(?:\.\d+)*$")


def release_of(folder: Path) -> str | None:
    """Return ``"v0.1"`` or ``"v0.2"`` from a hub folder name ending in ``-v0.1.x`` / ``-v0.2.x``, else None."""
    match = _RELEASE_SUFFIX.search(Path(folder).resolve().name)
    return match.group(1) if match else None


def hub_band_order(folder: Path, channels: int, band_order: str | None = None) -> tuple[tuple[str, ...], str]:
    """Return the band order of a published folder and where it came from.

    Args:
        folder: the hub folder (its name may carry the release suffix).
        channels: the folder's channel count (``config.channels``).
        band_order: ``"v0.1"``, ``"v0.2"`` or comma-separated band names; None: from the folder name.

    Returns:
        ``(bands, source)``, ``source`` naming the release or ``"user"``.

    Raises:
        ConfigError: if neither the name nor ``band_order`` states the release, if the release has no order for
            ``channels`` channels, or if the named bands are not ``channels`` many.
    """
    release = band_order if band_order in HUB_BAND_ORDERS else None
    if band_order is not None and release is None:
        bands = resolve_bands(band_order)
        if len(bands) != channels:
            raise ConfigError(
                f"--band-order names {len(bands)} bands {list(bands)} but {folder} reads {channels} channels; "
                f"name {channels} bands in the order the model was trained with"
            )
        return bands, "user"
    release = release or release_of(folder)
    if release is None:
        raise ConfigError(
            f"{folder} does not say its band order (it stores only the channel count, {channels}) and its name "
            "has no -v0.1.x / -v0.2.x release suffix; the releases stack the bands differently, so convert it "
            "with `bigearth import FOLDER --out MODEL --band-order v0.1|v0.2` (see the model card) or with the "
            "band names in order, e.g. --band-order B02,B03,..."
        )
    orders = HUB_BAND_ORDERS[release]
    if channels not in orders:
        raise ConfigError(
            f"{folder} reads {channels} channels, but the published {release} models have {sorted(orders)} "
            "channels; pass --band-order with the band names in order (comma-separated)"
        )
    return orders[channels], release


def _hub_config(folder: Path) -> dict[str, Any]:
    """Return the ILMConfiguration entries of a published folder's ``config.json``.

    Raises:
        MissingDataError: if the folder has no ``config.json``.
        CorruptDataError: if it is not a published classifier configuration.
    """
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise MissingDataError(f"{folder} has no config.json; pass a downloaded Hugging Face model folder")
    if not is_hub_folder(folder):
        raise CorruptDataError(
            f"{config_file} is no ConfigILM/reben-training-scripts configuration (no config.timm_model_name); "
            "pass a published BIFOLD-BigEarthNetv2-0 model folder"
        )
    return json.loads(config_file.read_text())["config"]


def read_hub_model(folder: Path, *, band_order: str | None = None) -> SceneClassifier:
    """Build a bigearth classifier with the weights of a published folder (evaluation mode).

    Args:
        folder: the downloaded hub folder (``config.json`` + ``model.safetensors``).
        band_order: ``"v0.1"``, ``"v0.2"`` or band names; None: from the folder name's release suffix.

    Returns:
        A :class:`SceneClassifier` whose metadata records the bands in the release's order, the alphabetical class
        order, the image size and reBEN's published (nearest) statistics, and ``trained_on`` the hub folder.

    Raises:
        MissingDataError: if the weights file is missing.
        CorruptDataError: if the folder is no published classifier or its weights do not fit its configuration.
        ConfigError: for an unknown architecture, a class count other than 19 or an unknown band order.
    """
    folder = Path(folder)
    config = _hub_config(folder)
    architecture, channels = str(config["timm_model_name"]), int(config.get("channels", 3))
    if not timm.is_model(architecture):
        raise ConfigError(
            f"{folder} uses the architecture {architecture!r}, which this timm ({timm.__version__}) does not know; "
            "install a timm version that has it"
        )
    if int(config.get("classes", 0)) != HUB_CLASSES:
        raise ConfigError(
            f"{folder} has {config.get('classes')} outputs, not the {HUB_CLASSES} reBEN classes; only the published "
            "reBEN classifiers can be imported"
        )
    bands, release = hub_band_order(folder, channels, band_order)
    weights = folder / MODEL_WEIGHTS_FILE
    if not weights.is_file():
        raise MissingDataError(f"{weights} is missing; download the whole model folder")
    metadata = ModelMetadata.create(
        architecture,
        bands,
        class_order="alphabetical",
        image_size=int(config.get("image_size", 120)),
        stats=REBEN_STATS,
        trained_on={"source": "BIFOLD reBEN hub model", "folder": str(folder.resolve()), "band_order": release},
    )
    model = SceneClassifier(metadata)
    state = {
        key.removeprefix(HUB_WEIGHTS_PREFIX): value
        for key, value in safetensors.torch.load_file(weights).items()
        if key.startswith(HUB_WEIGHTS_PREFIX)
    }
    try:
        model.backbone.load_state_dict(state)
    except RuntimeError as error:
        raise CorruptDataError(
            f"the weights in {weights} do not fit a {architecture} with {channels} channels and {HUB_CLASSES} "
            f"classes as {folder / 'config.json'} says ({str(error)[:300]}); download the folder again"
        ) from error
    return model.eval()


def import_hub_model(folder: Path, out: Path, *, band_order: str | None = None) -> SceneClassifier:
    """Convert a published folder once into a bigearth model folder that records its band order.

    Args:
        folder: the downloaded hub folder.
        out: the bigearth model folder to write.
        band_order: ``"v0.1"``, ``"v0.2"`` or band names; None: from the folder name's release suffix.

    Returns:
        The imported classifier (what ``load_model(out)`` returns).

    Raises:
        The errors of :func:`read_hub_model`.
    """
    model = read_hub_model(folder, band_order=band_order)
    save_model(model, out, extra={"imported_from": model.metadata.trained_on})
    return model
