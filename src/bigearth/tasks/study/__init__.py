"""The GeoRank study: grids of SSL pretrainings along the paper's axes, probed and tabulated (``bigearth ssl study``).

Axes: method, regulariser, augmentation set, training-set cardinality, image size, temporal views; and seeds.
"""
