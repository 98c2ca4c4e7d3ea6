r"""The built-in small VLM: a bigearth image encoder whose feature map prefixes a small causal text decoder.

::

    S1/S2 image -> FeatureEncoder.dense (B, C, h, w) -> average-pooled to grid x grid -> linear to width
                   + learned position per cell                                     = grid^2 image tokens
    [CLS] prompt [SEP] target [SEP] -> token + position embeddings                  = L text tokens
    [image tokens, text tokens] -> causal decoder blocks -> layer norm -> logits (tied to the token embeddings)

The image encoder is any :class:`~bigearth.models.encoders.FeatureEncoder` (a classification backbone, fresh or
from a bigearth model folder; a cross-sensor foundation encoder), so the network reads the S1 and S2 bands the
encoder was built for. Image tokens come first and every text token attends to all of them (the causal mask
allows it), as in the prefix models of LLaVA (Liu et al., "Visual Instruction Tuning", NeurIPS 2023) and GIT
(Wang et al., "GIT: A Generative Image-to-text Transformer", TMLR 2022), trained from scratch here on all four
BigEarthNet.txt task types at once. Text positions count real tokens only, so prompts padded on the left (for
batched generation) and on the right (for training) get the same positions.
"""

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.models.config import NetworkConfig
from bigearth.models.encoders import FeatureEncoder
from bigearth.models.vlm.decoder import Cache, DecoderBlock, attention_mask


@dataclass(frozen=True)
class VLMConfig(NetworkConfig):
    """The architecture of the decoder and of the image-to-token bridge.

    Attributes:
        image_grid: image tokens per side (the encoder's feature map is average-pooled to ``image_grid`` squared
            cells).
        width: token width of the decoder.
        layers: decoder blocks.
        heads: attention heads per block.
        dropout: dropout in the blocks and on the embeddings (training only).
        max_length: text tokens per sequence, ``[CLS]``, prompt, ``[SEP]``, target and ``[SEP]`` together.
    """

    image_grid: int = 4
    width: int = 128
    layers: int = 3
    heads: int = 4
    dropout: float = 0.1
    max_length: int = 192

    def validate(self) -> None:
        """Check sizes.

        Raises:
            ConfigError: naming the offending value.
        """
        sizes = {"image_grid": self.image_grid, "width": self.width, "layers": self.layers, "heads": self.heads}
        small = [f"model.{key} = {value}" for key, value in sizes.items() if value < 1]
        if small:
            raise ConfigError(f"{small} must be at least 1")
        if self.width % self.heads:
            raise ConfigError(f"model.width = {self.width} must be a multiple of model.heads = {self.heads}")
        if self.max_length < 4:
            raise ConfigError(f"model.max_length = {self.max_length} leaves no room for a prompt and an answer")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout = {self.dropout} must be in [0, 1)")


