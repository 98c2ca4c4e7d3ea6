"""Shared-memory batch buffers of DataLoader workers, reused once the main process is done with them.

A worker's batch reaches the main process through shared memory. PyTorch copies a batch that is not yet there
into a freshly allocated segment, and a fresh segment costs its page faults on every batch (measured: filling a
new 14.7 MB segment took 87.6 ms, the same segment reused 14.5 ms, at load 17). So a worker reads each raw batch
(and makes each finished image) straight into a segment of a small per-process ring, sent without another copy,
and reuses a segment only once the main process no longer uses it.

Each segment has an in-use flag in a small shared array of the worker's ring: the worker sets it to a new ticket
number when it hands the segment out; :func:`keep_batch <bigearth.data.dataset.keep_batch>` (the fast route's
collate function) ships the batch with its tickets, and on arrival in the main process a finaliser is attached to
each segment's storage that clears the flag when the storage is freed there, i.e. when no tensor, view, numpy
array or detached copy sharing its memory is left (torch keeps a storage's Python object alive exactly as long as
the storage). :func:`release_batch` clears it earlier, for a caller that knows it is done with a batch. A flag is
cleared only while it still holds its batch's ticket, so a late finaliser never frees a segment that was taken
again. A segment that never left the worker (its batch went through another collate function, e.g. PyTorch's
default one, which copies the samples) is reused once no tensor in the worker uses its memory any more. When
every segment of the ring is in use the worker allocates a one-off segment, so a batch is never overwritten while
someone may read it.
"""

import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import get_worker_info

#: Segments per worker: a worker has at most ``prefetch_factor`` (2 by default) batches in flight, plus the one
#: being used in the main process.
RING_SLOTS = 6
_ALIGN = 64


def in_worker() -> bool:
    """Whether this runs in a DataLoader worker process (whose batches are sent through shared memory)."""
    return get_worker_info() is not None


