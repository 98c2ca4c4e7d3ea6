"""Patch-id lists as parquet files (``bigearth sample`` writes them; ``data.ids`` in recipes reads them)."""

from pathlib import Path

import pandas as pd
import pyarrow as pa

from bigearth.errors import MetadataError, MissingDataError

#: The column of an ids file that names the patches.
IDS_COLUMN = "patch_id"


def read_ids(path: Path | str) -> list[str]:
    """Return the patch ids of an ids file, in file order.

    Raises:
        MissingDataError: if the file does not exist.
        MetadataError: if it is no parquet file with a ``patch_id`` column.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"ids file {path} does not exist; write one with `bigearth sample`")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise MetadataError(f"{path} is no readable parquet file ({error})") from error
    if IDS_COLUMN not in frame.columns:
        raise MetadataError(f"{path} has no {IDS_COLUMN!r} column (columns: {list(frame.columns)})")
    return [str(name) for name in frame[IDS_COLUMN]]
