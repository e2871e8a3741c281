"""Progress sinks for tests: record what an engine reports, print nothing."""

from __future__ import annotations

from analytiq_data.progress import NullProgress


class Notes(NullProgress):
    """A Progress keeping the notes it is given (``lines``), in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, message: str) -> None:
        self.lines.append(message)
