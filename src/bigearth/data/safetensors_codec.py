"""Encoding and zero-copy decoding of the safetensors values of a rico-hdl store.

Writing goes through the ``safetensors`` library. Reading parses the documented header (8-byte little-endian
length, JSON, raw little-endian data) by hand: ``safetensors.numpy.load`` copies every tensor into a new array,
while the loader wants views it copies once, straight into a batch buffer. A test checks both agree.
"""

import json
import math
import struct

import numpy as np
from safetensors.numpy import save

from bigearth.errors import CorruptDataError

_DTYPES: dict[str, np.dtype] = {
    "U8": np.dtype("<u1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}


def encode(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise named arrays (native size and dtype) to safetensors bytes."""
    return save({name: np.ascontiguousarray(array) for name, array in arrays.items()})


def decode(buffer: bytes | memoryview, *, key: str = "") -> dict[str, np.ndarray]:
    """Decode safetensors bytes into read-only numpy views of ``buffer`` (no copy).

    Args:
        buffer: the bytes of one store value.
        key: the store key, named in error messages.

    Returns:
        ``{tensor name: array}``, each a view into ``buffer``, valid as long as ``buffer`` is.

    Raises:
        CorruptDataError: if the header is truncated or malformed, or a tensor lies outside the buffer.
    """
    try:
        (header_size,) = struct.unpack_from("<Q", buffer, 0)
        header = json.loads(bytes(buffer[8 : 8 + header_size]))
        start = 8 + header_size
        arrays = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            dtype = _DTYPES[entry["dtype"]]
            count = math.prod(entry["shape"])
            if start + end > len(buffer) or (end - begin) != count * dtype.itemsize:
                raise ValueError(f"tensor {name} lies outside the value")
            arrays[name] = np.frombuffer(buffer, dtype=dtype, count=count, offset=start + begin).reshape(entry["shape"])
        return arrays
    except (struct.error, ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise CorruptDataError(
            f"store value {key!r} is no valid safetensors data ({error}); re-encode the store with `bigearth encode`"
        ) from error
