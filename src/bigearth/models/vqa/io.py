"""VQA model folders: ``config.json`` + ``model.safetensors`` + ``vocab.txt`` + ``answers.json``.

``config.json`` carries bigearth's model format header (:mod:`bigearth.models.io`) with ``task:
visual-question-answering`` and its own layout version :data:`VQA_FORMAT_VERSION`, the architecture
(``network``), the resolved Hugging Face configuration of the text encoder (``text_config``), the timm
architecture and arguments of the image encoder, and the image metadata (bands, normalisation, resampling,
training data). ``vocab.txt`` is the tokenizer's WordPiece vocabulary and ``answers.json`` the answers in output
order. Files are written atomically, ``config.json`` last, so a folder with a ``config.json`` is complete.
Without bigearth's loaders::

    config = json.load(open("model/config.json"))
    model = VQAModel(VQAConfig.from_dict(config["network"]), ModelMetadata.from_dict(config),
                     tuple(json.load(open("model/answers.json"))["answers"]), text_config=config["text_config"],
                     image_architecture=config["image_architecture"], image_model_args=config["image_model_args"])
    model.load_state_dict(safetensors.torch.load_file("model/model.safetensors"))
"""

from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.models.io import CONFIG_FILE, MODEL_FORMAT, MODEL_FORMAT_VERSION, read_model_config, resolve_model_folder
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.answers import AnswerVocabulary
from bigearth.models.vqa.model import VQAConfig, VQAModel
from bigearth.models.vqa.tokenizer import VOCAB_FILE, QuestionTokenizer
from bigearth.models.weights import MODEL_WEIGHTS_FILE, read_safetensors
from bigearth.runinfo import write_environment

#: The ``task`` entry of a VQA model's ``config.json``.
VQA_TASK = "visual-question-answering"
#: Version of the VQA folder layout and network wiring; a folder of another version is refused.
VQA_FORMAT_VERSION = 1


def save_vqa_model(
    model: VQAModel,
    tokenizer: QuestionTokenizer,
    folder: Path,
    *,
    answers: AnswerVocabulary | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a VQA model folder (weights, vocabulary and answers first, ``config.json`` last; all atomic).

    Args:
        model: the network.
        tokenizer: the tokenizer its questions were encoded with.
        folder: the model folder (created if needed).
        answers: the answer vocabulary with its training counts (default: the model's answers, without counts).
        extra: further JSON entries (e.g. the question file it was trained on).

    Raises:
        ValueError: if ``answers`` are not the model's outputs.
    """
    answers = answers or AnswerVocabulary(model.answers)
    if answers.answers != model.answers:
        raise ValueError("the answer vocabulary is not the model's output order")
    if tokenizer.max_length != model.config.max_length:
        raise ValueError(f"the tokenizer cuts at {tokenizer.max_length} tokens, the model at {model.config.max_length}")
    folder = Path(folder)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    atomic_write_bytes(folder / MODEL_WEIGHTS_FILE, safetensors.torch.save(tensors))
    write_environment(folder)  # env.json: what the folder was made with
    tokenizer.save(folder)
    answers.save(folder)
    config = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "task": VQA_TASK,
        "vqa_format_version": VQA_FORMAT_VERSION,
        "bigearth_version": __version__,
        **model.describe(),
        "lowercase": tokenizer.lowercase,
        **model.metadata.to_dict(),
        **(extra or {}),
    }
    atomic_write_json(folder / CONFIG_FILE, config)


def read_vqa_config(path: Path) -> dict[str, Any]:
    """Read and check the ``config.json`` of a VQA model folder (or of a run folder's ``model/``).

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if it is no bigearth model, a model of another task, or of another VQA layout version.
    """
    config = read_model_config(path)
    if config.get("task") != VQA_TASK:
        raise CorruptDataError(
            f"{resolve_model_folder(path)} holds a {config.get('task', 'classification')!r} model, not a VQA model; "
            "`bigearth ask` needs a folder written by `bigearth train` with a task: vqa recipe"
        )
    if config.get("vqa_format_version") != VQA_FORMAT_VERSION:
        raise CorruptDataError(
            f"{resolve_model_folder(path)} is a VQA model of layout version {config.get('vqa_format_version')!r} "
            f"(bigearth {config.get('bigearth_version', '?')}); this bigearth ({__version__}) reads version "
            f"{VQA_FORMAT_VERSION}: use the bigearth version that wrote it, or retrain"
        )
    return config


def load_vqa_model(path: Path, *, device: str | torch.device = "cpu") -> tuple[VQAModel, QuestionTokenizer]:
    """Load a VQA model folder (or a run folder's ``model/``) in evaluation mode, with its tokenizer.

    Raises:
        MissingDataError: if the folder, its weights, vocabulary or answers are missing.
        CorruptDataError: if the files do not belong together or come from another version.
    """
    folder = resolve_model_folder(path)
    config = read_vqa_config(folder)
    weights = folder / MODEL_WEIGHTS_FILE
    for needed in (weights, folder / VOCAB_FILE):
        if not needed.is_file():
            raise MissingDataError(f"{needed} is missing; the VQA model folder {folder} is incomplete")
    answers = AnswerVocabulary.load(folder)
    try:
        network = VQAConfig.from_dict(config["network"])
        model = VQAModel(
            network, ModelMetadata.from_dict(config), answers.answers, text_config=config["text_config"],
            image_architecture=config["image_architecture"], image_model_args=config["image_model_args"],
        )  # fmt: skip
        model.load_state_dict(read_safetensors(weights))
    except (KeyError, ConfigError, RuntimeError) as error:
        raise CorruptDataError(
            f"the files in {folder} do not belong together ({error}); re-export the model"
        ) from error
    tokenizer = QuestionTokenizer(folder / VOCAB_FILE, max_length=network.max_length,
                                  lowercase=bool(config.get("lowercase", True)))  # fmt: skip
    return model.to(device).eval(), tokenizer
