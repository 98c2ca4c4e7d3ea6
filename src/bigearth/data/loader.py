"""A batch loader that reads whole batches in background threads instead of worker processes.

A DataLoader worker process hands every batch to the trainer through freshly allocated shared memory, which
costs more than reading it when batches are read whole. Batch reads from the packed layout are numpy gathers that
release the GIL, so threads read them in parallel with no inter-process copy: each batch is copied once from the
page cache into its buffer (and once more into pinned memory when ``pin_memory``), then to the device.

Under ``torch.distributed`` each process takes every ``world_size``-th batch of one shared permutation.
"""

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
import torch.distributed as dist

from bigearth.data.dataset import ReBENDataset


class ThreadedBatchLoader:
    """Iterable of batches of a :class:`ReBENDataset`, read by a pool of threads, in order.

    Args:
        dataset: the dataset (raw or finished batches, as it is configured).
        batch_size: samples per batch.
        shuffle: draw a new permutation every epoch from torch's global generator (as ``RandomSampler`` does, so
            ``seed_everything`` and per-epoch reseeding make the order reproducible, also after a resume).
        drop_last: drop the last incomplete batch.
        threads: reading threads.
        prefetch: batches read ahead.
        pin_memory: copy batch tensors into page-locked memory (for asynchronous copies to a GPU).
    """

    def __init__(
        self,
        dataset: ReBENDataset,
        *,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        threads: int = 2,
        prefetch: int = 4,
        pin_memory: bool = False,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.threads = threads
        self.prefetch = max(prefetch, threads)
        self.pin_memory = pin_memory

    def _batches(self) -> list[list[int]]:
        count = len(self.dataset)
        if self.shuffle:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
        else:
            order = list(range(count))
        stop = count - count % self.batch_size if self.drop_last else count
        batches = [order[start : start + self.batch_size] for start in range(0, stop, self.batch_size)]
        if dist.is_available() and dist.is_initialized():
            batches = batches[dist.get_rank() :: dist.get_world_size()]
        return batches

    def __len__(self) -> int:
        count = len(self.dataset)
        batches = count // self.batch_size if self.drop_last else -(-count // self.batch_size)
        if dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
            return len(range(rank, batches, world))
        return batches

    def _read(self, indices: list[int]) -> dict[str, Any]:
        batch = self.dataset.__getitems__(indices)
        if self.pin_memory:
            batch = _pinned(batch)
        return batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        batches = self._batches()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="bigearth-loader") as pool:
            pending: deque[Future] = deque()
            for indices in batches:
                pending.append(pool.submit(self._read, indices))
                if len(pending) >= self.prefetch:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def _pinned(value: Any) -> Any:
    """Return ``value`` with every tensor in it copied to page-locked memory."""
    if isinstance(value, torch.Tensor):
        return value.pin_memory()
    if isinstance(value, dict):
        return {key: _pinned(item) for key, item in value.items()}
    return value
