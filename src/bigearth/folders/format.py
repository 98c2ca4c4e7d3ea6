"""What every bigearth model folder shares: its files, its header, how it is found, read and written.

A model folder is ``config.json`` + ``model.safetensors`` (+ task files such as a VQA vocabulary). ``config.json``
starts with the header ``format: bigearth-model``, ``format_version``, ``task`` (one of :data:`FOLDER_TASKS`) and
``bigearth_version``; the rest is the task's. Files are written atomically, the weights first and ``config.json``
last, so a folder with a ``config.json`` is complete. A run folder keeps its model folder in ``model/``.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import CorruptDataError, MissingDataError, existing_file
from bigearth.models.metadata import ModelMetadata
from bigearth.runinfo import write_environment

CONFIG_FILE = "config.json"
MODEL_WEIGHTS_FILE = "model.safetensors"
MODEL_FORMAT = "bigearth-model"
MODEL_FORMAT_VERSION = 1
#: A run folder keeps its model folder under this name.
RUN_MODEL_DIR = "model"

#: The ``task`` entries of ``config.json``, one per folder kind.
CLASSIFICATION_TASK = "multilabel-classification"
FOUNDATION_TASK = "cross-sensor-mae"
SEGMENTATION_TASK = "semantic-segmentation"
VQA_TASK = "visual-question-answering"
#: A fine-tuned Hugging Face checkpoint (:mod:`bigearth.folders.vlm`; no bigearth ``config.json``, so
#: :func:`describe_folder` never sees it): its ``bigearth_vlm.json`` records this task.
VLM_HF_TASK = "image-text-to-text"
SMALL_VLM_TASK = "small-vision-language-model"
CLIP_TASK = "image-text-contrastive"
FOLDER_TASKS = (
    CLASSIFICATION_TASK,
    FOUNDATION_TASK,
    SEGMENTATION_TASK,
    VQA_TASK,
    VLM_HF_TASK,
    SMALL_VLM_TASK,
    CLIP_TASK,
)
#: ``config.json`` key of a slimmed model folder (:mod:`bigearth.folders.slimmed`).
SLIM_KEY = "slim"


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


def write_folder(folder: Path, network: nn.Module, task: str, entries: dict[str, Any]) -> None:
    """Write ``network``'s state dict, ``env.json``, then ``config.json`` with the header and ``entries``.

    Every file is written atomically; ``env.json`` records what the folder was made with (:mod:`bigearth.runinfo`).

    Args:
        folder: the model folder (created if needed).
        network: the module whose state dict the folder holds.
        task: the folder kind (one of :data:`FOLDER_TASKS`).
        entries: the task's ``config.json`` entries, after the header.
    """
    folder = Path(folder)
    tensors = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    atomic_write_bytes(folder / MODEL_WEIGHTS_FILE, safetensors.torch.save(tensors))
    write_environment(folder)  # env.json: what the folder was made with
    header = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "task": task,
              "bigearth_version": __version__}  # fmt: skip
    atomic_write_json(folder / CONFIG_FILE, {**header, **entries})


def is_hub_folder(folder: Path) -> bool:
    """Return whether ``folder`` holds a published ConfigILM classifier (``config.json`` with ``timm_model_name``)."""
    config_file = Path(folder) / CONFIG_FILE
    if not config_file.is_file():
        return False
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError:
        return False
    return isinstance(config, dict) and isinstance(config.get("config"), dict) and "timm_model_name" in config["config"]


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


@dataclass(frozen=True)
class FolderLayout:
    """A folder kind with a layout version of its own beside the header (VQA, CLIP, the built-in VLM).

    Attributes:
        task: the header's ``task`` (one of :data:`FOLDER_TASKS`).
        version_key: the ``config.json`` key of the layout version (``"vqa_format_version"``).
        version: the layout version this bigearth writes and reads.
        label: how messages name such a model, after an article (``"CLIP model"``).
        hint: what to pass instead, said when a folder of another kind is given.
        article: the article before ``label`` in that message (``"the"`` for the one built-in VLM).
    """

    task: str
    version_key: str
    version: int
    label: str
    hint: str
    article: str = "a"

    def read_config(self, path: Path) -> dict[str, Any]:
        """Read and check the ``config.json`` of a model folder of this kind (or of a run folder's ``model/``).

        Raises:
            MissingDataError: if there is no model folder at ``path``.
            CorruptDataError: if it is no bigearth model, a model of another task, or of another layout version.
        """
        config = read_model_config(path)
        folder = resolve_model_folder(path)
        if config.get("task") != self.task:
            raise CorruptDataError(
                f"{folder} holds a {config.get('task', 'classification')!r} model, not {self.article} {self.label}; "
                f"{self.hint}"
            )
        if config.get(self.version_key) != self.version:
            raise CorruptDataError(
                f"{folder} is a {self.label} of layout version {config.get(self.version_key)!r} (bigearth "
                f"{config.get('bigearth_version', '?')}); this bigearth ({__version__}) reads version "
                f"{self.version}: use the bigearth version that wrote it, or retrain"
            )
        return config


def weights_file(folder: Path) -> Path:
    """Return the weights file of a model folder.

    Raises:
        MissingDataError: if it is missing.
    """
    return existing_file(Path(folder) / MODEL_WEIGHTS_FILE, f"is missing; the model folder {folder} is incomplete")


@dataclass(frozen=True)
class FolderInfo:
    """What a model folder holds, read from its ``config.json`` alone (no weights are loaded).

    Attributes:
        path: the model folder (a run folder's ``model/``).
        task: its kind, one of :data:`FOLDER_TASKS`.
        metadata: bands in channel order, normalisation statistics, class order, image size, training data.
        slim: the recorded slimming cut (``width``, ``embed_width``, ``mode``, ``attention_scale``), or None.
        config: the whole ``config.json``.
    """

    path: Path
    task: str
    metadata: ModelMetadata
    slim: dict[str, Any] | None
    config: dict[str, Any]

    @property
    def kind(self) -> str:
        """The folder kind: classifier, ssl-encoder, foundation, segmenter, vqa, vlm-small or clip.

        An SSL encoder is a classifier folder whose head was never trained (its ``config.json`` has ``ssl``).
        """
        if self.task == CLASSIFICATION_TASK:
            return "ssl-encoder" if "ssl" in self.config else "classifier"
        kinds = {
            FOUNDATION_TASK: "foundation",
            SEGMENTATION_TASK: "segmenter",
            VQA_TASK: "vqa",
            SMALL_VLM_TASK: "vlm-small",
            CLIP_TASK: "clip",
        }
        return kinds[self.task]


def describe_folder(path: Path) -> FolderInfo:
    """Return what the model folder (or run folder) at ``path`` is.

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if its ``config.json`` is no bigearth model configuration or names an unknown task.
    """
    folder = resolve_model_folder(path)
    config = read_model_config(folder)
    task = config.get("task")
    if task not in FOLDER_TASKS:
        raise CorruptDataError(
            f"{folder / CONFIG_FILE} names task {task!r}; bigearth model folders are {list(FOLDER_TASKS)} (a newer "
            "bigearth may have written it)"
        )
    return FolderInfo(path=folder, task=task, metadata=ModelMetadata.from_dict(config), slim=config.get(SLIM_KEY),
                      config=config)  # fmt: skip
