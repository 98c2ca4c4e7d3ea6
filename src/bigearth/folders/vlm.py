"""Hugging Face image-text-to-text checkpoint folders: checked, loaded and written (fine-tuned) offline.

A checkpoint folder is what ``save_pretrained`` writes: ``config.json`` (a ``model_type`` that transformers'
``AutoModelForImageTextToText`` knows), the weights, the processor's files (tokenizer, image processor, chat
template). Nothing is downloaded: every load passes ``local_files_only``.

A folder that ``bigearth vlm finetune`` writes is such a checkpoint (LoRA merged into the weights, so any tool
reads it) plus :data:`FINETUNE_FILE`, which records how it was trained (base checkpoint, texts, box style, LoRA
settings); it is written into a temporary folder beside the target and moved into place when complete.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

from bigearth._optional import require
from bigearth.atomic import atomic_write_json
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.format import CONFIG_FILE, MODEL_FORMAT

#: What ``bigearth vlm finetune`` records in a fine-tuned checkpoint folder.
FINETUNE_FILE = "bigearth_vlm.json"
#: The folder kind of a Hugging Face checkpoint (besides the bigearth folder tasks).
HF_KIND = "hf"


def folder_config(path: Path) -> dict[str, Any]:
    """Return the ``config.json`` of a model folder (bigearth's or a Hugging Face checkpoint).

    Raises:
        MissingDataError: if the folder or its ``config.json`` is missing.
        CorruptDataError: if ``config.json`` is no JSON object.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingDataError(f"{path} is no folder; give a local image-text-to-text checkpoint (save_pretrained)")
    file = path / CONFIG_FILE
    if not file.is_file():
        raise MissingDataError(
            f"{path} has no {CONFIG_FILE}; give a folder that save_pretrained wrote (nothing is downloaded)"
        )
    try:
        config = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptDataError(f"{file} is not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise CorruptDataError(f"{file} holds no JSON object")
    return config


def folder_kind(path: Path) -> str:
    """Return ``"hf"`` for an image-text-to-text checkpoint, else the ``task`` of a bigearth model folder.

    Raises:
        MissingDataError, CorruptDataError: see :func:`folder_config` and :func:`check_hf_checkpoint`.
    """
    config = folder_config(path)
    if config.get("format") == MODEL_FORMAT:
        return str(config.get("task"))
    check_hf_checkpoint(path)
    return HF_KIND


def check_hf_checkpoint(path: Path) -> str:
    """Check that ``path`` holds a checkpoint that ``AutoModelForImageTextToText`` loads; return its model type.

    Raises:
        MissingDataError: if the folder or its ``config.json`` is missing.
        CorruptDataError: if it is no image-text-to-text checkpoint (names its model type and what to give).
    """
    config = folder_config(path)
    require("transformers", extra="vlm")
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = config.get("model_type")
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        what = f"a {model_type!r} checkpoint" if model_type else "no Hugging Face checkpoint (no model_type)"
        raise CorruptDataError(
            f"{path} is {what}, not an image-text-to-text one; give a vision-language checkpoint folder "
            "(e.g. LLaVA, Qwen2-VL, Idefics3/SmolVLM, PaliGemma) that AutoModelForImageTextToText loads"
        )
    return str(model_type)


def load_hf_checkpoint(path: Path, *, dtype: Any = None) -> tuple[Any, Any]:
    """Load an image-text-to-text checkpoint and its processor from a local folder (no download).

    Args:
        path: the checkpoint folder.
        dtype: torch dtype of the weights (None: float32).

    Returns:
        ``(model, processor)``.

    Raises:
        MissingDataError, CorruptDataError: see :func:`check_hf_checkpoint`; also for a folder without processor
            files or whose weights do not load.
    """
    check_hf_checkpoint(path)
    transformers = _transformers()
    try:
        processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptDataError(
            f"{path} has no processor that AutoProcessor loads ({error}); copy the checkpoint's tokenizer and "
            "processor files into it"
        ) from error
    if not hasattr(processor, "tokenizer") or not hasattr(processor, "image_processor"):
        raise CorruptDataError(f"{path}: its processor ({type(processor).__name__}) reads no images and text")
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as error:
        raise CorruptDataError(f"the weights in {path} do not load ({error}); copy the checkpoint again") from error
    return model, processor


def _transformers() -> Any:
    """Import transformers with its progress bars off (a command's output stays one line per step)."""
    transformers = require("transformers", extra="vlm")
    transformers.utils.logging.disable_progress_bar()
    return transformers


def read_finetune_info(path: Path) -> dict[str, Any]:
    """Return what :data:`FINETUNE_FILE` records, or ``{}`` for a checkpoint bigearth did not fine-tune."""
    file = Path(path) / FINETUNE_FILE
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise CorruptDataError(f"{file} is not valid JSON ({error}); fine-tune again") from error


def save_finetuned(model: Any, processor: Any, folder: Path, info: dict[str, Any]) -> None:
    """Write a fine-tuned checkpoint folder: weights and processor, then :data:`FINETUNE_FILE`; moved in whole.

    Args:
        model: the transformers model (LoRA already merged).
        processor: its processor.
        folder: the folder to write (must not exist, or be empty).
        info: what to record in :data:`FINETUNE_FILE`.

    Raises:
        ConfigError: if ``folder`` exists and is not empty.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists and is not empty; choose another folder for the fine-tuned model")
    _transformers()
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        atomic_write_json(staging / FINETUNE_FILE, info)
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
