"""Model folders of the built-in VLM: ``config.json`` + ``model.safetensors`` + ``vocab.txt``.

``config.json`` carries bigearth's header with ``task: small-vision-language-model``, the layout version
:data:`SMALL_VLM_FORMAT_VERSION`, the decoder's architecture (``network``), the vocabulary size, the image
encoder's own ``config.json`` (``encoder``, which rebuilds it with
:func:`~bigearth.folders.encoders.encoder_from_config`) and, at the top level, the encoder's metadata (bands,
normalisation, resampling), so that every command reads the bands from it as from any folder. ``vocab.txt`` is the
model's cut WordPiece vocabulary. Files are written atomically, ``config.json`` last. Without bigearth's loaders::

    config = json.load(open("model/config.json"))
    model = SmallVLM(VLMConfig.from_dict(config["network"]), encoder_from_config(config["encoder"]),
                     config["vocab_size"])
    model.load_state_dict(safetensors.torch.load_file("model/model.safetensors"))
"""

from pathlib import Path
from typing import Any

import torch

from bigearth.errors import ConfigError, CorruptDataError
from bigearth.folders.encoders import encoder_from_config
from bigearth.folders.format import (
    CONFIG_FILE,
    SMALL_VLM_TASK,
    FolderLayout,
    read_safetensors,
    resolve_model_folder,
    weights_file,
    write_folder,
)
from bigearth.models.vlm.model import SmallVLM, VLMConfig
from bigearth.models.vlm.tokenizer import VLMTokenizer
from bigearth.models.vqa.tokenizer import VOCAB_FILE

#: Version of the folder layout and network wiring; a folder of another version is refused.
SMALL_VLM_FORMAT_VERSION = 1
#: The built-in VLM's folder kind.
SMALL_VLM_LAYOUT = FolderLayout(
    SMALL_VLM_TASK, "small_vlm_format_version", SMALL_VLM_FORMAT_VERSION, "built-in VLM",
    "pass a folder written by `bigearth train` with a task: vlm recipe", article="the",
)  # fmt: skip


def save_small_vlm(
    model: SmallVLM, tokenizer: VLMTokenizer, folder: Path, *, encoder_config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Write a model folder (weights and vocabulary first, ``config.json`` last; all atomic).

    Args:
        model: the network.
        tokenizer: its tokenizer.
        folder: the model folder (created if needed).
        encoder_config: the configuration that rebuilds the image encoder (an encoder folder's ``config.json``).
        extra: further JSON entries (e.g. the texts it was trained on).

    Raises:
        ValueError: if the tokenizer's vocabulary is not the model's size.
    """
    if tokenizer.vocab_size != model.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} entries, the model embeds {model.vocab_size}")
    folder = Path(folder)
    tokenizer.save(folder)
    write_folder(folder, model, SMALL_VLM_TASK, {
        SMALL_VLM_LAYOUT.version_key: SMALL_VLM_FORMAT_VERSION, **model.describe(), "encoder": encoder_config,
        **model.encoder.metadata.to_dict(), **(extra or {}),
    })  # fmt: skip


def load_small_vlm(path: Path, *, device: str | torch.device = "cpu") -> tuple[SmallVLM, VLMTokenizer]:
    """Load a built-in VLM folder (or a run folder's ``model/``) in evaluation mode, with its tokenizer.

    Raises:
        MissingDataError: if the folder, its weights or its vocabulary are missing.
        CorruptDataError: if it holds another kind of model, another layout version, or files that do not belong
            together.
    """
    folder = resolve_model_folder(path)
    config = SMALL_VLM_LAYOUT.read_config(folder)
    weights = weights_file(folder)
    tokenizer = VLMTokenizer(folder / VOCAB_FILE)
    try:
        model = SmallVLM(VLMConfig.from_dict(config["network"]), encoder_from_config(config["encoder"]),
                         int(config["vocab_size"]))  # fmt: skip
        model.load_state_dict(read_safetensors(weights))
    except (KeyError, ConfigError, RuntimeError) as error:
        raise CorruptDataError(
            f"{weights} does not fit {folder / CONFIG_FILE} ({error}); re-export the model"
        ) from error
    if tokenizer.vocab_size != model.vocab_size:
        raise CorruptDataError(
            f"{folder / VOCAB_FILE} has {tokenizer.vocab_size} entries, the model {model.vocab_size}"
        )
    return model.to(device).eval(), tokenizer
