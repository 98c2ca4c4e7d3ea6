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

Sending a tensor's shared memory between processes costs a socket connection per segment (the DataLoader passes
each segment's file descriptor through its own connection; measured: 5 per raw batch, 60 % of the main process's
time at 10,700 samples/s). So the main process keeps each ring segment (and the ring's flags) mapped once it has
received it, and sets the segment's *mapped* flag; a later batch in the same segment travels as its slot, byte
offsets and shapes only, rebuilt there on a new storage object that aliases the kept mapping (so that freeing the
batch still hands the segment back). Small tensors (labels, coordinates: at most :data:`INLINE_BYTES`) travel
inside the pickle, a copy of a few kB. The main process lets go of the rings of workers that have exited when a
new ring arrives.
"""

import os
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import get_worker_info

#: Segments per worker: a worker has at most ``prefetch_factor`` (2 by default) batches in flight, plus the one
#: being used in the main process.
RING_SLOTS = 6
_ALIGN = 64
#: Tensors of at most this many bytes outside the ring travel inside the pickle rather than in shared memory.
INLINE_BYTES = 1 << 16


def in_worker() -> bool:
    """Whether this runs in a DataLoader worker process (whose batches are sent through shared memory)."""
    return get_worker_info() is not None


class SharedRing:
    """A process's ring of shared-memory segments, each holding the tensors of one batch (:func:`ring`).

    Attributes:
        token: identifies the ring in the main process (this process's id and a random part).
        control: ``(2 * RING_SLOTS + 1,)`` int64 in shared memory, holding ``flags`` and ``mapped``.
        flags: ``(RING_SLOTS,)``: 0 for a free segment, else the ticket of its batch.
        mapped: ``(RING_SLOTS + 1,)``: 1 where the main process keeps the segment mapped (last entry: ``control``).
        slots: per segment: layout key, tensors, storage and its use count when only the ring uses it.
        tickets: segment address -> (slot, ticket) of the batch it holds.
        shipped: slot -> ticket of the last batch of the slot that was sent to the main process.
    """

    def __init__(self) -> None:
        self.token = f"{os.getpid()}-{uuid.uuid4().hex}"
        self.control = torch.zeros(2 * RING_SLOTS + 1, dtype=torch.int64).share_memory_()
        self.flags, self.mapped = self.control[:RING_SLOTS], self.control[RING_SLOTS:]
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

    def whole(self, slot: int) -> Tensor:
        """``(bytes,)`` uint8 over the whole segment of ``slot`` (sent once to the main process)."""
        return torch.empty(0, dtype=torch.uint8).set_(self.slots[slot][2])

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


def _map(value: Any, convert: Callable[[Any], Any]) -> Any:
    """``value`` (dicts, lists and tuples nested in any way) with ``convert`` applied to each other item."""
    if isinstance(value, Mapping):
        return {key: _map(item, convert) for key, item in value.items()}
    if isinstance(value, list):
        return [_map(item, convert) for item in value]
    if isinstance(value, tuple):
        return tuple(_map(item, convert) for item in value)
    return convert(value)


@dataclass(frozen=True)
class _InRing:
    """A tensor in the ring segment of ``slot``: offset and strides in elements of ``dtype``."""

    slot: int
    offset: int
    dtype: torch.dtype
    shape: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass(frozen=True)
class _Inline:
    """A small tensor sent inside the pickle."""

    array: np.ndarray


class ShippedBatch(dict):
    """A batch leaving a worker, with the ring tickets of its segments; arrives in the main process as a plain dict.

    Made in the worker (by :func:`~bigearth.data.dataset.keep_batch`), it marks its segments as sent; pickling it
    (the DataLoader sending it) replaces each tensor in a ring segment by its place there, and each small tensor by
    its values, and carries the slot and ticket of each segment, with the segment itself and the ring's flags where
    the main process does not hold them yet; unpickling rebuilds the tensors and attaches the finalisers that hand
    each segment back once the batch is freed in the main process (see the module docstring).

    Args:
        batch: the batch's items.
    """

    def __init__(self, batch: Mapping[str, Any]) -> None:
        super().__init__(batch)
        self.segments: dict[int, int] = {}  # slot -> ticket
        if _RING is not None:
            _map(dict(self), self._mark_shipped)

    def _mark_shipped(self, item: Any) -> None:
        if isinstance(item, Tensor) and _RING is not None:
            entry = _RING.tickets.get(item.untyped_storage().data_ptr())
            if entry is not None:
                _RING.shipped[entry[0]] = entry[1]
                self.segments[entry[0]] = entry[1]

    def _pack(self, item: Any) -> Any:
        if not isinstance(item, Tensor):
            return item
        entry = _RING.tickets.get(item.untyped_storage().data_ptr()) if _RING is not None else None
        if entry is not None and self.segments.get(entry[0]) == entry[1]:
            return _InRing(entry[0], item.storage_offset(), item.dtype, tuple(item.shape), tuple(item.stride()))
        if item.nbytes <= INLINE_BYTES and item.device.type == "cpu" and not item.requires_grad:
            try:
                return _Inline(item.numpy())
            except TypeError:  # no numpy dtype (e.g. bfloat16): through shared memory
                return item
        return item

    def __reduce__(self) -> tuple[Any, tuple]:
        items = _map(dict(self), self._pack)
        if _RING is None or not self.segments:
            return _arrive, (items, None, None, {})
        segments = {
            slot: (ticket, None if _RING.mapped[slot] else _RING.whole(slot)) for slot, ticket in self.segments.items()
        }
        control = None if _RING.mapped[RING_SLOTS] else _RING.control
        return _arrive, (items, _RING.token, control, segments)


@dataclass
class _MappedRing:
    """A worker's ring as the main process holds it: its control array and the segments received so far."""

    pid: int
    control: Tensor
    segments: dict[int, Tensor] = field(default_factory=dict)  # slot -> (bytes,) uint8 over the whole segment


#: Main process: token -> ring of each worker whose segments are kept mapped.
_MAPPED: dict[str, _MappedRing] = {}
#: Main process: segment address -> (flags, slot, ticket) of each ring segment received and not yet freed.
_RECEIVED: dict[int, tuple[Tensor, int, int]] = {}


def _arrive(
    items: dict[str, Any],
    token: str | None,
    control: Tensor | None,
    segments: dict[int, tuple[int, Tensor | None]],
) -> dict[str, Any]:
    """Unpickle a :class:`ShippedBatch` in the main process and return its dict.

    Keeps new segments mapped, registers the tickets and rebuilds the tensors on storages that alias the segments
    (one per segment and batch).
    """
    storages: dict[int, torch.UntypedStorage] = {}
    if token is not None:
        ring = _MAPPED.get(token)
        if ring is None:
            if control is None:
                raise RuntimeError(f"a batch of DataLoader worker ring {token} arrived before the ring itself")
            _forget_exited_rings()
            ring = _MAPPED[token] = _MappedRing(int(token.split("-")[0]), control)
            control[2 * RING_SLOTS] = 1  # this process holds the control array
        flags = ring.control[:RING_SLOTS]
        for slot, (ticket, whole) in segments.items():
            if whole is not None:
                ring.segments[slot] = whole
                ring.control[RING_SLOTS + slot] = 1
            elif slot not in ring.segments:
                raise RuntimeError(
                    f"a batch of DataLoader worker ring {token} names segment {slot}, which this process never "
                    "received: batches of bigearth's fast route must be unpickled by the process that iterates the "
                    "DataLoader (pass them on to other processes as plain tensors)"
                )
            # a new storage object on the same memory: freed, in this process, with the batch's last tensor
            alias = torch.frombuffer(ring.segments[slot].numpy(), dtype=torch.uint8).untyped_storage()
            _RECEIVED[alias.data_ptr()] = (flags, slot, ticket)
            weakref.finalize(alias, _hand_back, alias.data_ptr(), flags, slot, ticket)
            storages[slot] = alias
    return _map(items, lambda item: _unpack(item, storages))


def _unpack(item: Any, storages: dict[int, torch.UntypedStorage]) -> Any:
    """The tensor an item of a shipped batch stands for (see :meth:`ShippedBatch._pack`); other items as they are."""
    if isinstance(item, _InRing):
        return torch.empty(0, dtype=item.dtype).set_(storages[item.slot], item.offset, item.shape, item.stride)
    if isinstance(item, _Inline):
        return torch.from_numpy(item.array)
    return item


def _forget_exited_rings() -> None:
    """Let go of the segments of workers that have exited (the batches still alive keep their memory)."""
    for token, ring in list(_MAPPED.items()):
        try:
            os.kill(ring.pid, 0)
        except (ProcessLookupError, PermissionError):  # gone (or its id taken by another user's process)
            del _MAPPED[token]


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
