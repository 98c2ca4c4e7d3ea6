"""Slimmability on networks: post-hoc width slimming, slimmable training's forward passes, FLOPs (DESIGN 2.8).

This package imports networks only. Slimmed model folders are :mod:`bigearth.folders.slimmed`'s; the workflows
over data (probes at every width, redundancy analysis, export, the contrast encoder) are
:mod:`bigearth.tasks.slim`'s.

=================  ==============================================================================
module             job
=================  ==============================================================================
``spec``           :class:`SlimSpec` (width, embedding width, mode) and width lists
``plan``           the slicing primitives: every cut tensor and the indices it keeps (a ``Plan``)
``transformer``    slimming of timm ViTs and the cross-sensor ViT (attention, MLP, Soft MoE, embedding)
``resnet``         channel slimming of timm ResNets
``network``        one entry point: :func:`slim_network`, :func:`slim_encoder`
``flops``          measured FLOPs (``FlopCounterMode``) and the closed-form count of a ViT
``batchnorm``      re-estimating batch-norm statistics of a slimmed network from given batches
``switch``         width-switchable forward passes (the full weights sliced on the fly)
``sandwich``       slimmable training: the ``slimmable`` recipe section, the sandwich rule, distillation
=================  ==============================================================================
"""

from bigearth.slim.spec import SlimSpec

__all__ = ["SlimSpec"]
