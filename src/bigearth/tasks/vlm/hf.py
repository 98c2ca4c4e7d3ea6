"""A local Hugging Face image-text-to-text checkpoint as a :class:`~bigearth.tasks.vlm.predict.TextGenerator`.

The model reads true-colour composites (:func:`~bigearth.text.instruct.true_colour`) at the input size of its
image processor and the prompt of each sample in its processor's chat template (``apply_chat_template``), so any
checkpoint whose processor has a chat template works: LLaVA, Qwen2-VL, Idefics3/SmolVLM, ... Generation is
greedy (``do_sample=False``) and batched, prompts padded on the left.

Training batches (:class:`TrainingCollate`) hold the prompt and the target in the chat template; the loss is the
language-model loss on the target tokens only (prompt, image and padding tokens get the label -100).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bigearth.errors import ConfigError
from bigearth.folders.vlm import load_hf_checkpoint, read_finetune_info
from bigearth.tasks.vlm.predict import ImageSpec
from bigearth.text.instruct import TRUE_COLOUR_BANDS, InstructSample, chat_messages, true_colour

#: Label of tokens without loss (PyTorch's cross-entropy ``ignore_index``).
IGNORE = -100
#: Box style of checkpoints that bigearth did not fine-tune.
DEFAULT_BOX_STYLE = "tags"


def processor_image_size(processor: Any) -> int | tuple[int, int] | None:
    """Return the input size that a processor resizes images to (None where it keeps the size, e.g. Qwen2-VL)."""
    images = processor.image_processor
    for key in ("crop_size", "size"):
        size = getattr(images, key, None)
        if key == "crop_size" and not getattr(images, "do_center_crop", False):
            continue
        if isinstance(size, dict) and "height" in size and "width" in size:
            return int(size["height"]), int(size["width"])
        if isinstance(size, dict) and "shortest_edge" in size:
            return int(size["shortest_edge"])
    return None


def _prompts(processor: Any, samples: Sequence[InstructSample], box_style: str, *, with_target: bool) -> list[str]:
    return [
        processor.apply_chat_template(chat_messages(sample, box_style, with_target=with_target),
                                      add_generation_prompt=not with_target, tokenize=False)
        for sample in samples
    ]  # fmt: skip


class HFGenerator:
    """Greedy, batched generation with a Hugging Face image-text-to-text model.

    Args:
        model: the transformers model (on its device, in evaluation mode).
        processor: its processor (with a chat template).
        box_style: how its prompts ask for boxes (the style it was fine-tuned on).
    """

    image_spec = ImageSpec(TRUE_COLOUR_BANDS, normalise=False)

    def __init__(self, model: Any, processor: Any, *, box_style: str = DEFAULT_BOX_STYLE) -> None:
        if getattr(processor, "chat_template", None) is None:
            raise ConfigError(
                f"the processor ({type(processor).__name__}) has no chat template; add the checkpoint's "
                "chat_template.jinja to its folder"
            )
        self.model, self.processor, self.box_style = model, processor, box_style
        self.image_size = processor_image_size(processor)
        self.generated_tokens = 0

    def inputs(self, samples: Sequence[InstructSample], images: Tensor, texts: list[str]) -> dict[str, Tensor]:
        """Return the processor's tensors for texts and the samples' composites, on the model's device."""
        pixels = true_colour(images, self.image_size)
        encoded = self.processor(images=list(pixels), text=texts, return_tensors="pt", padding=True)
        dtype = self.model.dtype
        return {key: value.to(self.model.device, dtype=dtype if value.is_floating_point() else None)
                for key, value in encoded.items()}  # fmt: skip

    @torch.no_grad()
    def generate(self, samples: Sequence[InstructSample], images: Tensor, max_new_tokens: int) -> list[str]:
        """Return one greedy answer per sample (see :class:`~bigearth.tasks.vlm.predict.TextGenerator`)."""
        tokenizer = self.processor.tokenizer
        side, tokenizer.padding_side = tokenizer.padding_side, "left"
        try:
            inputs = self.inputs(samples, images, _prompts(self.processor, samples, self.box_style, with_target=False))
        finally:
            tokenizer.padding_side = side
        output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        new = output[:, inputs["input_ids"].shape[1] :]
        ends = [token for token in (tokenizer.pad_token_id, tokenizer.eos_token_id) if token is not None]
        self.generated_tokens += int((~np.isin(new.cpu().numpy(), ends)).sum())
        return [text.strip() for text in self.processor.batch_decode(new, skip_special_tokens=True)]


class TrainingCollate:
    """Turn ``{"samples", "image"}`` batches (:class:`~bigearth.text.instruct.InstructDataset`) into model inputs.

    The labels are the input ids of the target part (the tokens after the prompt with its generation prompt), -100
    elsewhere; padding is on the right.
    """

    def __init__(self, processor: Any, box_style: str) -> None:
        self.processor, self.box_style = processor, box_style
        self.image_size = processor_image_size(processor)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Return ``input_ids``, ``attention_mask``, the processor's image tensors and ``labels``."""
        samples, images = batch["samples"], true_colour(batch["image"], self.image_size)
        tokenizer = self.processor.tokenizer
        side, tokenizer.padding_side = tokenizer.padding_side, "right"
        try:
            full = self.processor(images=list(images), text=_prompts(self.processor, samples, self.box_style,
                                  with_target=True), return_tensors="pt", padding=True)  # fmt: skip
            prompts = self.processor(images=list(images), text=_prompts(self.processor, samples, self.box_style,
                                     with_target=False), return_tensors="pt", padding=True)  # fmt: skip
        finally:
            tokenizer.padding_side = side
        labels = full["input_ids"].clone()
        prompt_length = prompts["attention_mask"].sum(dim=1)
        width = min(prompts["input_ids"].shape[1], labels.shape[1])
        positions = torch.arange(width)[None]
        inside = positions < prompt_length[:, None]
        if not torch.equal(labels[:, :width][inside], prompts["input_ids"][:, :width][inside]):
            raise ConfigError(
                "the processor's chat template does not write the prompt (with its generation prompt) as the start "
                "of the prompt with its answer; the answer tokens cannot be told apart: give the checkpoint a chat "
                "template whose assistant turn starts with the generation prompt"
            )
        positions = torch.arange(labels.shape[1])[None]
        labels[(positions < prompt_length[:, None]) | (full["attention_mask"] == 0)] = IGNORE
        return {**full, "labels": labels}


def load_hf_generator(path: Path, *, device: str | torch.device = "cpu", dtype: Any = None) -> HFGenerator:
    """Load a checkpoint folder as a generator (the box style of its fine-tuning, else :data:`DEFAULT_BOX_STYLE`).

    The weights are bf16 on CUDA (unless ``dtype`` says otherwise), float32 elsewhere.

    Raises:
        MissingDataError, CorruptDataError: see :func:`~bigearth.folders.vlm.load_hf_checkpoint`.
    """
    if dtype is None and torch.device(device).type == "cuda":
        dtype = torch.bfloat16
    model, processor = load_hf_checkpoint(path, dtype=dtype)
    info = read_finetune_info(path)
    return HFGenerator(model.to(device).eval(), processor, box_style=info.get("box_style", DEFAULT_BOX_STYLE))
