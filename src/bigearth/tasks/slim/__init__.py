"""Slimming workflows over data (DESIGN 2.8); the network surgery is :mod:`bigearth.slim`'s.

=================  ==============================================================================
module             job
=================  ==============================================================================
``evaluate``       kNN / linear probes at every width: the ``slim evaluate`` report
``analysis``       PCA explained variance, feature correlation, effective dimensionality
``plots``          figures of the reports and the relative-accuracy-vs-FLOPs comparison
``export``         a slimmed model folder, batch norm re-estimated: ``slim export``
``contrast``       the natural-image-like contrast encoder (MoCo on dead-leaves images)
=================  ==============================================================================
"""
