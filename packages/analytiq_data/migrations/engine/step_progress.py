"""The progress sink of the step being run, for helpers called inside a step (such as ``batch_update``).

The runner sets it around each step; a helper reads it with ``current_progress()``, so a migration
need not pass progress around. Outside any step it is NULL_PROGRESS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from analytiq_data.progress import NULL_PROGRESS, Progress

_progress: ContextVar[Progress] = ContextVar("analytiq_step_progress", default=NULL_PROGRESS)


def current_progress() -> Progress:
    """Return the progress sink set by the innermost ``use_progress`` (NULL_PROGRESS outside any)."""
    return _progress.get()


@contextmanager
def use_progress(progress: Progress) -> Iterator[None]:
    """Make helpers called inside this block (``batch_update``) report to ``progress`` unless given another."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)
