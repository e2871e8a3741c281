"""The edge where errors become one line on stderr and an exit code; tracebacks go to the log."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from analytiq_data.errors import AnalytiqError, ExitCode, FileIOError, Interrupted, one_line
from analytiq_data.uri import redact_text

log = logging.getLogger("analytiq_data")


class RedactingFilter(logging.Filter):
    """Redact MongoDB URIs in every log record before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


def log_path() -> Path:
    """Return the log file: ``ANALYTIQ_DB_LOG``, else ``analytiq-db.log`` in the user's state directory
    (``$XDG_STATE_HOME/analytiq-db``, default ``~/.local/state/analytiq-db``)."""
    explicit = os.environ.get("ANALYTIQ_DB_LOG")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "analytiq-db" / "analytiq-db.log"


def open_private_log(path: Path) -> logging.Handler:
    """Return a handler appending to ``path``, created private to the user (file 0600; a directory
    created for it 0700). Logs hold host names and errors; they are nobody else's business."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return logging.FileHandler(path, encoding="utf-8")


def setup_logging(verbose: int = 0) -> None:
    """Send the package's logs to the log file (always) and, with ``-v``, to stderr; all redacted."""
    logger = logging.getLogger("analytiq_data")
    if getattr(logger, "_analytiq_configured", False):
        return
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    try:
        file_handler: logging.Handler = open_private_log(log_path())
    except OSError:
        file_handler = logging.NullHandler()
    file_handler.setFormatter(fmt)
    file_handler.setLevel(logging.DEBUG)
    file_handler.addFilter(RedactingFilter())
    logger.addHandler(file_handler)
    if verbose:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        err.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        err.addFilter(RedactingFilter())
        logger.addHandler(err)
    logger._analytiq_configured = True  # type: ignore[attr-defined]


class _WatchedStdout:
    """sys.stdout, noting whether anything was written (a failing ``--json`` verb that already printed
    its result, such as ``check``, does not print a second JSON document)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.written = False

    def write(self, text: str) -> int:
        self.written = self.written or bool(text)
        return self.inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def print_json_error(error: AnalytiqError) -> None:
    """Print the error as one JSON object on stdout (for ``--json``)."""
    print(json.dumps(error.to_json(), ensure_ascii=False), flush=True)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """Treat SIGTERM as Ctrl-C: hand it to the SIGINT handler in force (``asyncio.run`` installs one that
    cancels the main task, so the verb stops the way it does on Ctrl-C, with its own last line)."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not _sigterm_as_interrupt:
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def run_entry(prog: str, main: Callable[[], int], *, show_traceback: bool = False, as_json: bool = False) -> int:
    """Run ``main`` and turn every way it can end into an exit code and at most one stderr line.

    AnalytiqError → its message and exit code; Ctrl-C or SIGTERM → 130; anything else →
    "internal error" with the traceback in the log (or on screen with ``--traceback``). With
    ``as_json``, a failure also prints ``{"error": {code, name, message, hint}}`` on stdout,
    unless the verb already printed its result there.
    """
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    stdout = _WatchedStdout(sys.stdout)
    if as_json:
        sys.stdout = stdout
    try:
        return int(main())
    except AnalytiqError as exc:
        return _fail(prog, exc, show_traceback, as_json and not stdout.written)
    except BrokenPipeError:
        return _fail(prog, _closed_stdout(), show_traceback, False)
    except KeyboardInterrupt:
        log.warning("%s interrupted", prog)
        interrupted = Interrupted("interrupted")
        if as_json and not stdout.written:
            print_json_error(interrupted)
        print(f"{prog}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        log.error("%s internal error", prog, exc_info=True)
        if show_traceback:
            print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
        summary = one_line(redact_text(f"{type(exc).__name__}: {exc}"))[:200]
        message = f"internal error: {summary}"
        if as_json and not stdout.written:
            print_json_error(_Internal(message, hint=f"run with --traceback for details (log: {log_path()})"))
        print(f"{prog}: {message} — run with --traceback for details (log: {log_path()})", file=sys.stderr)
        return int(ExitCode.INTERNAL)
    finally:
        if sys.stdout is stdout:
            sys.stdout = stdout.inner
        signal.signal(signal.SIGTERM, previous)


def _closed_stdout() -> FileIOError:
    """The reader of standard output went away (``… | head``): point stdout at /dev/null, so that the
    interpreter's last flush does not fail again on the way out, and say so in one line (exit 74)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (captured)
        pass
    return FileIOError(
        "standard output was closed before everything was written (the command reading it stopped early)",
        hint="let it read the whole output, or write it to a file",
    )


class _Internal(AnalytiqError):
    exit_code = ExitCode.INTERNAL


def _fail(prog: str, exc: AnalytiqError, show_traceback: bool, as_json: bool) -> int:
    log.info("%s failed: %s", prog, exc.user_line(), exc_info=True)
    if show_traceback:
        traceback.print_exc(file=sys.stderr)
    if as_json:
        print_json_error(exc)
    print(f"{prog}: error: {exc.user_line()}", file=sys.stderr)
    return int(exc.exit_code)
