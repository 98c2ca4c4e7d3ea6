"""reBEN construction from Sentinel-1/Sentinel-2 tiles and CORINE Land Cover 2018 (``bigearth build``).

The journey of a build, one module per step:

* :mod:`~bigearth.build.plan` checks every input up front (:mod:`~bigearth.build.safe` reads S2 L2A products,
  :mod:`~bigearth.build.s1` S1 scenes, :mod:`~bigearth.build.clc` CLC) and makes one job per tile;
* :mod:`~bigearth.build.tile` cuts a tile on the :mod:`~bigearth.build.grid`: radiometry
  (:mod:`~bigearth.build.radiometry`), reference maps and labels, snow/cloud flags (:mod:`~bigearth.build.quality`),
  S1 pairing, country (:mod:`~bigearth.build.country`), split and season;
* :mod:`~bigearth.build.state` commits each tile atomically, so a build resumes per tile;
* :mod:`~bigearth.build.runner` runs the tiles on Dask and :mod:`~bigearth.build.report` writes the summary and the
  metadata files last.

:mod:`~bigearth.build.fixtures` writes small synthetic inputs for tests, examples and benchmarks.
"""

# ruff: noqa: E402  (the extra's packages are checked before the modules below import them)

from bigearth._optional import require

require("shapely", extra="build")
require("pyogrio", extra="build")

from bigearth.build.options import BuildOptions
from bigearth.build.report import BuildSummary
from bigearth.build.runner import TileProgressEvent, build

__all__ = ["BuildOptions", "BuildSummary", "TileProgressEvent", "build"]
