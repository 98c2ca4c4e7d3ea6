"""The ``bigearth`` command: thin wrappers that parse options and call into the packages.

Each module registers its commands on :data:`bigearth.cli.app.app`; importing them here builds the full command.
"""

from bigearth.cli import build as _build  # noqa: F401  (registers commands)
from bigearth.cli import classification as _classification  # noqa: F401  (registers commands)
from bigearth.cli import configs as _configs  # noqa: F401  (registers commands)
from bigearth.cli import data as _data  # noqa: F401  (registers commands)
from bigearth.cli import fm as _fm  # noqa: F401  (registers commands)
from bigearth.cli import interop as _interop  # noqa: F401  (registers commands)
from bigearth.cli import search as _search  # noqa: F401  (registers commands)
from bigearth.cli import slim as _slim  # noqa: F401
from bigearth.cli import ssl as _ssl  # noqa: F401  (registers commands)
from bigearth.cli import text as _text  # noqa: F401  (registers commands)
from bigearth.cli import train as _train  # noqa: F401  (registers commands)
from bigearth.cli import vlm as _vlm  # noqa: F401  (registers commands)
from bigearth.cli import vqa as _vqa  # noqa: F401  (registers commands)
from bigearth.cli.app import app

__all__ = ["app"]
