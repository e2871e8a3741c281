"""The small progress interface engines report through; the CLI draws it (rich, plain, JSON)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress from long work. Engines call it; they never print."""

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        """A unit of work named ``task`` begins; ``total`` items are expected if known."""

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        """``amount`` more items (``nbytes`` bytes) of ``task`` are done."""

    def finish(self, task: str, message: str | None = None) -> None:
        """``task`` is over; ``message`` summarises how it ended."""

    def note(self, message: str) -> None:
        """A line of narrative worth showing a person (a step starting, a warning)."""


class NullProgress:
    """Progress that goes nowhere: the default for library callers."""

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        return None

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        return None

    def finish(self, task: str, message: str | None = None) -> None:
        return None

    def note(self, message: str) -> None:
        return None


NULL_PROGRESS: Progress = NullProgress()
