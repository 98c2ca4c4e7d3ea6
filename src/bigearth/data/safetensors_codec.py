"""Encoding and zero-copy decoding of the safetensors values of a rico-hdl store.

Writing goes through the ``safetensors`` library. Reading parses the documented header (8-byte little-endian
length, JSON, raw little-endian data) by hand: ``safetensors.numpy.load`` copies every tensor into a new array,
while the loader wants views it copies once, straight into a batch buffer. A test checks both agree.
"""

import json
import math
import struct
from collections.abc import Callable

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


#: One tensor of a parsed header: name, dtype, element count, shape, byte offset in the value.
_Tensor = tuple[str, np.dtype, int, tuple[int, ...], int]


class _Layout:
    """A parsed, validated header: its tensors, the bytes a value needs, and the checks it passed."""

    def __init__(self, tensors: list[_Tensor], size: int) -> None:
        self.tensors = tensors
        self.size = size
        self.passed: set[Callable[..., None]] = set()


#: Parsed headers by their bytes: the values of one store share a handful of headers (S2, S1, reference map), so
#: a batch parses JSON only for the first value of each kind. Bounded: emptied when it grows past this.
_LAYOUTS: dict[bytes, _Layout] = {}
_LAYOUTS_MAX = 64


def _parse(header_bytes: bytes, start: int) -> _Layout:
    """Parse and validate a header (tensors after the header at ``start``).

    Raises:
        ValueError, KeyError, TypeError, json.JSONDecodeError: if the header is malformed.
    """
    tensors: list[_Tensor] = []
    size = start
    for name, entry in json.loads(header_bytes).items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        shape = tuple(int(length) for length in entry["shape"])
        count = math.prod(shape)
        if (end - begin) != count * dtype.itemsize:
            raise ValueError(f"tensor {name} lies outside the value")
        tensors.append((name, dtype, count, shape, start + begin))
        size = max(size, start + end)
    return _Layout(tensors, size)


def decode(
    buffer: bytes | memoryview, *, key: str = "", check: Callable[[dict[str, np.ndarray], str], None] | None = None
) -> dict[str, np.ndarray]:
    """Decode safetensors bytes into read-only numpy views of ``buffer`` (no copy).

    A header seen before is not parsed again, and ``check`` runs once per header it passed (the arrays of values
    with the same header have the same names, dtypes and shapes).

    Args:
        buffer: the bytes of one store value.
        key: the store key, named in error messages.
        check: called with ``(arrays, key)`` to validate the names, dtypes and shapes; raises if they are wrong.

    Returns:
        ``{tensor name: array}``, each a view into ``buffer``, valid as long as ``buffer`` is.

    Raises:
        CorruptDataError: if the header is truncated or malformed, or a tensor lies outside the buffer.
    """
    try:
        (header_size,) = struct.unpack_from("<Q", buffer, 0)
        header_bytes = bytes(buffer[8 : 8 + header_size])
        layout = _LAYOUTS.get(header_bytes)
        if layout is None:
            layout = _parse(header_bytes, 8 + header_size)
            if len(_LAYOUTS) >= _LAYOUTS_MAX:
                _LAYOUTS.clear()
            _LAYOUTS[header_bytes] = layout
        if layout.size > len(buffer):
            raise ValueError("a tensor lies outside the value")
        arrays = {
            name: np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).reshape(shape)
            for name, dtype, count, shape, offset in layout.tensors
        }
    except (struct.error, ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise CorruptDataError(
            f"store value {key!r} is no valid safetensors data ({error}); re-encode the store with `bigearth encode`"
        ) from error
    if check is not None and check not in layout.passed:
        check(arrays, key)
        layout.passed.add(check)
    return arrays
