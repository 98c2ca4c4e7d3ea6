"""Silence the noise Lightning prints that says nothing about the run (no Lightning import needed).

Called by every bigearth trainer and, before any command runs, by the CLI: the filters stay for the process.
"""

import logging
import warnings


class _DropTips(logging.Filter):
    """Drop Lightning's advertisements (``💡 Tip: ... try installing litlogger / litmodels``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_lightning() -> None:
    """Silence the noise of Lightning 2.6: its tips and the deprecation warning of its own pytree helper."""
    lightning_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(existing, _DropTips) for existing in lightning_log.filters):
        lightning_log.addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
