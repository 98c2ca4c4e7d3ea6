"""Progress of the passes over a split (prediction, evaluation, feature extraction): silent unless a command asks.

Library code wraps its batch loops in :func:`track`; that does nothing by itself, so notebooks, tests and training
stay quiet. A command of the ``bigearth`` CLI runs inside :func:`report_progress`, and then each pass shows a
transient Rich bar (batches done, of how many, time left) on the command's console, if that console is a terminal;
logs and pipes get nothing, so that ``--json`` output stays parseable.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Item = TypeVar("Item")

#: The console that passes report to, while a command runs inside :func:`report_progress`.
_CONSOLE: ContextVar[Console | None] = ContextVar("bigearth_progress_console", default=None)


@contextmanager
def report_progress(console: Console) -> Iterator[None]:
    """Within the block, show the passes that :func:`track` wraps on ``console`` (when it is a terminal)."""
    token = _CONSOLE.set(console)
    try:
        yield
    finally:
        _CONSOLE.reset(token)


def track(items: Iterable[Item], *, description: str, total: int | None = None) -> Iterator[Item]:
    """Yield ``items``, advancing a progress bar by one per item when a terminal console is reporting.

    Args:
        items: the batches of a pass (a ``DataLoader``).
        description: what the pass does (``"predicting test"``).
        total: the number of items (default: ``len(items)`` where it has one).
    """
    console = _CONSOLE.get()
    if console is None or not console.is_terminal:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
