"""Vision-language models on BigEarthNet.txt: instruction fine-tuning, generation and scoring.

* :mod:`bigearth.tasks.vlm.predict`: the model-independent generation interface (:class:`TextGenerator`),
  predictions files and score reports;
* :mod:`bigearth.tasks.vlm.hf`: any local Hugging Face image-text-to-text checkpoint as a generator;
* :mod:`bigearth.tasks.vlm.finetune`: LoRA (or full) fine-tuning of such a checkpoint;
* :mod:`bigearth.tasks.vlm.load`: which generator a model folder is.

The instruction data (prompts, targets, boxes, the true-colour composite) is :mod:`bigearth.text.instruct`.
"""

from bigearth.tasks.vlm.predict import ImageSpec, TextGenerator

__all__ = ["ImageSpec", "TextGenerator"]
