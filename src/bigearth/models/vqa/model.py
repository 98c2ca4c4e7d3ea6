r"""LiT-4-RSVQA: lightweight transformer visual question answering as classification over an answer vocabulary.

Hackel, Clasen, Ravanbakhsh, Demir, "LiT-4-RSVQA: Lightweight Transformer-based Visual Question Answering in
Remote Sensing", IGARSS 2023 (https://arxiv.org/abs/2306.00758); the network follows ConfigILM's VQA
classifier that the paper used::

    image    -> timm backbone (head to 512) -> dropout -> linear 512 -> tanh  \\
                                                                              fusion -> tanh -> dropout -> linear 256
    question -> tokens -> BERT-tiny pooler -> dropout -> linear 512 -> tanh  /          -> tanh -> dropout -> linear K

The K outputs are logits of the answers in :attr:`VQAModel.answers` (trained with binary cross-entropy on one-hot
answers). A question-only model (``image_encoder: none``) sends the projected question straight to the classifier;
it measures how much of the answer the question alone gives away.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.models.config import NetworkConfig
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.fusion import FUSIONS, build_fusion
from bigearth.models.vqa.image_encoder import NO_IMAGE, ImageEncoder
from bigearth.models.vqa.text_encoder import POOLINGS, TextEncoder
from bigearth.models.vqa.tokenizer import DEFAULT_MAX_LENGTH, QuestionTokenizer


@dataclass(frozen=True)
class VQAConfig(NetworkConfig):
    """The architecture of a VQA network.

    Attributes:
        text_encoder: ``"bert-tiny"``, ``"minilm-l6"`` or a local Hugging Face encoder folder
            (:mod:`bigearth.models.vqa.text_encoder`).
        text_pooling: ``"mean"``, ``"pooler"`` or ``"cls"``. LiT-4-RSVQA used BERT's pooler over a pretrained
            BERT-tiny; a randomly initialised encoder (no weights can be downloaded here) gives nearly the same
            pooled vector for every question (cosine 0.9999 between different questions), so the default is the mean
            of the token features, which tells questions apart from the first step.
        image_encoder: image encoder name (:data:`~bigearth.models.vqa.image_encoder.IMAGE_ENCODERS`, any
            classification backbone or timm name), or ``"none"`` for a question-only model.
        image_backbone_args: extra timm keyword arguments of the image encoder.
        image_features: width of the image encoder's head (ConfigILM's ``visual_features_out``).
        projection_dim: shared width of the projected image and question vectors (``fusion_in``).
        fusion: ``"product"`` or ``"mfb"``.
        fusion_args: keyword arguments of the fusion (e.g. ``{out_dim: 500, factor: 5}`` for MFB).
        hidden_dim: hidden width of the answer classifier (``fusion_hidden``).
        dropout: dropout on both encoders' outputs and in the classifier.
        num_answers: K, the size of the answer vocabulary (the K most frequent training answers).
        max_length: tokens per question, ``[CLS]`` and ``[SEP]`` included.
        vocab: a WordPiece ``vocab.txt``; None: the text encoder folder's, else the packaged bert-base-uncased one.
    """

    text_encoder: str = "bert-tiny"
    text_pooling: str = "mean"
    image_encoder: str = "mobilevit_s"
    image_backbone_args: dict[str, Any] = field(default_factory=dict)
    image_features: int = 512
    projection_dim: int = 512
    fusion: str = "product"
    fusion_args: dict[str, Any] = field(default_factory=dict)
    hidden_dim: int = 256
    dropout: float = 0.25
    num_answers: int = 1000
    max_length: int = DEFAULT_MAX_LENGTH
    vocab: str | None = None

    @property
    def question_only(self) -> bool:
        """Whether the network ignores the image."""
        return self.image_encoder == NO_IMAGE

    def validate(self) -> None:
        """Check sizes and names that do not need building.

        Raises:
            ConfigError: naming the offending value.
        """
        sizes = {"image_features": self.image_features, "projection_dim": self.projection_dim,
                 "hidden_dim": self.hidden_dim, "num_answers": self.num_answers}  # fmt: skip
        small = [f"model.{key} = {value}" for key, value in sizes.items() if value < 1]
        if small:
            raise ConfigError(f"{small} must be at least 1")
        if self.max_length < 3:
            raise ConfigError(f"model.max_length = {self.max_length} leaves no room for a question ([CLS] and [SEP])")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout = {self.dropout} must be in [0, 1)")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown model.fusion {self.fusion!r}; use one of {list(FUSIONS)}")
        if self.text_pooling not in POOLINGS:
            raise ConfigError(f"unknown model.text_pooling {self.text_pooling!r}; use one of {list(POOLINGS)}")


class VQAModel(nn.Module):
    """Answer questions about reBEN patches: an image encoder, a question encoder, a fusion and a classifier.

    Args:
        config: the architecture.
        metadata: bands, image size, normalisation and resampling of the images (``backbone`` = the image encoder).
        answers: the answers in output order (:class:`~bigearth.models.vqa.answers.AnswerVocabulary`).
        text_config: the resolved Hugging Face configuration; when None it is resolved from
            ``config.text_encoder`` and the encoder's pretrained weights are loaded where it has some. A saved model
            passes the configuration it was built with (its weights come from the model folder).
        image_architecture: timm architecture of the image encoder (with ``image_model_args``; derived from the
            configuration when None).
        image_model_args: timm keyword arguments of the image encoder.
        drop_rate: timm dropout of the image encoder (training only).
        drop_path_rate: timm stochastic depth of the image encoder (training only).

    Raises:
        ConfigError: for an invalid configuration, unknown encoders, or answers that are not ``num_answers`` or fewer.
    """

    def __init__(
        self,
        config: VQAConfig,
        metadata: ModelMetadata,
        answers: tuple[str, ...],
        *,
        text_config: dict[str, Any] | None = None,
        image_architecture: str | None = None,
        image_model_args: dict[str, Any] | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        config.validate()
        if not answers or len(answers) > config.num_answers:
            raise ConfigError(f"a VQA model answers 1..{config.num_answers} answers, got {len(answers)}")
        self.config, self.metadata, self.answers = config, metadata, tuple(answers)
        self.text = (TextEncoder.from_name(config.text_encoder, pooling=config.text_pooling) if text_config is None
                     else TextEncoder(text_config, pooling=config.text_pooling))  # fmt: skip
        self.image: ImageEncoder | None = None
        if not config.question_only:
            self.image = ImageEncoder(
                config.image_encoder, in_chans=metadata.in_chans, features=config.image_features,
                image_size=metadata.image_size, backbone_args=config.image_backbone_args,
                architecture=image_architecture, model_args=image_model_args, drop_rate=drop_rate,
                drop_path_rate=drop_path_rate,
            )  # fmt: skip
            self.image_projection = nn.Sequential(
                nn.Dropout(config.dropout), nn.Linear(config.image_features, config.projection_dim), nn.Tanh()
            )
            self.fusion = build_fusion(config.fusion, config.projection_dim, config.fusion_args)
            fused = self.fusion.out_dim
        else:
            fused = config.projection_dim
        self.question_projection = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(self.text.out_dim, config.projection_dim), nn.Tanh()
        )
        self.classifier = nn.Sequential(
            nn.Tanh(), nn.Dropout(config.dropout), nn.Linear(fused, config.hidden_dim),
            nn.Tanh(), nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, len(self.answers)),
        )  # fmt: skip

    def init_answer_bias(self, frequencies: Tensor) -> None:
        """Start every answer's logit at the log-odds of its training frequency (before training).

        With K answers and binary cross-entropy, a freshly initialised classifier first spends its steps pushing all
        K logits down, and its tanh layers saturate on the way (the image and question then no longer reach the
        output); starting from the frequencies skips that phase, as the prior initialisation of Lin et al., "Focal
        Loss for Dense Object Detection", ICCV 2017, does for one rare class.

        Args:
            frequencies: ``(num_answers,)`` share of the training questions with each answer, in (0, 1).

        Raises:
            ValueError: if the shape is not ``(num_answers,)``.
        """
        if frequencies.shape != (self.num_answers,):
            raise ValueError(
                f"need one frequency per answer ({self.num_answers}), got shape {tuple(frequencies.shape)}"
            )
        shares = frequencies.float().clamp(1e-6, 1 - 1e-6)
        with torch.no_grad():
            self.classifier[-1].bias.copy_(torch.log(shares / (1 - shares)))

    @property
    def num_answers(self) -> int:
        """Number of outputs (answers)."""
        return len(self.answers)

    @property
    def uses_image(self) -> bool:
        """Whether the answers depend on the image (False for a question-only model)."""
        return self.image is not None

    def encode_images(self, images: Tensor) -> Tensor:
        """Return projected image vectors ``(P, projection_dim)`` of normalised images ``(P, C, H, W)``.

        Raises:
            ValueError: for a question-only model, or images that are not ``(P, bands, H, W)``.
        """
        if self.image is None:
            raise ValueError("a question-only model has no image encoder")
        if images.ndim != 4 or images.shape[1] != self.image.in_chans:
            raise ValueError(
                f"the model reads {self.image.in_chans} bands {list(self.metadata.bands)} as (P, C, H, W) images, "
                f"got a tensor of shape {tuple(images.shape)}; load the data with the model's bands"
            )
        return self.image_projection(self.image(images))

    def encode_questions(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Return projected question vectors ``(B, projection_dim)`` of token ids ``(B, L)``.

        Raises:
            ValueError: if ids and mask differ in shape, or an id is outside the text encoder's vocabulary.
        """
        if input_ids.shape != attention_mask.shape or input_ids.ndim != 2:
            raise ValueError(
                f"token ids {tuple(input_ids.shape)} and mask {tuple(attention_mask.shape)} must be (B, L)"
            )
        if input_ids.numel() and int(input_ids.max()) >= self.text.vocab_size:
            raise ValueError(f"token id {int(input_ids.max())} is outside the vocabulary of {self.text.vocab_size}")
        return self.question_projection(self.text(input_ids, attention_mask))

    def forward(
        self,
        images: Tensor | None,
        input_ids: Tensor,
        attention_mask: Tensor,
        image_index: Tensor | None = None,
        question_index: Tensor | None = None,
    ) -> Tensor:
        """Return answer logits ``(B, num_answers)``.

        Questions may share an image and repeat a question: each distinct image and each distinct question is
        encoded once and its vector gathered per asked question.

        Args:
            images: normalised images ``(P, C, H, W)`` (None for a question-only model, whose images are ignored).
            input_ids: token ids ``(Q, L)`` int64.
            attention_mask: ``(Q, L)``, 1 for tokens and 0 for padding.
            image_index: ``(B,)`` int64, the row of ``images`` each question is about; None when P = B and
                question i is about image i.
            question_index: ``(B,)`` int64, the row of ``input_ids`` of each question; None when Q = B.

        Raises:
            ValueError: for inputs of the wrong shape, or a missing image batch.
        """
        questions = self.encode_questions(input_ids, attention_mask)
        if question_index is not None:
            questions = questions[question_index]
        if self.image is None:
            return self.classifier(questions)
        if images is None:
            raise ValueError("the model answers from the image: pass the images of the questions")
        vectors = self.encode_images(images)
        if image_index is not None:
            vectors = vectors[image_index]
        if vectors.shape[0] != questions.shape[0]:
            raise ValueError(f"{vectors.shape[0]} image vectors for {questions.shape[0]} questions: pass image_index")
        return self.classifier(self.fusion(vectors, questions))

    def describe(self) -> dict[str, Any]:
        """Return what rebuilds the network without its weights (besides the metadata and the answers).

        That is the configuration, the resolved text configuration and the image encoder's timm architecture and
        arguments.
        """
        return {
            "network": self.config.to_dict(),
            "text_config": dict(self.text.config_dict),
            "image_architecture": self.image.architecture if self.image is not None else None,
            "image_model_args": self.image.model_args if self.image is not None else None,
            "answers_count": self.num_answers,
        }


def build_tokenizer(config: VQAConfig) -> QuestionTokenizer:
    """Return the tokenizer of a configuration.

    Its vocabulary is ``vocab``, else the text encoder folder's ``vocab.txt``, else the packaged bert-base-uncased one.

    Raises:
        MissingDataError: if the vocabulary file is missing.
        ConfigError: for an unknown text encoder.
    """
    vocab = Path(config.vocab) if config.vocab else TextEncoder.vocab_file(config.text_encoder)
    return QuestionTokenizer(vocab, max_length=config.max_length)


def check_tokenizer(model: VQAModel, tokenizer: QuestionTokenizer) -> None:
    """Refuse a tokenizer whose ids the text encoder cannot embed.

    Raises:
        ConfigError: if the vocabulary is larger than the text encoder's.
    """
    if tokenizer.vocab_size > model.text.vocab_size:
        raise ConfigError(
            f"the vocabulary {tokenizer.vocab} has {tokenizer.vocab_size} entries but the text encoder embeds "
            f"{model.text.vocab_size}; use the encoder's own vocab.txt (model.vocab)"
        )
