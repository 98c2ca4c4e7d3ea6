"""Retrieval metrics with multi-label relevance, for the two protocols of :mod:`bigearth.retrieval.evaluate`.

Protocol ``csmae`` (the published figure; DESIGN 2.7): the label-overlap scores of the reference code [0], for
one query with label set ``L_q`` and its top k ``r_1..r_k`` with label sets ``L_i``:

* **P** ``= mean_i |L_q & L_i| / |L_i|`` and **R** ``= mean_i |L_q & L_i| / |L_q|``, each averaged over the
  queries;
* **F1** ``= 2 P R / (P + R)`` of the two means (not a mean of per-query F1s).

[0] jakhac/CSMAE, ``retrieval.py`` (``main``: the loop over ``topk_labels`` and ``avg_f1``),
https://github.com/jakhac/CSMAE

Protocol ``map`` (bigearth's extra, binary relevance), for one query and its ranked list:

* **relevant**: an archive patch is relevant to a query when it shares at least one label with it
  (``|L_q & L_a| >= 1``); ``R`` is the number of relevant patches in the archive (the query itself excluded).
* **precision@k**: relevant patches among the first k, over k.
* **recall@k**: relevant patches among the first k, over R.
* **F1@k**: the harmonic mean of the query's precision@k and recall@k (0 when both are 0).
* **AP@k**: ``(1 / min(k, R)) * sum_{i <= k} precision@i * rel_i``, with ``rel_i`` = 1 when the i-th result is
  relevant; **mAP@k** is its mean over the queries.

Every score is averaged over the queries that have at least one relevant patch in the archive (the others have
no defined recall or AP); the result says how many queries that left.
"""

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

OVERLAP_DEFINITIONS = {
    "precision": "per retrieved image |labels(q) & labels(r)| / |labels(r)|, averaged over the top k and the queries",
    "recall": "per retrieved image |labels(q) & labels(r)| / |labels(q)|, averaged over the top k and the queries",
    "f1": "2 P R / (P + R) of the mean precision P and the mean recall R",
}

BINARY_DEFINITIONS = {
    "relevant": "an archive patch that shares at least one label with the query",
    "precision": "relevant patches among the first k, over k",
    "recall": "relevant patches among the first k, over all relevant patches in the archive",
    "f1": "harmonic mean of a query's precision@k and recall@k, averaged over queries",
    "map": "mean over queries of AP@k = sum_{i<=k} precision@i * rel_i / min(k, R)",
}


@dataclass(frozen=True)
class OverlapScores:
    """Label-overlap retrieval scores of a set of queries (protocol ``csmae``).

    Attributes:
        k: the cut-off.
        precision: mean over queries and their top k of ``|L_q & L_r| / |L_r|``.
        recall: mean over queries and their top k of ``|L_q & L_r| / |L_q|``.
        f1: harmonic mean of ``precision`` and ``recall``.
        queries: queries scored.
    """

    k: int
    precision: float
    recall: float
    f1: float
    queries: int

    def to_dict(self) -> dict[str, float | int]:
        """Return the scores as a dict."""
        return asdict(self)


def overlap_scores(query_labels: Tensor, retrieved_labels: Tensor) -> OverlapScores:
    """Score ranked lists by label overlap, as the CSMAE reference code does.

    Args:
        query_labels: ``(Q, C)`` multi-hot labels of the queries.
        retrieved_labels: ``(Q, k, C)`` multi-hot labels of each query's top k.

    Raises:
        ValueError: if the shapes disagree, k or Q is 0, or a query or a retrieved patch has no label (its
            precision or recall would divide by zero).
    """
    if query_labels.ndim != 2 or retrieved_labels.ndim != 3 or retrieved_labels.shape[::2] != query_labels.shape:
        raise ValueError(f"query_labels {tuple(query_labels.shape)} must be (Q, C) and retrieved_labels "
                         f"{tuple(retrieved_labels.shape)} (Q, k, C)")  # fmt: skip
    queries, k = retrieved_labels.shape[:2]
    if not queries or not k:
        raise ValueError(f"need at least one query and k >= 1, got {queries} queries and k = {k}")
    query, retrieved = query_labels.bool(), retrieved_labels.bool()
    query_sizes, retrieved_sizes = query.sum(dim=1), retrieved.sum(dim=2)  # (Q,), (Q, k)
    if (query_sizes == 0).any() or (retrieved_sizes == 0).any():
        raise ValueError("a query or a retrieved patch has no label: its precision or recall is undefined")
    common = (query[:, None, :] & retrieved).sum(dim=2).double()  # (Q, k): |L_q & L_r|
    precision = float((common / retrieved_sizes).mean())
    recall = float((common / query_sizes[:, None]).mean())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return OverlapScores(k=k, precision=precision, recall=recall, f1=f1, queries=queries)


@dataclass(frozen=True)
class RetrievalScores:
    """Mean binary-relevance retrieval metrics of a set of queries (protocol ``map``).

    Attributes:
        k: the cut-off.
        precision: mean precision@k.
        recall: mean recall@k.
        f1: mean F1@k.
        map: mean AP@k.
        queries: queries scored (those with at least one relevant archive patch).
    """

    k: int
    precision: float
    recall: float
    f1: float
    map: float
    queries: int

    def to_dict(self) -> dict[str, float | int]:
        """Return the scores as a dict."""
        return asdict(self)


def shares_label(query_labels: Tensor, archive_labels: Tensor) -> Tensor:
    """Return ``(Q, N)`` bool: whether each archive patch shares a label with each query.

    Args:
        query_labels: ``(Q, C)`` multi-hot.
        archive_labels: ``(N, C)`` multi-hot.
    """
    return (query_labels.float() @ archive_labels.float().T) > 0


def retrieval_scores(relevant_retrieved: Tensor, relevant_total: Tensor) -> RetrievalScores:
    """Score ranked lists.

    Args:
        relevant_retrieved: ``(Q, k)`` bool, whether the i-th result of each query is relevant.
        relevant_total: ``(Q,)`` relevant archive patches per query (R).

    Raises:
        ValueError: if the shapes disagree, k is 0, or no query has a relevant archive patch.
    """
    if relevant_retrieved.ndim != 2 or relevant_total.shape != relevant_retrieved.shape[:1]:
        raise ValueError(f"relevant_retrieved {tuple(relevant_retrieved.shape)} must be (Q, k) and relevant_total "
                         f"{tuple(relevant_total.shape)} (Q,)")  # fmt: skip
    k = relevant_retrieved.shape[1]
    if k == 0:
        raise ValueError("k must be at least 1")
    scored = relevant_total > 0
    if not scored.any():
        raise ValueError("no query has a relevant patch in the archive: the metrics are undefined")
    hits = relevant_retrieved[scored].float()  # (Q', k)
    total = relevant_total[scored].float()
    found = hits.sum(dim=1)
    precision = found / k
    recall = found / total
    f1 = torch.where(found > 0, 2 * precision * recall / (precision + recall).clamp_min(1e-12), 0.0)
    precision_at_i = hits.cumsum(dim=1) / torch.arange(1, k + 1)  # (Q', k)
    average_precision = (precision_at_i * hits).sum(dim=1) / total.clamp(max=k)
    return RetrievalScores(k=k, precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean()),
                           map=float(average_precision.mean()), queries=int(scored.sum()))  # fmt: skip
