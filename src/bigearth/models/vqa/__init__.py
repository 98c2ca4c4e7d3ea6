"""Visual question answering networks (LiT-4-RSVQA): text and image encoders, fusion, answers."""

# ruff: noqa: E402  (the extra's packages are checked before the modules below import them)

from bigearth._optional import require

require("tokenizers", "transformers", extra="vqa")

from bigearth.models.vqa.answers import AnswerVocabulary
from bigearth.models.vqa.model import VQAConfig, VQAModel, build_tokenizer
from bigearth.models.vqa.tokenizer import QuestionError, QuestionTokenizer

__all__ = [
    "AnswerVocabulary",
    "QuestionError",
    "QuestionTokenizer",
    "VQAConfig",
    "VQAModel",
    "build_tokenizer",
]
