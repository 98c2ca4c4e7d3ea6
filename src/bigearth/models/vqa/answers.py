"""The answer vocabulary: VQA as classification over the K most frequent training answers.

As in RSVQA and LiT-4-RSVQA, a model chooses among the K (1000 by default) answers that occur most often in the
training questions, the most frequent first (ties in alphabetical order, so the order depends on the data only).
An answer outside the vocabulary gets index :data:`OUTSIDE` (-1): an all-zero target in training (the model is
taught no answer for it) and a wrong answer in evaluation, whatever the model predicts.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from bigearth.atomic import atomic_write_json
from bigearth.errors import CorruptDataError, MissingDataError

ANSWERS_FILE = "answers.json"
#: Answers per model in the published recipe.
DEFAULT_NUM_ANSWERS = 1000
#: Index of an answer outside the vocabulary.
OUTSIDE = -1


@dataclass(frozen=True)
class AnswerVocabulary:
    """The answers a model can give, in output order.

    Attributes:
        answers: answer strings, the most frequent training answer first.
        counts: how often each occurred in the training questions (empty when unknown).
    """

    answers: tuple[str, ...]
    counts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.answers:
            raise ValueError("an answer vocabulary needs at least one answer")
        if len(set(self.answers)) != len(self.answers):
            raise ValueError("an answer vocabulary lists every answer once")
        object.__setattr__(self, "_position", {answer: i for i, answer in enumerate(self.answers)})

    @classmethod
    def build(cls, answers: Iterable[str], *, size: int = DEFAULT_NUM_ANSWERS) -> "AnswerVocabulary":
        """Return the ``size`` most frequent answers, the most frequent first (ties alphabetically).

        Raises:
            ValueError: if there is no answer or ``size`` < 1.
        """
        if size < 1:
            raise ValueError(f"the answer vocabulary needs a size of at least 1, got {size}")
        counts = pd.Series(list(answers) if not isinstance(answers, pd.Series) else answers).value_counts()
        if counts.empty:
            raise ValueError("no answers to build a vocabulary from: the training split has no questions")
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
        return cls(tuple(str(a) for a, _ in ordered), tuple(int(n) for _, n in ordered))

    def __len__(self) -> int:
        return len(self.answers)

    def index(self, answer: str) -> int:
        """Return the output index of an answer, or :data:`OUTSIDE`."""
        return self._position.get(answer, OUTSIDE)  # type: ignore[attr-defined]

    def encode(self, answers: Sequence[str]) -> Tensor:
        """Return the output indices ``(N,)`` int64 of answers (:data:`OUTSIDE` where not in the vocabulary)."""
        return torch.tensor([self.index(answer) for answer in answers], dtype=torch.int64)

    def decode(self, indices: Tensor | Sequence[int]) -> list[str]:
        """Return the answers of output indices."""
        return [self.answers[int(i)] for i in indices]

    def frequencies(self, questions: int) -> list[float]:
        """Return each answer's share of ``questions`` training questions (from :attr:`counts`).

        Raises:
            ValueError: if the counts are unknown or ``questions`` < 1.
        """
        if len(self.counts) != len(self.answers) or questions < 1:
            raise ValueError("answer frequencies need the training counts and the number of training questions")
        return [count / questions for count in self.counts]

    def coverage(self, answers: Sequence[str]) -> float:
        """Return the share of ``answers`` that the vocabulary holds (the best accuracy a model can reach)."""
        if not len(answers):
            return float("nan")
        return float((self.encode(answers) != OUTSIDE).float().mean())

    def save(self, folder: Path) -> Path:
        """Write ``answers.json`` into ``folder`` (atomically); returns its path."""
        path = Path(folder) / ANSWERS_FILE
        atomic_write_json(path, {"answers": list(self.answers), "counts": list(self.counts)})
        return path

    @classmethod
    def load(cls, folder: Path) -> "AnswerVocabulary":
        """Read ``answers.json`` of a model folder.

        Raises:
            MissingDataError: if the file is missing.
            CorruptDataError: if it is no answer vocabulary.
        """
        path = Path(folder) / ANSWERS_FILE
        if not path.is_file():
            raise MissingDataError(f"{path} is missing; the VQA model folder is incomplete")
        try:
            payload = json.loads(path.read_text())
            return cls(tuple(payload["answers"]), tuple(payload.get("counts", ())))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise CorruptDataError(f"{path} is no answer vocabulary ({error}); re-export the model") from error
