"""Greedy generation of the built-in VLM over a split, as a predictions file that ``bigearth text evaluate`` scores.

Prompts are padded on the left and continued together (batches of patches, each with all its texts) until every
row has closed with ``[SEP]`` or written ``max_new_tokens`` tokens. Generations are decoded to text; box rows are
read back from the model's whole-percent form into the released JSON form
(:func:`~bigearth.models.vlm.tokenizer.read_boxes`). A box generation that does not read (a box never closed, a
stray word) becomes ``[]`` (no box, IoU 0) and is counted in :attr:`Predictions.unparsable`; yes/no and letter
answers go out as written and ``text evaluate`` counts the unparsable ones.
"""

from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from bigearth.data.dataset import finish_batch
from bigearth.data.transforms import BatchTransform
from bigearth.models.vlm.model import SmallVLM
from bigearth.models.vlm.tokenizer import read_boxes
from bigearth.tasks.vlm.small.data import SequenceEncoder, VLMDataset, pad
from bigearth.text.schema import DETECTION

#: What a box generation that does not read becomes: no box.
NO_BOX = "[]"


@dataclass(frozen=True)
class Predictions:
    """Generated answers of a split.

    Attributes:
        frame: ``ID``, ``prediction`` (released forms) and ``generated`` (the decoded text) per row.
        unparsable: box rows whose generation did not read as boxes (written as ``[]``).
        truncated: prompts cut to fit ``max_length``.
        tokens: tokens generated in all.
    """

    frame: pd.DataFrame
    unparsable: int
    truncated: int
    tokens: int


def released_answer(row_type: str, generated: str) -> str | None:
    """Return a generation in the released form of its type (None for a box text that does not read)."""
    return read_boxes(generated) if row_type == DETECTION else generated.strip()


@torch.no_grad()
def generate_batch(
    model: SmallVLM, encoder: SequenceEncoder, images: Tensor, image_index: Tensor, prompts: list[str], *,
    max_new_tokens: int,
) -> tuple[list[str], int, int]:  # fmt: skip
    """Return the decoded generations of prompts about images, the prompts cut and the tokens written.

    Args:
        model: the network (in evaluation mode).
        encoder: the model's sequence encoder.
        images: ``(P, C, H, W)`` normalised images on the model's device.
        image_index: ``(B,)`` int64, the image of each prompt.
        prompts: the B prompts.
        max_new_tokens: the most tokens per generation.
    """
    rows, cut = encoder.prompts(prompts)
    input_ids, attention_mask = pad(rows, encoder.tokenizer.pad_id, left=True)
    device = images.device
    image_tokens = model.encode_images(images)[image_index.to(device)]
    written = model.generate(image_tokens, input_ids.to(device), attention_mask.to(device),
                             max_new_tokens=max_new_tokens, end_id=encoder.tokenizer.sep_id).cpu()  # fmt: skip
    lengths = [row.index(encoder.tokenizer.sep_id) + 1 if encoder.tokenizer.sep_id in row else len(row)
               for row in written.tolist()]  # fmt: skip
    return [encoder.tokenizer.decode(row) for row in written.tolist()], cut, sum(lengths)


def predict_split(
    model: SmallVLM, dataset: VLMDataset, encoder: SequenceEncoder, transform: BatchTransform, *, batch_size: int,
    max_new_tokens: int,
) -> Predictions:  # fmt: skip
    """Generate an answer for every row of a split.

    Args:
        model: the network (in evaluation mode, on its device).
        dataset: the split's rows and images.
        encoder: the model's sequence encoder.
        transform: the image encoder's batch transform.
        batch_size: patches per generation batch.
        max_new_tokens: the most tokens per generation.
    """
    device = next(model.parameters()).device
    answers = pd.Series("", index=dataset.texts.index, dtype=object)
    generated = answers.copy()
    unparsable = truncated = tokens = 0
    for start in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))
        if "groups" in batch:
            batch = finish_batch(batch, transform.to(device))
        rows = batch["sample"].numpy()
        texts, cut, written = generate_batch(model, encoder, batch["image"].to(device), batch["image_index"],
                                             list(dataset.texts["input"].iloc[rows]),
                                             max_new_tokens=max_new_tokens)  # fmt: skip
        truncated, tokens = truncated + cut, tokens + written
        for row, text, kind in zip(rows, texts, dataset.texts["type"].iloc[rows], strict=True):
            answer = released_answer(kind, text)
            unparsable += answer is None
            answers.iloc[row], generated.iloc[row] = NO_BOX if answer is None else answer, text
    frame = pd.DataFrame({"ID": dataset.texts["ID"], "prediction": answers, "generated": generated})
    return Predictions(frame=frame, unparsable=int(unparsable), truncated=truncated, tokens=tokens)
