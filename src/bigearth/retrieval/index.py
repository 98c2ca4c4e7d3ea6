"""Exact nearest-neighbour search over L2-normalised features with faiss (inner product = cosine similarity)."""

from collections.abc import Sequence

import faiss
import numpy as np
import torch
from torch import Tensor

from bigearth.errors import ConfigError


def normalise(features: Tensor) -> np.ndarray:
    """Return L2-normalised float32 rows as a contiguous numpy array (what faiss reads)."""
    return np.ascontiguousarray(torch.nn.functional.normalize(features.float(), dim=1).cpu().numpy())


class FeatureIndex:
    """An exact (flat) inner-product index of an archive's features.

    Args:
        features: ``(N, D)`` archive features (normalised here).
        ids: the N archive patch ids, in row order.

    Raises:
        ConfigError: if the archive is empty or ids and rows disagree.
    """

    def __init__(self, features: Tensor, ids: Sequence[str]) -> None:
        if features.ndim != 2 or len(features) != len(ids) or not len(ids):
            raise ConfigError(f"an archive index needs (N, D) features with N = {len(ids)} ids > 0, "
                              f"got {tuple(features.shape)}")  # fmt: skip
        self.ids = list(ids)
        self.index = faiss.IndexFlatIP(features.shape[1])
        self.index.add(normalise(features))

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, queries: Tensor, k: int, *, exclude: Sequence[str | None] | None = None) -> tuple[Tensor, Tensor]:
        """Return the ``k`` most similar archive rows of each query.

        Args:
            queries: ``(Q, D)`` query features (normalised here).
            k: results per query.
            exclude: per query, an archive id not to return (the query itself), or None.

        Returns:
            ``(Q, k)`` int64 archive rows, most similar first, and ``(Q, k)`` float32 cosine similarities.

        Raises:
            ConfigError: if k is not in ``1..len(archive)`` (minus the excluded patch).
        """
        excluding = exclude is not None and any(name is not None for name in exclude)
        wanted = k + 1 if excluding else k
        if k < 1 or wanted > len(self):
            raise ConfigError(f"k = {k} must lie in 1..{len(self) - int(excluding)} for an archive of {len(self)}")
        scores, rows = self.index.search(normalise(queries), wanted)
        if not excluding:
            return torch.from_numpy(rows).long(), torch.from_numpy(scores)
        kept_rows, kept_scores = [], []
        for query_rows, query_scores, name in zip(rows, scores, exclude, strict=True):  # type: ignore[arg-type]
            keep = [i for i, row in enumerate(query_rows) if self.ids[row] != name][:k]
            kept_rows.append(query_rows[keep])
            kept_scores.append(query_scores[keep])
        return torch.from_numpy(np.stack(kept_rows)).long(), torch.from_numpy(np.stack(kept_scores))
