"""The built-in small vision-language model: a bigearth image encoder feeding a small causal text decoder."""

# ruff: noqa: E402  (the extra's packages are checked before the modules below import them)

from bigearth._optional import require

require("tokenizers", extra="vqa")

from bigearth.models.vlm.model import SmallVLM, VLMConfig
from bigearth.models.vlm.tokenizer import VLMTokenizer, build_vocabulary, read_boxes, write_boxes

__all__ = ["SmallVLM", "VLMConfig", "VLMTokenizer", "build_vocabulary", "read_boxes", "write_boxes"]
