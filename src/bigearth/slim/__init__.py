"""Slimmability: post-hoc width slimming, slimmable training, FLOPs and redundancy analysis (DESIGN 2.8).

=================  ==============================================================================
module             job
=================  ==============================================================================
``spec``           :class:`SlimSpec` (width, embedding width, mode) and width lists
``plan``           the slicing primitives: every cut tensor and the indices it keeps (a ``Plan``)
``transformer``    slimming of timm ViTs and the cross-sensor ViT (attention, MLP, Soft MoE, embedding)
``resnet``         channel slimming of timm ResNets
``network``        one entry point: :func:`slim_network`, :func:`slim_encoder`, saving slimmed models
``flops``          measured FLOPs (``FlopCounterMode``) and the closed-form count of a ViT
``batchnorm``      re-estimating batch-norm statistics of a slimmed network
``switch``         width-switchable forward passes (the full weights sliced on the fly)
``sandwich``       slimmable training: the ``slimmable`` recipe section, the sandwich rule, distillation
``evaluate``       kNN / linear probes at every width: the ``slim evaluate`` report
``analysis``       PCA explained variance, feature correlation, effective dimensionality
``plots``          figures of the reports and the relative-accuracy-vs-FLOPs comparison
``contrast``       the natural-image-like contrast encoder (MoCo on dead-leaves images)
=================  ==============================================================================
"""

from bigearth.slim.spec import SlimSpec

__all__ = ["SlimSpec"]
