"""Drawing results and progress: rich bars on a TTY, plain lines otherwise, JSON for machines.

Results go to stdout; progress, notes and errors to stderr, so ``--json | jq`` works. A verb that
connects to the configured server says where it connects (``where``): in a header line on stderr,
and under ``--json`` as the ``connection`` object of the JSON it prints.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analytiq_data.cli.progress_view import PlainLines, RichLines
from analytiq_data.progress import NullProgress, Progress


def stderr_is_tty() -> bool:
    """Return whether progress can be drawn as live bars."""
    return sys.stderr.isatty()


class PlainProgress(PlainLines):
    """Progress as plain lines on stderr (logs, CI, pipes): a line per start and finish, and a
    line at most every ``interval`` seconds per task while it runs (count, docs/s, ETA)."""


class RichProgress(RichLines):
    """Progress as rich bars on stderr: a bar (or a spinner with a count when the total is unknown)
    per running task, with rate and ETA; each finished task collapses to one line."""


class QuietProgress(NullProgress):
    """Progress for ``--json``: no bars, notes only, as plain lines on stderr (stdout stays JSON)."""

    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        return None


class ClosableProgress(Progress, Protocol):
    """A progress sink the CLI must close when the command ends (stops live bars)."""

    def close(self) -> None:
        """Stop drawing."""


@contextlib.contextmanager
def steps_print_to_stderr(json_output: bool) -> Iterator[None]:
    """While a verb that runs the application's code (steps, hooks) will write JSON, send what that
    code prints to stderr: stdout must hold the one JSON document. A no-op without ``--json``."""
    if not json_output:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def make_progress(json_output: bool, quiet: bool = False) -> ClosableProgress:
    """Return the progress sink fitting the output: quiet for JSON, rich on a TTY, else plain."""
    if json_output or quiet:
        return QuietProgress()
    if stderr_is_tty():
        return RichProgress()
    return PlainProgress()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


_CONNECTION: ContextVar[Mapping[str, Any] | None] = ContextVar("connection", default=None)


def where(connection: Mapping[str, Any], *, as_json: bool) -> None:
    """Say where this command connects: a header line on stderr, or (``as_json``) the ``connection``
    object added to the JSON result this command prints."""
    _CONNECTION.set(connection)
    if not as_json:
        print(f"target: {connection['line']}", file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as JSON (datetimes as ISO strings, other objects as text), with the
    ``connection`` said by ``where`` added to a result object."""
    connection = _CONNECTION.get()
    if connection is not None and isinstance(data, dict) and "connection" not in data:
        data = {**data, "connection": {k: v for k, v in connection.items() if k != "line"}}
    print(json.dumps(data, default=_json_default, indent=2, sort_keys=False))


class _StdoutConsole(Console):
    """rich's Console for results on stdout, except that a reader closing the pipe (``… | head``) raises
    BrokenPipeError for the CLI's entry to report (exit 74), where rich would exit 1 in silence."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "standard output was closed")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write a table of results to stdout (boxed on a TTY, aligned text otherwise)."""
    console = _StdoutConsole(soft_wrap=True)
    if not console.is_terminal:
        # Piped or logged: never truncate or wrap cells to a guessed 80 columns.
        console = _StdoutConsole(soft_wrap=True, width=400)
    table = Table(title=title, show_lines=False, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else escape(str(v)) for v in row))  # "[token_1]" is data, not markup
    console.print(table)
