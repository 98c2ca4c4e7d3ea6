"""Asking a VQA model folder questions about one patch: from a store or release root, or from GeoTIFF folders.

The patch goes through the model's own batch transform (its bands, resampling and normalisation statistics,
:func:`bigearth.evaluation.predict.model_transform`) after the data's band order was checked against the model;
the question through the model's tokenizer. Scores are the sigmoid of each answer's logit (the model was trained
with binary cross-entropy, one decision per answer), so they need not sum to one.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bigearth.errors import ConfigError
from bigearth.evaluation.loose_patches import pair_patches, read_groups
from bigearth.features import model_transform, open_dataset
from bigearth.models.vqa.model import VQAModel
from bigearth.models.vqa.tokenizer import QuestionTokenizer


@dataclass(frozen=True)
class Answer:
    """The top answers to one question.

    Attributes:
        question: the question as asked.
        answers: ``(answer, score)`` pairs, the highest score first.
        truncated: whether the question was cut to the model's token limit.
        unknown_tokens: word pieces outside the vocabulary (read as ``[UNK]``).
        tokens: the word pieces the model read.
    """

    question: str
    answers: list[tuple[str, float]]
    truncated: bool
    unknown_tokens: int
    tokens: list[str]


def patch_groups(
    model: VQAModel,
    *,
    data: Path | None = None,
    patch_id: str | None = None,
    s2_dir: Path | None = None,
    s1_dir: Path | None = None,
) -> tuple[str, dict[str, Tensor]]:
    """Read one patch in the model's bands as raw band groups.

    Either ``data`` and ``patch_id`` (a store or release root, any split) or ``s2_dir`` / ``s1_dir`` (GeoTIFF patch
    folders as distributed).

    Returns:
        The patch name and its band groups ``{group: (1, n, s, s)}``.

    Raises:
        ConfigError: if both sources or neither are given, or folders hold more than one patch.
        MissingDataError: if the patch, a band file or a modality the model reads is missing.
        CorruptDataError: if a band has the wrong size or type.
    """
    folders = s2_dir is not None or s1_dir is not None
    if (data is not None) == folders or (data is not None and not patch_id):
        raise ConfigError("pass either --data PATH --id PATCH_ID or --s2-dir DIR [--s1-dir DIR]")
    if data is not None:
        dataset = open_dataset(model, data, split=None).restrict([str(patch_id)])  # type: ignore[arg-type]
        return str(patch_id), dataset.__getitems__([0])["groups"]
    patches = pair_patches(s2_dir, s1_dir, model.metadata.bands)
    if len(patches) != 1:
        raise ConfigError(f"the folders hold {len(patches)} patches; pass the folder of the one patch to ask about")
    return patches[0].name, read_groups(patches, model.metadata.bands)


@torch.inference_mode()
def ask(
    model: VQAModel,
    tokenizer: QuestionTokenizer,
    questions: list[str],
    groups: dict[str, Tensor] | None,
    *,
    top: int = 5,
) -> list[Answer]:
    """Answer questions about one patch.

    Args:
        model: the network, in evaluation mode.
        tokenizer: its tokenizer.
        questions: the questions.
        groups: the patch's raw band groups (``{group: (1, n, s, s)}``); None for a question-only model.
        top: answers to return per question.

    Raises:
        QuestionError: for an empty question.
        ValueError: if a model that reads images gets none.
    """
    device = next(model.parameters()).device
    tokens = tokenizer.encode(questions)
    images = None
    if model.uses_image:
        if groups is None:
            raise ValueError("the model answers from the image: pass the patch")
        # no statistics check needed: the raw groups are normalised with the model's own statistics here
        transform = model_transform(model).to(device)  # type: ignore[arg-type]
        images = transform({name: group.to(device) for name, group in groups.items()})
    index = torch.zeros(len(questions), dtype=torch.int64, device=device)
    logits = model(images, tokens.input_ids.to(device), tokens.attention_mask.to(device), index if images is not None
                   else None)  # fmt: skip
    scores, best = torch.sigmoid(logits.float()).cpu().topk(min(top, model.num_answers), dim=1)
    return [
        Answer(question, [(model.answers[int(i)], float(s)) for i, s in zip(best[row], scores[row], strict=True)],
               bool(tokens.truncated[row]), int(tokens.unknown[row]), tokenizer.tokens(question))
        for row, question in enumerate(questions)
    ]  # fmt: skip
