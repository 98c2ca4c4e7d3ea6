"""Model folders, the layer between networks and tasks: every folder kind read and written in one place.

=================  ==============================================================================
module             job
=================  ==============================================================================
``format``         the files, the header, finding and reading ``config.json``, :func:`describe_folder`
``classifier``     scene classifiers and SSL encoders (timm backbones; timm's ``local-dir:`` reads them)
``foundation``     CSMAE / CSMoE cross-sensor foundation models
``segmenter``      segmentation heads with their encoder's configuration
``vqa``            LiT-4-RSVQA-style VQA models with their vocabulary and answers
``slimmed``        applying a folder's recorded slimming cut before its weights load
``encoders``       any folder as a :class:`~bigearth.models.encoders.FeatureEncoder`
``weights``        initialising a backbone from local weights (a file, a folder, a published hub folder)
``hub``            the published BIFOLD reBEN classifiers, converted once into bigearth folders
=================  ==============================================================================

The package exports what the core install reads (classifiers, any folder as an encoder, the format);
``foundation``, ``segmenter`` and ``vqa`` need their extras and are imported from their modules.
Networks (:mod:`bigearth.models`) import neither this package nor slimming; slimming (:mod:`bigearth.slim`)
imports networks only; this package imports both; tasks, evaluation and the command line import this package.
"""

from bigearth.folders.classifier import load_model, save_model
from bigearth.folders.encoders import load_encoder
from bigearth.folders.format import FolderInfo, describe_folder, read_model_config, resolve_model_folder

__all__ = [
    "FolderInfo",
    "describe_folder",
    "load_encoder",
    "load_model",
    "read_model_config",
    "resolve_model_folder",
    "save_model",
]
