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
from bigearth.nomenclature import NUM_CLASSES

#: The most tokens a class name may have for concept links (the longest reBEN class name has 13).
MAX_NAME_TOKENS = 24


@dataclass(frozen=True)
class VLMConfig(NetworkConfig):
    """The architecture of the decoder and of the image-to-token bridge.

    Attributes:
        image_grid: image tokens per side (the encoder's feature map is average-pooled to ``image_grid`` squared
            cells).
        concept_tokens: add one image token per land-cover class (:meth:`SmallVLM.concept_logits`): the class's
            own embedding plus its presence probability in every cell and in the patch; a class named in the
            prompt also gets its concept token added to the embeddings of the tokens that name it
            (:meth:`SmallVLM.concept_links`).
        width: token width of the decoder.
        layers: decoder blocks.
        heads: attention heads per block.
        dropout: dropout in the blocks and on the embeddings (training only).
        max_length: text tokens per sequence, ``[CLS]``, prompt, ``[SEP]``, target and ``[SEP]`` together.
    """

    image_grid: int = 4
    concept_tokens: bool = False
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
        if config.concept_tokens:
            self.concept_head = nn.Linear(encoder.feature_dim, NUM_CLASSES)
            self.concept_embedding = nn.Parameter(torch.randn(NUM_CLASSES, width) * 0.02)
            self.concept_value = nn.Linear(config.image_grid**2 + 1, width)
            # the token ids of each class name (-1 after its end) and of the prompt's end, set by init_concepts
            self.register_buffer("concept_names", torch.full((NUM_CLASSES, MAX_NAME_TOKENS), -1, dtype=torch.int64))
            self.register_buffer("prompt_end", torch.tensor(-1, dtype=torch.int64))
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.text_position = nn.Embedding(config.max_length, width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text_position.weight, std=0.02)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(width, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(width)

    @property
    def image_tokens(self) -> int:
        """Number of image tokens before the text (cells, then concepts)."""
        return self.config.image_grid**2 + (NUM_CLASSES if self.config.concept_tokens else 0)

    def concept_logits(self, cells: Tensor) -> Tensor:
        """Return per-cell class logits ``(P, grid^2, classes)`` of pooled cells ``(P, grid^2, feature_dim)``.

        A class is present in a patch where it is present in one of its cells: the patch logit is the maximum over
        the cells (multiple-instance learning), trained against the patch labels (the task's concept loss).
        """
        return self.concept_head(cells)

    def init_concepts(self, name_ids: list[list[int]], prompt_end: int) -> None:
        """Record the class names' token ids for concept links; start each concept embedding at its name's.

        Args:
            name_ids: the token ids of each class name, in the order of the labels.
            prompt_end: the token that closes a prompt (``[SEP]``): only tokens before it are linked.

        Raises:
            ValueError: if the model has no concept tokens or the names do not match its classes.
        """
        if not self.config.concept_tokens or len(name_ids) != NUM_CLASSES or not all(name_ids):
            raise ValueError(f"init_concepts needs concept tokens and {NUM_CLASSES} non-empty class names")
        if max(map(len, name_ids)) > MAX_NAME_TOKENS:
            raise ValueError(f"a class name has more than {MAX_NAME_TOKENS} tokens: {max(map(len, name_ids))}")
        with torch.no_grad():
            self.concept_names.fill_(-1)
            for concept, ids in enumerate(name_ids):
                self.concept_names[concept, : len(ids)] = torch.tensor(ids)
                self.concept_embedding[concept] = self.token_embedding.weight[ids].mean(dim=0)
            self.prompt_end.fill_(prompt_end)

    def concept_links(self, input_ids: Tensor) -> Tensor:
        """Return the class each prompt token names, ``(B, L)`` int64, -1 where none.

        A token is linked where it lies in an occurrence of a class name's token ids before the first
        ``prompt_end`` of its row; where names overlap, the longest wins.
        """
        links = torch.full_like(input_ids, -1)
        lengths = (self.concept_names >= 0).sum(dim=1)
        for concept in lengths.argsort(stable=True).tolist():  # shortest first: longer names overwrite
            length = int(lengths[concept])
            if length == 0 or length > input_ids.shape[1]:
                continue
            windows = input_ids.unfold(1, length, 1)  # (B, L - length + 1, length)
            starts = (windows == self.concept_names[concept, :length]).all(dim=2)
            for offset in range(length):
                links[:, offset : offset + starts.shape[1]][starts] = concept
        in_prompt = (input_ids == self.prompt_end).long().cumsum(dim=1) == 0
        return links.masked_fill(~in_prompt, -1)

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
        """Return image tokens ``(P, image_tokens, width)`` of pooled cells ``(P, grid^2, feature_dim)``.

        With concept tokens, class ``k``'s token is its embedding plus a projection of its probabilities in the
        ``grid^2`` cells and in the patch (``sigmoid`` of :meth:`concept_logits` and of their maximum).
        """
        tokens = self.image_projection(cells) + self.image_position
        if not self.config.concept_tokens:
            return tokens
        logits = self.concept_logits(cells).transpose(1, 2)  # (P, classes, grid^2)
        presence = torch.cat([logits, logits.amax(dim=2, keepdim=True)], dim=2).sigmoid()
        return torch.cat([tokens, self.concept_embedding + self.concept_value(presence)], dim=1)

    def encode_images(self, images: Tensor) -> Tensor:
        """Return image tokens ``(P, image_tokens, width)`` of normalised images ``(P, bands, H, W)``.

        Raises:
            ValueError: if the images do not have the encoder's bands.
        """
        return self.encode_cells(self.image_cells(images))

    def _embed_prompt(self, image_tokens: Tensor, input_ids: Tensor, positions: Tensor) -> Tensor:
        """Embed text tokens; with concept tokens, add to each linked token its class's concept token."""
        embedded = self._embed_text(input_ids, positions)
        if not self.config.concept_tokens:
            return embedded
        links = self.concept_links(input_ids)
        concepts = image_tokens[:, self.config.image_grid**2 :]  # (B, classes, width)
        linked = concepts.gather(1, links.clamp(min=0).unsqueeze(2).expand(-1, -1, concepts.shape[2]))
        return embedded + linked * (links >= 0).unsqueeze(2)

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
            image_tokens: ``(B, image_tokens, width)`` from :meth:`encode_images` (gathered per text).
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
        x = torch.cat([image_tokens, self._embed_prompt(image_tokens, input_ids, positions)], dim=1)
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
            image_tokens: ``(B, image_tokens, width)``.
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
        x = torch.cat([image_tokens, self._embed_prompt(image_tokens, input_ids, positions)], dim=1)
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
