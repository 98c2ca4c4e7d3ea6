"""Text search over patches with a CLIP model folder (``bigearth search``), and its contact sheet.

Every patch of a split (or of the whole data) is embedded with the model's bands and statistics
(:mod:`bigearth.features`); the query is tokenised with the model's vocabulary and embedded by the text tower;
patches are ranked by the cosine of the two embeddings (the score, in [-1, 1]; higher is more similar).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from bigearth.errors import ConfigError
from bigearth.features import iterate_images, model_transform, open_dataset
from bigearth.models.clip.model import CLIPModel
from bigearth.models.vqa.tokenizer import QuestionTokenizer

#: Bands of a contact sheet tile, in order of preference: true colour, else the S1 VV backscatter.
TRUE_COLOUR, RADAR = ("B04", "B03", "B02"), ("VV",)


@dataclass(frozen=True)
class SearchResult:
    """The best matches of one query.

    Attributes:
        query: the text searched for.
        patch_ids: the k best patches, best first.
        scores: their cosine similarities to the query, in [-1, 1].
        searched: how many patches were ranked.
        truncated: whether the query was cut to the model's token length.
    """

    query: str
    patch_ids: list[str]
    scores: list[float]
    searched: int
    truncated: bool


def check_query(query: str, k: int) -> None:
    """Refuse an empty query and k < 1.

    Raises:
        ConfigError: naming the value and what to give instead.
    """
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f'the query is {query!r}: describe what to find in words, e.g. "coastal wetlands"')
    if k < 1:
        raise ConfigError(f"k = {k}: ask for at least 1 patch")


@torch.inference_mode()
def search(
    model: CLIPModel, tokenizer: QuestionTokenizer, data: Path, query: str, *, k: int = 10, split: str | None = None,
    batch_size: int = 64,
) -> SearchResult:  # fmt: skip
    """Return the ``k`` patches of ``data`` whose embeddings are closest to the query's (all, if fewer).

    Args:
        model: the CLIP network (its device is used).
        tokenizer: its tokenizer.
        data: store folder or release root.
        query: the text to search for.
        k: how many patches to return.
        split: ``train``, ``validation``, ``test`` or None (every patch).
        batch_size: patches per forward pass.

    Raises:
        ConfigError: for an empty query, k < 1, or data whose band or class order differs from the model's.
        MissingDataError: if the data lacks a sensor the model reads.
    """
    check_query(query, k)
    tokens = tokenizer.encode([query])
    device = model.logit_scale.device
    text = model.encode_text(tokens.input_ids.to(device), tokens.attention_mask.to(device))[0]
    dataset = open_dataset(model, Path(data), split=split)  # type: ignore[arg-type]
    names: list[str] = []
    scores = []
    for batch, images in iterate_images(model, dataset, batch_size=batch_size):  # type: ignore[arg-type]
        scores.append((model.encode_image(images) @ text).float().cpu())
        names.extend(batch["patch_id"])
    similarity = torch.cat(scores) if scores else torch.empty(0)
    top = similarity.topk(min(k, len(similarity)))
    return SearchResult(query=query, patch_ids=[names[i] for i in top.indices.tolist()],
                        scores=top.values.tolist(), searched=len(names),
                        truncated=bool(tokens.truncated[0]))  # fmt: skip


def _tile(values: np.ndarray) -> np.ndarray:
    """Return ``(H, W, 3)`` or ``(H, W)`` values in 0..1 of ``(c, H, W)`` bands (2nd-98th percentile stretch)."""
    low, high = np.percentile(values, (2, 98))
    scaled = np.clip((values - low) / max(high - low, 1e-6), 0, 1)
    return scaled.transpose(1, 2, 0) if len(values) == 3 else scaled[0]


@torch.inference_mode()
def contact_sheet(model: CLIPModel, data: Path, result: SearchResult, *, split: str | None = None) -> Figure:
    """Draw the matches of a search as a grid of tiles (true colour, else VV) titled with patch and score.

    Raises:
        ConfigError: if the model reads neither the true-colour bands nor VV.
        MissingDataError: if a patch is no longer in the data.
    """
    bands = list(model.metadata.bands)
    shown = next((triple for triple in (TRUE_COLOUR, RADAR) if all(band in bands for band in triple)), None)
    if shown is None:
        raise ConfigError(f"the model reads {bands}: a contact sheet needs B04, B03, B02 or VV")
    dataset = open_dataset(model, Path(data), split=split).restrict(result.patch_ids)  # type: ignore[arg-type]
    transform = model_transform(model)  # type: ignore[arg-type]
    rows = [bands.index(band) for band in shown]
    mean = torch.tensor(model.metadata.mean)[rows].view(-1, 1, 1)
    std = torch.tensor(model.metadata.std)[rows].view(-1, 1, 1)
    columns = min(5, max(1, len(result.patch_ids)))
    lines = max(1, -(-len(result.patch_ids) // columns))
    figure = Figure(figsize=(2.4 * columns, 2.6 * lines + 0.5), layout="constrained")
    axes = np.atleast_1d(figure.subplots(lines, columns, squeeze=False)).ravel()
    for axis in axes:
        axis.set_axis_off()
    images = transform(dataset.__getitems__(list(range(len(dataset))))["groups"])[:, rows]
    for rank, (axis, image, name, score) in enumerate(
        zip(axes, images, result.patch_ids, result.scores, strict=False), start=1
    ):
        axis.imshow(_tile((image * std + mean).numpy()), cmap="gray" if shown == RADAR else None)
        head, _, tail = name.partition("_N")  # the patch name on two lines: product and date / tile and position
        axis.set_title(f"{rank}. score {score:.3f}\n{head}\n{'_N' + tail if tail else ''}", fontsize=6)
    figure.suptitle(f'"{result.query}" ({" ".join(shown)}; cosine similarity)', fontsize=9)
    return figure
