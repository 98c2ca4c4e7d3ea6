"""What the model folders of VQA and CLIP share: a timm image encoder, a Hugging Face text encoder, ``vocab.txt``.

Both folders hold ``config.json`` (the header, the kind's layout version, ``network``, ``text_config``, the image
encoder's timm architecture and arguments, ``lowercase`` and the image metadata), ``model.safetensors`` and the
WordPiece ``vocab.txt`` of their :class:`~bigearth.models.vqa.tokenizer.QuestionTokenizer`; each kind adds its own
files (a VQA model its ``answers.json``). Files are written atomically, ``config.json`` last.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.format import (
    MODEL_WEIGHTS_FILE,
    FolderLayout,
    read_safetensors,
    resolve_model_folder,
    write_folder,
)
from bigearth.models.clip.model import CLIPModel
from bigearth.models.vqa.model import VQAModel
from bigearth.models.vqa.tokenizer import VOCAB_FILE, QuestionTokenizer


class SavesFiles(Protocol):
    """What writes its own file into a model folder (a tokenizer's vocabulary, a VQA model's answers)."""

    def save(self, folder: Path) -> Path:
        """Write the file into ``folder`` (atomically); return its path."""
        ...


#: The network a folder of either kind holds.
ModelT = TypeVar("ModelT", CLIPModel, VQAModel)


def save_image_text_model(
    model: CLIPModel | VQAModel,
    tokenizer: QuestionTokenizer,
    folder: Path,
    layout: FolderLayout,
    extra: dict[str, Any] | None = None,
    *,
    files: Sequence[SavesFiles] = (),
) -> None:
    """Write the vocabulary, the kind's own ``files``, the weights, ``env.json``, then ``config.json`` (all atomic).

    Args:
        model: the network.
        tokenizer: the tokenizer its texts were encoded with.
        folder: the model folder (created if needed).
        layout: the folder kind.
        extra: further JSON entries.
        files: what else the folder holds, each written by its ``save(folder)`` (a VQA model's answers).

    Raises:
        ValueError: if the tokenizer cuts texts at another length than the model's configuration.
    """
    if tokenizer.max_length != model.config.max_length:
        raise ValueError(f"the tokenizer cuts at {tokenizer.max_length} tokens, the model at {model.config.max_length}")
    folder = Path(folder)
    for item in (tokenizer, *files):
        item.save(folder)
    write_folder(folder, model, layout.task, {
        layout.version_key: layout.version, **model.describe(), "lowercase": tokenizer.lowercase,
        **model.metadata.to_dict(), **(extra or {}),
    })  # fmt: skip


def load_image_text_model(
    path: Path,
    layout: FolderLayout,
    build: Callable[[dict[str, Any], Path], ModelT],
    *,
    device: str | torch.device = "cpu",
) -> tuple[ModelT, QuestionTokenizer]:
    """Load a model folder of ``layout``'s kind (or a run folder's ``model/``) in evaluation mode, with its tokenizer.

    Args:
        path: the model folder or run folder.
        layout: the folder kind.
        build: ``build(config, folder)`` returns the network of a checked ``config.json`` (its weights not loaded).
        device: where the network goes.

    Raises:
        MissingDataError: if the folder, its weights or its vocabulary are missing.
        CorruptDataError: if the files do not belong together or come from another version.
    """
    folder = resolve_model_folder(path)
    config = layout.read_config(folder)
    for needed in (folder / MODEL_WEIGHTS_FILE, folder / VOCAB_FILE):
        if not needed.is_file():
            raise MissingDataError(f"{needed} is missing; the {layout.label} folder {folder} is incomplete")
    try:
        model = build(config, folder)
        model.load_state_dict(read_safetensors(folder / MODEL_WEIGHTS_FILE))
    except (KeyError, ConfigError, RuntimeError) as error:
        raise CorruptDataError(
            f"the files in {folder} do not belong together ({error}); re-export the model"
        ) from error
    tokenizer = QuestionTokenizer(folder / VOCAB_FILE, max_length=model.config.max_length,
                                  lowercase=bool(config.get("lowercase", True)))  # fmt: skip
    return model.to(device).eval(), tokenizer
