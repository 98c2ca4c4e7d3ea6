"""Retrieval with any bigearth encoder: every query split patch against an archive split, or one patch by id.

Search (DESIGN 2.7): pooled features of each view (``s1`` and ``s2`` for a foundation model) are L2-normalised
and searched exactly (faiss flat inner product, :mod:`bigearth.retrieval.index`); a direction ``a->b`` queries
with view ``a`` of the query patches in view ``b`` of the archive, so a foundation model gives S1->S1, S2->S2,
S1->S2 and S2->S1. A query never retrieves itself in a same-view direction (with the protocols' disjoint splits
this changes nothing); in a cross-view direction its own other-sensor image stays in the archive.

Protocols (:data:`PROTOCOLS`; metrics: :mod:`bigearth.retrieval.metrics`):

* ``csmae`` (default, the published figure): queries = validation split, archive = test split, k = 10,
  label-overlap precision and recall per retrieved image and F1 of their means, as jakhac/CSMAE ``retrieval.py``.
* ``map``: bigearth's extra: queries = test split, archive = training split, binary relevance (a shared label),
  precision@k, recall@k, F1@k and mAP@k.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigearth.errors import ConfigError, MissingDataError
from bigearth.features import FeatureSet, extract_features
from bigearth.models.encoders import FeatureEncoder
from bigearth.retrieval.index import FeatureIndex
from bigearth.retrieval.metrics import (
    BINARY_DEFINITIONS,
    OVERLAP_DEFINITIONS,
    OverlapScores,
    RetrievalScores,
    overlap_scores,
    retrieval_scores,
    shares_label,
)


@dataclass(frozen=True)
class RetrievalProtocol:
    """A retrieval protocol: which splits query and which are searched, and how the results are scored.

    Attributes:
        name: the name reports carry.
        query_split: the default split of the queries.
        archive_split: the default split searched.
        definitions: what each reported score means.
    """

    name: str
    query_split: str
    archive_split: str
    definitions: dict[str, str]


#: The protocols ``retrieve --protocol`` takes, the default first.
PROTOCOLS = {
    "csmae": RetrievalProtocol("csmae", "validation", "test", OVERLAP_DEFINITIONS),
    "map": RetrievalProtocol("map", "test", "train", BINARY_DEFINITIONS),
}


def get_protocol(name: str) -> RetrievalProtocol:
    """Return the protocol called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the protocols.
    """
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown retrieval protocol {name!r}; use one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def directions(views: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return the query->archive view pairs: same-view ones first, then the cross-view ones."""
    return [(view, view) for view in views] + [(a, b) for a in views for b in views if a != b]


def direction_name(direction: tuple[str, str]) -> str:
    """Return ``"S1->S2"`` for ``("s1", "s2")``."""
    return "->".join(view.upper() for view in direction)


def score_direction(
    queries: FeatureSet, archive: FeatureSet, direction: tuple[str, str], *, k: int, protocol: str = "csmae"
) -> OverlapScores | RetrievalScores:
    """Search every query of view ``direction[0]`` in the archive's view ``direction[1]`` and score the top k.

    Raises:
        ConfigError: if k exceeds the archive or the protocol is unknown.
        ValueError: if a patch has no label (``csmae``) or no query has a relevant archive patch (``map``).
    """
    get_protocol(protocol)
    source, target = direction
    index = FeatureIndex(archive.views[target], archive.patch_ids)
    exclude = queries.patch_ids if source == target else None
    rows, _ = index.search(queries.views[source], k, exclude=exclude)
    if protocol == "csmae":
        return overlap_scores(queries.labels, archive.labels[rows])
    relevance = shares_label(queries.labels, archive.labels)  # (Q, N)
    if exclude is not None:  # the query itself is no candidate
        position = {name: row for row, name in enumerate(archive.patch_ids)}
        for query, name in enumerate(queries.patch_ids):
            if name in position:
                relevance[query, position[name]] = False
    return retrieval_scores(relevance.gather(1, rows), relevance.sum(dim=1))


def evaluate_retrieval(
    encoder: FeatureEncoder, data: Path, *, protocol: str = "csmae", k: int = 10, query_split: str | None = None,
    archive_split: str | None = None, batch_size: int = 64,
) -> dict[str, OverlapScores | RetrievalScores]:  # fmt: skip
    """Score retrieval in every direction the encoder's views allow.

    Args:
        encoder: the encoder.
        data: store folder or release root.
        protocol: ``csmae`` or ``map`` (:data:`PROTOCOLS`).
        k: results per query.
        query_split: split of the queries (None: the protocol's).
        archive_split: split searched (None: the protocol's).
        batch_size: patches per forward pass.

    Returns:
        ``{"S1->S1": scores, ...}``.

    Raises:
        MissingDataError: if the data lacks a sensor the encoder reads, or a split is empty.
        ConfigError: for an unknown protocol, data whose bands or classes differ from the encoder's, or k beyond
            the archive.
    """
    chosen = get_protocol(protocol)
    query_split, archive_split = query_split or chosen.query_split, archive_split or chosen.archive_split
    archive = extract_features(encoder, data, split=archive_split, batch_size=batch_size)
    queries = extract_features(encoder, data, split=query_split, batch_size=batch_size)
    if not len(queries.patch_ids) or not len(archive.patch_ids):
        raise MissingDataError(f"the {query_split} or {archive_split} split of {data} holds no patch to retrieve")
    return {direction_name(d): score_direction(queries, archive, d, k=k, protocol=protocol)
            for d in directions(encoder.views)}  # fmt: skip


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


def scores_table_rows(results: dict[str, OverlapScores | RetrievalScores]) -> list[dict[str, Any]]:
    """Return one plain row per direction (for JSON output and tables)."""
    return [{"direction": name, **scores.to_dict()} for name, scores in results.items()]
