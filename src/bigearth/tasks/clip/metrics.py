"""CLIP evaluation: text->image recall@k on captions and zero-shot classification of the 19 classes.

Definitions (embeddings are L2-normalised, similarity = cosine):

* **text->image recall@k**: the share of captions whose own patch is among the k patches most similar to the
  caption, over the patches of the evaluated split. Ties count against the caption (a patch as similar as its own
  ranks before it), so a collapsed model that embeds every patch alike scores k / P, not 1.
* **zero-shot classification**: each class c gets the prompt ``model.prompt`` with its name in lower case
  (``"This image shows arable land."``); a patch's score for c is the cosine of the patch and the prompt, mapped
  to [0, 1] as ``(cos + 1) / 2`` (a monotone map: AP only depends on the order). **Macro AP** and **micro AP**
  are those of the classifiers (:func:`bigearth.evaluation.metrics.classification_report`: macro over the
  classes present in the split). Thresholded metrics (F1 at 0.5) have no meaning for cosine scores and are not
  reported.
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from bigearth.evaluation.metrics import classification_report

#: The k of recall@k.
RECALL_AT = (1, 5, 10)


def text_to_image_recall(
    texts: Tensor, images: Tensor, owner: Tensor, ks: tuple[int, ...] = RECALL_AT
) -> dict[int, float]:
    """Return recall@k of captions retrieving their own patch among ``images``.

    Args:
        texts: ``(T, D)`` L2-normalised caption embeddings.
        images: ``(P, D)`` L2-normalised patch embeddings.
        owner: ``(T,)`` int64, the row of ``images`` each caption describes.
        ks: the k values.

    Returns:
        ``{k: recall}``, recall in [0, 1].

    Raises:
        ValueError: for mismatched shapes, an owner outside ``images``, no caption, or k < 1.
    """
    if texts.ndim != 2 or images.ndim != 2 or texts.shape[1] != images.shape[1] or owner.shape != texts.shape[:1]:
        raise ValueError(
            f"need texts (T, D), images (P, D) and owner (T,), got {tuple(texts.shape)}, {tuple(images.shape)} and "
            f"{tuple(owner.shape)}"
        )
    if not len(texts) or int(owner.min()) < 0 or int(owner.max()) >= len(images):
        raise ValueError(f"need at least one caption and owners in [0, {len(images)}), got {owner.tolist()[:5]}...")
    if min(ks) < 1:
        raise ValueError(f"k must be at least 1, got {list(ks)}")
    similarity = texts.float() @ images.float().T  # (T, P)
    own = similarity.gather(1, owner.view(-1, 1))
    rank = (similarity >= own).sum(dim=1) - 1  # 0-based; patches tied with the own one rank before it
    return {k: float((rank < k).float().mean()) for k in ks}


def zero_shot_report(scores: Tensor, labels: Tensor, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Return macro and micro AP and the per-class AP of zero-shot cosine scores.

    Args:
        scores: ``(N, C)`` cosine similarities of patches and class prompts, in [-1, 1].
        labels: ``(N, C)`` 0/1 multi-hot labels.
        class_names: the C classes.
    """
    report = classification_report((scores.float() + 1) / 2, labels, class_names)
    return {
        "macro_ap": report.macro["ap"],
        "micro_ap": report.micro["ap"],
        "present_classes": len(report.present),
        "per_class_ap": dict(zip(class_names, report.per_class["ap"], strict=True)),
    }


@dataclass(frozen=True)
class CLIPReport:
    """The evaluation of one split.

    Attributes:
        patches: evaluated patches.
        captions: evaluated captions.
        recall: ``{k: text->image recall@k}``.
        zero_shot: :func:`zero_shot_report` output.
        logit_scale: the model's scale ``exp(t)`` at evaluation.
    """

    patches: int
    captions: int
    recall: dict[int, float]
    zero_shot: dict[str, Any]
    logit_scale: float = field(default=float("nan"))

    def scalars(self) -> dict[str, float]:
        """Return the logged metrics (``recall@10``, ``zero_shot_macro_ap``...)."""
        zero_shot = {f"zero_shot_{name}": self.zero_shot[name] for name in ("macro_ap", "micro_ap")}
        return {**{f"recall@{k}": value for k, value in self.recall.items()}, **zero_shot}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"patches": self.patches, "captions": self.captions, "logit_scale": self.logit_scale,
                "text_to_image_recall": {f"@{k}": value for k, value in self.recall.items()},
                "zero_shot": self.zero_shot}  # fmt: skip


class EmbeddingCollector(Metric):
    """Collects the patch and caption embeddings of a split, synced across processes, each patch and caption once.

    Shapes:
        update: ``images`` ``(P, D)``, ``labels`` ``(P, C)``, ``image_ids`` ``(P,)`` int64, ``texts`` ``(T, D)``,
        ``caption_ids`` ``(T,)`` int64, ``owner_ids`` ``(T,)`` int64 (the image id of each caption).
    """

    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in ("images", "labels", "image_ids", "texts", "caption_ids", "owner_ids"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, images: Tensor, labels: Tensor, image_ids: Tensor, texts: Tensor, caption_ids: Tensor,
               owner_ids: Tensor) -> None:  # fmt: skip
        """Add one batch."""
        values = {"images": images.float(), "labels": labels.long(), "image_ids": image_ids, "texts": texts.float(),
                  "caption_ids": caption_ids, "owner_ids": owner_ids}  # fmt: skip
        for name, value in values.items():
            getattr(self, name).append(value.detach())

    def compute(self) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """Return ``(images, labels, texts, owner)``, one row per distinct patch and caption; None if empty."""
        if isinstance(self.image_ids, list) and not self.image_ids:
            return None
        images, labels, image_ids, texts, caption_ids, owner_ids = (
            dim_zero_cat(getattr(self, name))
            for name in ("images", "labels", "image_ids", "texts", "caption_ids", "owner_ids")
        )
        image_ids, first_image = _first(image_ids)
        _, first_caption = _first(caption_ids)
        owner = torch.searchsorted(image_ids, owner_ids[first_caption])
        return images[first_image], labels[first_image], texts[first_caption], owner


def _first(ids: Tensor) -> tuple[Tensor, Tensor]:
    """Return the sorted distinct ids and the position of each one's first occurrence."""
    unique, inverse = torch.unique(ids, return_inverse=True)
    order = torch.arange(len(ids), device=ids.device)
    return unique, torch.full((len(unique),), len(ids), device=ids.device).scatter_reduce(0, inverse, order, "amin")
