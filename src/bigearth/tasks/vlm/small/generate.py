"""The built-in VLM as a :class:`~bigearth.tasks.vlm.predict.TextGenerator` (``bigearth vlm predict/evaluate``).

The end of a training run calls it too. Prompts are the rows' ``input`` (the model learnt the answer forms from
its targets, so the sentences that :meth:`~bigearth.text.instruct.InstructSample.prompt` appends for Hugging Face
checkpoints are left out), padded on the left and continued together until every row has closed with ``[SEP]``
or written ``max_new_tokens`` tokens. Box generations are read back from the model's whole-percent form into the
released JSON form (:func:`~bigearth.models.vlm.tokenizer.read_boxes`); one that does not read is returned as
generated, so that :func:`~bigearth.text.instruct.parse_generation` counts it as unparsable and writes ``[]``.
"""

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from bigearth.folders.vlm_small import load_small_vlm
from bigearth.models.vlm.model import SmallVLM
from bigearth.models.vlm.tokenizer import VLMTokenizer, read_boxes
from bigearth.tasks.vlm.predict import ImageSpec
from bigearth.tasks.vlm.small.data import SequenceEncoder, pad
from bigearth.text.instruct import InstructSample
from bigearth.text.schema import DETECTION


class SmallVLMGenerator:
    """Greedy generation of a :class:`~bigearth.models.vlm.model.SmallVLM` (the TextGenerator protocol).

    Args:
        model: the network (put in evaluation mode).
        tokenizer: its tokenizer.

    Images are given in native units (:attr:`image_spec`) and standardised with the encoder's own statistics.
    """

    def __init__(self, model: SmallVLM, tokenizer: VLMTokenizer) -> None:
        self.model = model.eval()
        self.encoder = SequenceEncoder(tokenizer, model.config.max_length)
        metadata = model.encoder.metadata
        self.image_spec = ImageSpec(bands=metadata.bands, normalise=False)
        self.mean = torch.tensor(metadata.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(metadata.std).view(1, -1, 1, 1)
        self.generated_tokens = 0

    @torch.no_grad()
    def generate(self, samples: Sequence[InstructSample], images: Tensor, max_new_tokens: int) -> list[str]:
        """Return one greedy generation per sample, boxes in the released JSON form.

        Args:
            samples: B samples.
            images: ``(B, C, 120, 120)`` float32 in native units, row i the image of sample i (each distinct
                patch is encoded once).
            max_new_tokens: the most tokens generated per sample.
        """
        device = next(self.model.parameters()).device
        names = [sample.patch_id for sample in samples]
        first = {name: i for i, name in reversed(list(enumerate(names)))}
        distinct = list(first)
        image_index = torch.tensor([distinct.index(name) for name in names], device=device)
        pixels = (images[[first[name] for name in distinct]] - self.mean) / self.std
        image_tokens = self.model.encode_images(pixels.to(device))[image_index]
        rows, _ = self.encoder.prompts([sample.input for sample in samples])
        input_ids, attention_mask = pad(rows, self.encoder.tokenizer.pad_id, left=True)
        end = self.encoder.tokenizer.sep_id
        written = self.model.generate(image_tokens, input_ids.to(device), attention_mask.to(device),
                                      max_new_tokens=max_new_tokens, end_id=end).tolist()  # fmt: skip
        self.generated_tokens += sum(row.index(end) + 1 if end in row else len(row) for row in written)
        texts = [self.encoder.tokenizer.decode(row) for row in written]
        return [
            (read_boxes(text) or text) if sample.type == DETECTION else text
            for sample, text in zip(samples, texts, strict=True)
        ]


def load_small_vlm_generator(path: Path, *, device: str | torch.device = "cpu") -> SmallVLMGenerator:
    """Load a built-in VLM folder (or a run folder) as a generator on ``device``.

    Raises:
        MissingDataError, CorruptDataError: see :func:`~bigearth.folders.vlm_small.load_small_vlm`.
    """
    return SmallVLMGenerator(*load_small_vlm(path, device=device))
