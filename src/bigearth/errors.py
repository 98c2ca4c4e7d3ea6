"""Typed exceptions raised on bad input.

Every message names the offending patch and file and says what to do, so that a user can act on it without
reading the code. Input checks never use ``assert`` (it vanishes under ``python -O``).
"""

import os
from pathlib import Path


class BigEarthError(Exception):
    """Base class of every error that bigearth raises on bad input."""


class MissingDataError(BigEarthError, FileNotFoundError):
    """A file, band, patch or store entry that should exist does not."""


class CorruptDataError(BigEarthError, ValueError):
    """A file or store value exists but cannot be decoded, or has the wrong size or dtype."""


class MetadataError(BigEarthError, ValueError):
    """A metadata table has a missing column, an unknown class name or an unknown split."""


class StoreError(BigEarthError, RuntimeError):
    """A store is incomplete, full, or was written with other bands or classes than asked for."""


class ConfigError(BigEarthError, ValueError):
    """A configuration names an unknown band, class order, backbone or option."""


class TrainingError(BigEarthError, RuntimeError):
    """Training cannot go on: a loss or a validation metric is NaN or infinite."""


class StoreIntegrityError(StoreError):
    """A store value differs from the checksum recorded when the store was written (damage or a change since)."""


class MissingExtraError(BigEarthError, ImportError):
    """An optional capability's package is not installed; the message names the extra that installs it."""


def existing_file(path: str | os.PathLike[str], message: str) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` when a file is there.

    Args:
        path: the file.
        message: what to say when it is not there: the file's role and what to do (the path is put first).

    Raises:
        MissingDataError: ``"<path> <message>"``.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path} {message}")
    return path