class SharedRing:
    """A process's ring of shared-memory segments, each holding the tensors of one batch (:func:`ring`).

    Attributes:
        flags: ``(RING_SLOTS,)`` int64 in shared memory: 0 for a free segment, else the ticket of its batch.
        slots: per segment: layout key, tensors, storage and its use count when only the ring uses it.
        tickets: segment address -> (slot, ticket) of the batch it holds.
        shipped: slot -> ticket of the last batch of the slot that was sent to the main process.
    """

    def __init__(self) -> None:
        self.flags = torch.zeros(RING_SLOTS, dtype=torch.int64).share_memory_()
        self.slots: list[tuple[tuple, dict[str, Tensor], torch.UntypedStorage, int]] = []
        self.tickets: dict[int, tuple[int, int]] = {}
        self.shipped: dict[int, int] = {}
        self._issued = 0

    def take(self, layout: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> dict[str, Tensor]:
        """Return empty tensors ``{name: (shape, dtype)}`` in a free segment (marked in use), or in a new one.

        Args:
            layout: shape and dtype per tensor.
        """
        key = tuple((name, shape, dtype) for name, (shape, dtype) in layout.items())
        for slot, (slot_key, tensors, storage, idle_uses) in enumerate(self.slots):
            if slot_key == key and self._free(slot, storage, idle_uses):
                self._issue(slot, storage)
                return _views(tensors)
        tensors, storage = _segment(layout)
        if len(self.slots) < RING_SLOTS:
            self.slots.append((key, tensors, storage, _uses(storage)))
            self._issue(len(self.slots) - 1, storage)
        return _views(tensors)

    def _free(self, slot: int, storage: torch.UntypedStorage, idle_uses: int) -> bool:
        """Free: handed back by the main process, or never sent there and used by no tensor of this process."""
        ticket = int(self.flags[slot])
        return ticket == 0 or (self.shipped.get(slot) != ticket and _uses(storage) == idle_uses)

    def _issue(self, slot: int, storage: torch.UntypedStorage) -> None:
        self._issued += 1
        self.flags[slot] = self._issued
        self.tickets[storage.data_ptr()] = (slot, self._issued)


def _views(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """New tensor objects on the same memory: each one counts as a use of the segment while it lives."""
    return {name: tensor.view(tensor.shape) for name, tensor in tensors.items()}


def _uses(storage: torch.UntypedStorage) -> int:
    """How many tensors (views included) and storage objects use ``storage``'s memory in this process."""
    return torch._C._storage_Use_Count(storage._cdata)


_RING: SharedRing | None = None
_RING_LOCK = threading.Lock()


def ring() -> SharedRing:
    """This process's ring (made on first use, in the worker that uses it)."""
    global _RING
    with _RING_LOCK:
        if _RING is None:
            _RING = SharedRing()
        return _RING


def _segment(
    layout: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
) -> tuple[dict[str, Tensor], torch.UntypedStorage]:
    """One shared-memory segment holding a tensor per entry of ``layout``, and its storage."""
    offsets, size = {}, 0
    for name, (shape, dtype) in layout.items():
        offsets[name] = size
        size += -(-int(np.prod(shape)) * dtype.itemsize // _ALIGN) * _ALIGN
    storage = torch.UntypedStorage._new_shared(max(size, 1))  # created in shared memory: no copy into it
    flat = torch.empty(0, dtype=torch.uint8).set_(storage)
    tensors = {
        name: flat[offsets[name] : offsets[name] + int(np.prod(shape)) * dtype.itemsize].view(dtype).view(shape)
        for name, (shape, dtype) in layout.items()
    }
    return tensors, storage


def _tensors(value: Any) -> Iterator[Tensor]:
    """The tensors in a batch value (tensors, and dicts or lists of them)."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)


class ShippedBatch(dict):
    """A batch leaving a worker, with the ring tickets of its segments; arrives in the main process as a plain dict.

    Made in the worker (by :func:`~bigearth.data.dataset.keep_batch`), it marks its segments as sent; pickling it
    (the DataLoader sending it) carries, besides its items, one tensor of each ring segment it uses with the
    segment's slot and ticket, and the worker's flags; unpickling attaches the finalisers that hand each segment
    back once its storage is freed in the main process (see the module docstring).

    Args:
        batch: the batch's items.
    """

    def __init__(self, batch: Mapping[str, Any]) -> None:
        super().__init__(batch)
        self.tickets: list[tuple[Tensor, int, int]] = []
        if _RING is None:
            return
        for tensor in _tensors(dict(self)):
            entry = _RING.tickets.get(tensor.untyped_storage().data_ptr())
            if entry is not None and all(slot != entry[0] for _, slot, _ in self.tickets):
                _RING.shipped[entry[0]] = entry[1]
                self.tickets.append((tensor, *entry))

    def __reduce__(self) -> tuple[Any, tuple]:
        flags = _RING.flags if _RING is not None else None
        return _arrive, (dict(self), flags, self.tickets)


#: Main process: segment address -> (flags, slot, ticket) of each ring segment received and not yet freed.
_RECEIVED: dict[int, tuple[Tensor, int, int]] = {}


def _arrive(batch: dict[str, Any], flags: Tensor | None, tickets: list[tuple[Tensor, int, int]]) -> dict[str, Any]:
    """Unpickle a :class:`ShippedBatch` in the main process: register its segments' tickets, return the dict."""
    for tensor, slot, ticket in tickets:
        assert flags is not None
        storage = tensor.untyped_storage()
        _RECEIVED[storage.data_ptr()] = (flags, slot, ticket)
        weakref.finalize(storage, _hand_back, storage.data_ptr(), flags, slot, ticket)
    return batch


def _hand_back(address: int, flags: Tensor, slot: int, ticket: int) -> None:
    """Mark a segment free in its worker's flags, if it still carries the batch of ``ticket``."""
    entry = _RECEIVED.get(address)
    if entry is not None and entry[2] == ticket:
        del _RECEIVED[address]
    if int(flags[slot]) == ticket:  # the worker changes a flag only once it is 0: no race with this write
        flags[slot] = 0


def release_batch(groups: Mapping[str, Tensor]) -> None:
    """Hand the segment of a raw batch read by a DataLoader worker back to it now, before the batch is freed.

    Segments are handed back when the main process frees the batch in any case; call this only to do it earlier,
    once nothing reads the batch's band groups any more (e.g. right after
    :func:`~bigearth.data.dataset.finish_batch` made the image on the CPU). Batches of other origins are left
    alone.

    Args:
        groups: the raw batch's ``groups``.
    """
    for group in groups.values():
        address = group.untyped_storage().data_ptr()
        if address in _RECEIVED:
            _hand_back(address, *_RECEIVED[address])
            return
