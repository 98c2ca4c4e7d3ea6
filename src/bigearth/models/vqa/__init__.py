"""Visual question answering networks (LiT-4-RSVQA): text and image encoders, fusion, answers."""

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
