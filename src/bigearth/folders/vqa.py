"""VQA model folders: ``config.json`` + ``model.safetensors`` + ``vocab.txt`` + ``answers.json``.

``config.json`` carries bigearth's model format header (:mod:`bigearth.folders.format`) with ``task:
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

import torch

from bigearth.folders.format import VQA_TASK, FolderLayout
from bigearth.folders.image_text import load_image_text_model, save_image_text_model
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.answers import AnswerVocabulary
from bigearth.models.vqa.model import VQAConfig, VQAModel
from bigearth.models.vqa.tokenizer import QuestionTokenizer

#: Version of the VQA folder layout and network wiring; a folder of another version is refused.
VQA_FORMAT_VERSION = 1
#: The VQA folder kind.
VQA_LAYOUT = FolderLayout(
    VQA_TASK, "vqa_format_version", VQA_FORMAT_VERSION, "VQA model",
    "`bigearth ask` needs a folder written by `bigearth train` with a task: vqa recipe",
)  # fmt: skip


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
        ValueError: if ``answers`` are not the model's outputs, or the tokenizer cuts questions at another length
            than the model's configuration.
    """
    answers = answers or AnswerVocabulary(model.answers)
    if answers.answers != model.answers:
        raise ValueError("the answer vocabulary is not the model's output order")
    save_image_text_model(model, tokenizer, folder, VQA_LAYOUT, extra, files=(answers,))


def read_vqa_config(path: Path) -> dict[str, Any]:
    """Read and check the ``config.json`` of a VQA model folder (or of a run folder's ``model/``).

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if it is no bigearth model, a model of another task, or of another VQA layout version.
    """
    return VQA_LAYOUT.read_config(path)


def _build(config: dict[str, Any], folder: Path) -> VQAModel:
    """Return the network of a checked ``config.json`` with the answers of ``folder``'s ``answers.json``.

    Raises:
        MissingDataError: if ``answers.json`` is missing.
        CorruptDataError: if it is no answer vocabulary.
    """
    return VQAModel(
        VQAConfig.from_dict(config["network"]), ModelMetadata.from_dict(config), AnswerVocabulary.load(folder).answers,
        text_config=config["text_config"], image_architecture=config["image_architecture"],
        image_model_args=config["image_model_args"],
    )  # fmt: skip


def load_vqa_model(path: Path, *, device: str | torch.device = "cpu") -> tuple[VQAModel, QuestionTokenizer]:
    """Load a VQA model folder (or a run folder's ``model/``) in evaluation mode, with its tokenizer.

    Raises:
        MissingDataError: if the folder, its weights, vocabulary or answers are missing.
        CorruptDataError: if the files do not belong together or come from another version.
    """
    return load_image_text_model(path, VQA_LAYOUT, _build, device=device)
