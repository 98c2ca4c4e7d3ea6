"""Which generator a model folder is: ``bigearth vlm predict/evaluate`` dispatch on the folder kind.

:data:`GENERATORS` maps a folder kind (:func:`~bigearth.folders.vlm.folder_kind`: ``"hf"`` for a Hugging Face
image-text-to-text checkpoint, else the ``task`` of a bigearth model folder) to ``"module:function"`` loading it
as a :class:`~bigearth.tasks.vlm.predict.TextGenerator` (``load(path, *, device)``); a new model adds one entry.
"""

import importlib
from pathlib import Path

import torch

from bigearth.errors import CorruptDataError
from bigearth.folders.format import SMALL_VLM_TASK
from bigearth.folders.vlm import HF_KIND, folder_kind
from bigearth.tasks.vlm.predict import TextGenerator

#: Folder kind -> ``"module:function"`` loading it as a generator.
GENERATORS: dict[str, str] = {
    HF_KIND: "bigearth.tasks.vlm.hf:load_hf_generator",
    SMALL_VLM_TASK: "bigearth.tasks.vlm.small.generate:load_small_vlm_generator",
}


def load_generator(path: Path, *, device: str | torch.device = "cpu") -> TextGenerator:
    """Load a model folder as a text generator on ``device``.

    Raises:
        MissingDataError: if the folder or its files are missing.
        CorruptDataError: if it is neither an image-text-to-text checkpoint nor a bigearth VLM folder.
    """
    kind = folder_kind(Path(path))
    if kind not in GENERATORS:
        raise CorruptDataError(
            f"{path} is a bigearth {kind!r} model folder, not a vision-language model; give an image-text-to-text "
            f"checkpoint or a VLM folder ({sorted(GENERATORS)})"
        )
    module, _, function = GENERATORS[kind].partition(":")
    return getattr(importlib.import_module(module), function)(Path(path), device=device)
