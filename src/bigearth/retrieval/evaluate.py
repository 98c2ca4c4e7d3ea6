"""Retrieval with any bigearth encoder: every query split patch against an archive split, or one patch by id.

Protocol (DESIGN 2.7): pooled features of each view (``s1`` and ``s2`` for a foundation model) are
L2-normalised and searched exactly (faiss flat inner product, :mod:`bigearth.retrieval.index`); a direction
``a->b`` queries with view ``a`` of the query patches in view ``b`` of the archive, so a foundation model gives
S1->S1, S2->S2, S1->S2 and S2->S1. By default the queries are the test split and the archive is the training
split. A query never retrieves itself in a same-view direction; in a cross-view direction its own other-sensor
image stays in the archive (finding it is a correct, relevant answer). Metrics: :mod:`bigearth.retrieval.metrics`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigearth.errors import MissingDataError
from bigearth.models.fm.features import FeatureEncoder
from bigearth.retrieval.index import FeatureIndex
from bigearth.retrieval.metrics import RetrievalScores, retrieval_scores, shares_label
from bigearth.tasks.mae.features import FeatureSet, extract_features


def directions(views: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return the query->archive view pairs: same-view ones first, then the cross-view ones."""
    return [(view, view) for view in views] + [(a, b) for a in views for b in views if a != b]


def direction_name(direction: tuple[str, str]) -> str:
    """Return ``"S1->S2"`` for ``("s1", "s2")``."""
    return "->".join(view.upper() for view in direction)


def score_direction(queries: FeatureSet, archive: FeatureSet, direction: tuple[str, str], *, k: int) -> RetrievalScores:
    """Search every query of view ``direction[0]`` in the archive's view ``direction[1]`` and score the top k.

    Raises:
        ConfigError: if k exceeds the archive.
        ValueError: if no query has a relevant archive patch.
    """
    source, target = direction
    index = FeatureIndex(archive.views[target], archive.patch_ids)
    exclude = queries.patch_ids if source == target else None
    rows, _ = index.search(queries.views[source], k, exclude=exclude)
    relevance = shares_label(queries.labels, archive.labels)  # (Q, N)
    if exclude is not None:  # the query itself is no candidate
        position = {name: row for row, name in enumerate(archive.patch_ids)}
        for query, name in enumerate(queries.patch_ids):
            if name in position:
                relevance[query, position[name]] = False
    return retrieval_scores(relevance.gather(1, rows), relevance.sum(dim=1))


def evaluate_retrieval(
    encoder: FeatureEncoder, data: Path, *, k: int = 10, query_split: str = "test", archive_split: str = "train",
    batch_size: int = 64,
) -> dict[str, RetrievalScores]:  # fmt: skip
    """Score retrieval in every direction the encoder's views allow.

    Returns:
        ``{"S1->S1": scores, ...}``.

    Raises:
        MissingDataError: if the data lacks a sensor the encoder reads.
        ConfigError: if the data's bands or classes differ from the encoder's, or k exceeds the archive.
    """
    archive = extract_features(encoder, data, split=archive_split, batch_size=batch_size)
    queries = extract_features(encoder, data, split=query_split, batch_size=batch_size)
    if not len(queries.patch_ids) or not len(archive.patch_ids):
        raise MissingDataError(f"the {query_split} or {archive_split} split of {data} holds no patch to retrieve")
    return {direction_name(d): score_direction(queries, archive, d, k=k) for d in directions(encoder.views)}


@dataclass(frozen=True)
class Hit:
    """One retrieved archive patch."""

    rank: int
    patch_id: str
    similarity: float
    labels: list[str]
    relevant: bool


def query_patch(
    encoder: FeatureEncoder, data: Path, patch_id: str, *, k: int = 10, archive_split: str = "train",
    batch_size: int = 64,
) -> tuple[list[str], dict[str, list[Hit]]]:  # fmt: skip
    """Retrieve the archive patches most similar to one patch, in every direction.

    Args:
        encoder: the encoder.
        data: store folder or release root.
        patch_id: the query's S2 patch id (any split, snowy and cloudy patches excluded as everywhere).
        k: results per direction.
        archive_split: the split searched.
        batch_size: patches per forward pass.

    Returns:
        The query's labels and ``{"S1->S2": [Hit, ...], ...}``.

    Raises:
        MissingDataError: if ``patch_id`` is not in the data.
    """
    query = extract_features(encoder, data, split=None, ids=[patch_id], batch_size=1)
    archive = extract_features(encoder, data, split=archive_split, batch_size=batch_size)
    names = encoder.metadata.class_names
    query_labels = [names[i] for i in query.labels[0].nonzero().flatten().tolist()]
    relevance = shares_label(query.labels, archive.labels)[0]
    results: dict[str, list[Hit]] = {}
    for source, target in directions(encoder.views):
        index = FeatureIndex(archive.views[target], archive.patch_ids)
        exclude = [patch_id] if source == target and patch_id in archive.patch_ids else None
        rows, scores = index.search(query.views[source], k, exclude=exclude)
        results[direction_name((source, target))] = [
            Hit(rank=rank + 1, patch_id=archive.patch_ids[row], similarity=float(score),
                labels=[names[i] for i in archive.labels[row].nonzero().flatten().tolist()],
                relevant=bool(relevance[row]))
            for rank, (row, score) in enumerate(zip(rows[0].tolist(), scores[0].tolist(), strict=True))
        ]  # fmt: skip
    return query_labels, results


def scores_table_rows(results: dict[str, RetrievalScores]) -> list[dict[str, Any]]:
    """Return one plain row per direction (for JSON output and tables)."""
    return [{"direction": name, **scores.to_dict()} for name, scores in results.items()]
