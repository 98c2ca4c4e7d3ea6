"""reBEN construction from Sentinel-1/Sentinel-2 tiles and CORINE Land Cover 2018 (``bigearth build``).

The package is named ``construct`` (not ``build``, a name tools take for build output) and keeps the command.

The journey of a build, one module per step:

* :mod:`~bigearth.construct.plan` checks every input up front (:mod:`~bigearth.construct.safe` reads S2 L2A products,
  :mod:`~bigearth.construct.s1` S1 scenes, :mod:`~bigearth.construct.clc` CLC) and makes one job per tile;
* :mod:`~bigearth.construct.tile` cuts a tile on the :mod:`~bigearth.construct.grid`: radiometry
  (:mod:`~bigearth.construct.radiometry`), reference maps and labels, snow/cloud flags
  (:mod:`~bigearth.construct.quality`), S1 pairing, country (:mod:`~bigearth.construct.country`), split and season;
* :mod:`~bigearth.construct.state` commits each tile atomically, so a build resumes per tile;
* :mod:`~bigearth.construct.runner` runs the tiles on Dask and :mod:`~bigearth.construct.report` writes the summary
  and the metadata files last.

:mod:`~bigearth.construct.fixtures` writes small synthetic inputs for tests, examples and benchmarks.
"""

# ruff: noqa: E402  (the extra's packages are checked before the modules below import them)

from bigearth._optional import require

require("shapely", "pyogrio", extra="build")

from bigearth.construct.options import BuildOptions
from bigearth.construct.report import BuildSummary
from bigearth.construct.runner import TileProgressEvent, build

__all__ = ["BuildOptions", "BuildSummary", "TileProgressEvent", "build"]
