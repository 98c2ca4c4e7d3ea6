"""Answer balance within a chunk of patches: yes and no equally often, option letters equally often.

A :class:`Balancer` lives for one chunk of patches (a fixed number of consecutive patches, whatever the number
of workers), so that the output does not depend on how the work is spread. Within a chunk the counts of the
answers of each key (a category, a question form) never differ by more than one.
"""

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from bigearth.text.schema import LETTERS

T = TypeVar("T")


def draw(items: Sequence[T], rng: np.random.Generator) -> T:
    """Return one item drawn uniformly with ``rng``."""
    return items[int(rng.integers(len(items)))]


def shuffled(items: Sequence[T], rng: np.random.Generator) -> list[T]:
    """Return the items in an order drawn with ``rng``."""
    return [items[i] for i in rng.permutation(len(items))]


class Balancer:
    """Chooses answers and option positions so that they stay balanced within one chunk."""

    def __init__(self) -> None:
        self._counts: Counter = Counter()

    def answer(self, key: Hashable, candidates: Mapping[Hashable, T | None], rng: np.random.Generator) -> Hashable:
        """Choose which answer to ask for, among those with a candidate question.

        Args:
            key: what is balanced (e.g. ``("binary", "presence")``).
            candidates: answer -> a question with that answer, or None where the patch has none.
            rng: the patch's random generator (breaks ties).

        Returns:
            The least used answer that has a candidate, or None if every answer with a candidate has been
            used more often than another answer of ``candidates`` (the patch then gets no question for ``key``).
        """
        fewest = min(self._counts[(key, answer)] for answer in candidates)
        best = [a for a, question in candidates.items() if question is not None and self._counts[(key, a)] == fewest]
        if not best:
            return None
        chosen = draw(best, rng)
        self._counts[(key, chosen)] += 1
        return chosen

    def answer_share(
        self, key: Hashable, candidates: Mapping[Hashable, object | None], shares: Mapping[Hashable, float]
    ) -> Hashable:
        """Choose which answer to ask for so that the answers of ``key`` follow target shares.

        Args:
            key: what is counted (e.g. a question form).
            candidates: answer -> a question with that answer, or None where the patch has none.
            shares: answer -> its target share (summing to 1).

        Returns:
            Among the answers with a candidate, the one furthest below its share after this question (the first
            in ``candidates`` order on a tie), or None if no answer has a candidate.
        """
        feasible = [answer for answer, question in candidates.items() if question is not None]
        if not feasible:
            return None
        total = sum(self._counts[(key, answer)] for answer in candidates) + 1
        chosen = max(feasible, key=lambda answer: shares[answer] * total - self._counts[(key, answer)])
        self._counts[(key, chosen)] += 1
        return chosen

    def letter(self, key: Hashable, rng: np.random.Generator) -> int:
        """Return the position (0..3) for the right option of a multiple-choice question: the least used."""
        counts = [self._counts[(key, "letter", i)] for i in range(len(LETTERS))]
        best = [i for i, count in enumerate(counts) if count == min(counts)]
        chosen = draw(best, rng)
        self._counts[(key, "letter", chosen)] += 1
        return chosen

    def item(self, key: Hashable, items: Sequence[T], answer: bool, rng: np.random.Generator) -> T:
        """Choose an item (e.g. a class) to ask a yes/no question about, evening out the answers per item.

        The item whose count of ``answer`` trails its count of the other answer the most is chosen, so that each
        item gets yes and no about equally often and the question alone does not give the answer away.
        """
        scores = [self._counts[(key, item, answer)] - self._counts[(key, item, not answer)] for item in items]
        best = [item for item, score in zip(items, scores, strict=True) if score == min(scores)]
        chosen = draw(best, rng)
        self._counts[(key, chosen, answer)] += 1
        return chosen

    def release(self, key: Hashable, answer: bool, item: object) -> None:
        """Take back an :meth:`answer` and :meth:`item` choice whose question was not used after all."""
        self._counts[(key, answer)] -= 1
        self._counts[(key, item, answer)] -= 1