class SmallVLM(nn.Module):
    """Write text about reBEN patches: prompt and image in, generated tokens out.

    Args:
        config: the architecture.
        encoder: the image encoder (its ``dense`` feature map is read).
        vocab_size: entries of the tokenizer's vocabulary.

    Raises:
        ConfigError: for an invalid configuration or an empty vocabulary.
    """

    def __init__(self, config: VLMConfig, encoder: FeatureEncoder, vocab_size: int) -> None:
        super().__init__()
        config.validate()
        if vocab_size < 1:
            raise ConfigError(f"the vocabulary has {vocab_size} entries")
        self.config, self.encoder = config, encoder
        width = config.width
        self.image_projection = nn.Linear(encoder.feature_dim, width)
        self.image_position = nn.Parameter(torch.randn(config.image_grid**2, width) * 0.02)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.text_position = nn.Embedding(config.max_length, width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text_position.weight, std=0.02)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(width, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(width)

    @property
    def image_tokens(self) -> int:
        """Number of image tokens before the text."""
        return self.config.image_grid**2

    @property
    def vocab_size(self) -> int:
        """Entries of the vocabulary (outputs per position)."""
        return self.token_embedding.num_embeddings

    def image_cells(self, images: Tensor) -> Tensor:
        """Return the encoder's feature map pooled to ``(P, grid^2, feature_dim)`` cells of images ``(P, C, H, W)``.

        Raises:
            ValueError: if the images do not have the encoder's bands.
        """
        bands = self.encoder.bands
        if images.ndim != 4 or images.shape[1] != len(bands):
            raise ValueError(
                f"the image encoder reads {len(bands)} bands {list(bands)} as (P, C, H, W) images, got a tensor of "
                f"shape {tuple(images.shape)}; load the data with the model's bands"
            )
        cells = F.adaptive_avg_pool2d(self.encoder.dense(images), self.config.image_grid)  # (P, C, grid, grid)
        return cells.flatten(2).transpose(1, 2)

    def encode_cells(self, cells: Tensor) -> Tensor:
        """Return image tokens ``(P, grid^2, width)`` of pooled cells ``(P, grid^2, feature_dim)``."""
        return self.image_projection(cells) + self.image_position

    def encode_images(self, images: Tensor) -> Tensor:
        """Return image tokens ``(P, grid^2, width)`` of normalised images ``(P, bands, H, W)``.

        Raises:
            ValueError: if the images do not have the encoder's bands.
        """
        return self.encode_cells(self.image_cells(images))

    def _embed_text(self, input_ids: Tensor, positions: Tensor) -> Tensor:
        if input_ids.numel() and int(input_ids.max()) >= self.vocab_size:
            raise ValueError(f"token id {int(input_ids.max())} is outside the vocabulary of {self.vocab_size}")
        if positions.numel() and int(positions.max()) >= self.config.max_length:
            raise ValueError(f"a sequence is longer than model.max_length = {self.config.max_length} tokens")
        return self.token_embedding(input_ids) + self.text_position(positions)

    def _decode(self, x: Tensor, valid: Tensor, caches: list[Cache] | None) -> tuple[Tensor, list[Cache]]:
        mask = attention_mask(valid, x.shape[1])
        new: list[Cache] = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, mask, None if caches is None else caches[i])
            new.append(cache)
        return self.norm(x), new

    def forward(self, image_tokens: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Return the decoder's output ``(B, L, width)`` at the text positions (see :meth:`logits`).

        Args:
            image_tokens: ``(B, grid^2, width)`` from :meth:`encode_images` (gathered per text).
            input_ids: ``(B, L)`` int64 token ids, padded on either side.
            attention_mask: ``(B, L)``, 1 for tokens and 0 for padding.

        Raises:
            ValueError: for mismatched shapes, ids outside the vocabulary or sequences over ``max_length``.
        """
        if input_ids.shape != attention_mask.shape or input_ids.ndim != 2 or len(image_tokens) != len(input_ids):
            raise ValueError(
                f"token ids {tuple(input_ids.shape)}, mask {tuple(attention_mask.shape)} and image tokens "
                f"{tuple(image_tokens.shape)} must be (B, L), (B, L) and (B, N, width)"
            )
        real = attention_mask.bool()
        positions = (real.long().cumsum(dim=1) - 1).clamp(min=0)
        x = torch.cat([image_tokens, self._embed_text(input_ids, positions)], dim=1)
        valid = torch.cat([torch.ones(real.shape[0], self.image_tokens, dtype=torch.bool, device=real.device), real], 1)
        hidden, _ = self._decode(self.drop(x), valid, None)
        return hidden[:, self.image_tokens :]

    def logits(self, hidden: Tensor) -> Tensor:
        """Return next-token logits ``(..., vocab_size)`` of decoder outputs ``(..., width)`` (tied embeddings)."""
        return hidden @ self.token_embedding.weight.T

    @torch.no_grad()
    def generate(
        self, image_tokens: Tensor, input_ids: Tensor, attention_mask: Tensor, *, max_new_tokens: int, end_id: int
    ) -> Tensor:
        """Continue prompts greedily until each has written ``end_id`` or ``max_new_tokens`` tokens.

        Args:
            image_tokens: ``(B, grid^2, width)``.
            input_ids: ``(B, L)`` prompts padded on the left (``[CLS] prompt [SEP]``).
            attention_mask: ``(B, L)``, 0 on the padding.
            max_new_tokens: the most tokens written per prompt (fewer if ``max_length`` is reached first).
            end_id: the token that ends a generation (``[SEP]``).

        Returns:
            ``(B, T)`` int64 generated ids, T <= ``max_new_tokens``; rows that ended early repeat ``end_id``.
        """
        real = attention_mask.bool()
        positions = (real.long().cumsum(dim=1) - 1).clamp(min=0)
        valid = torch.cat([torch.ones(real.shape[0], self.image_tokens, dtype=torch.bool, device=real.device), real], 1)
        x = torch.cat([image_tokens, self._embed_text(input_ids, positions)], dim=1)
        hidden, caches = self._decode(x, valid, None)
        position = positions[:, -1]
        budget = min(max_new_tokens, self.config.max_length - 1 - int(position.max()) if len(position) else 0)
        written: list[Tensor] = []
        done = torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)
        for _ in range(max(0, budget)):
            token = self.logits(hidden[:, -1]).argmax(dim=-1).masked_fill(done, end_id)
            written.append(token)
            done |= token == end_id
            if bool(done.all()) or len(written) == budget:
                break
            position = position + 1
            valid = torch.cat([valid, torch.ones_like(done).unsqueeze(1)], dim=1)
            hidden, caches = self._decode(self._embed_text(token.unsqueeze(1), position.unsqueeze(1)), valid, caches)
        if not written:
            return torch.zeros(len(input_ids), 0, dtype=torch.int64, device=input_ids.device)
        return torch.stack(written, dim=1)

    def describe(self) -> dict[str, Any]:
        """Return what rebuilds the network besides the encoder and the vocabulary: the configuration."""
        return {"network": self.config.to_dict(), "vocab_size": self.vocab_size}
