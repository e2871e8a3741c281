"""The edge where errors become one line on stderr and an exit code; tracebacks go to the log."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from analytiq_data.errors import AnalytiqError, ExitCode
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
    """Return the log file: ``ANALYTIQ_DB_LOG`` or ``analytiq-db.log`` in the temp directory."""
    return Path(os.environ.get("ANALYTIQ_DB_LOG") or Path(tempfile.gettempdir()) / "analytiq-db.log")


def setup_logging(verbose: int = 0) -> None:
    """Send the package's logs to the log file (always) and, with ``-v``, to stderr; all redacted."""
    logger = logging.getLogger("analytiq_data")
    if getattr(logger, "_analytiq_configured", False):
        return
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    try:
        file_handler: logging.Handler = logging.FileHandler(log_path(), encoding="utf-8")
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


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_entry(prog: str, main: Callable[[], int], *, show_traceback: bool = False) -> int:
    """Run ``main`` and turn every way it can end into an exit code and at most one stderr line.

    AnalytiqError → its message and exit code; Ctrl-C or SIGTERM → 130; anything else →
    "internal error" with the traceback in the log (or on screen with ``--traceback``).
    """
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return int(main())
    except AnalytiqError as exc:
        log.info("%s failed: %s", prog, exc.user_line(), exc_info=True)
        if show_traceback:
            traceback.print_exc(file=sys.stderr)
        print(f"{prog}: error: {exc.user_line()}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        log.warning("%s interrupted", prog)
        print(f"{prog}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        log.error("%s internal error", prog, exc_info=True)
        if show_traceback:
            print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
        summary = redact_text(f"{type(exc).__name__}: {exc}").splitlines()[0][:200]
        print(
            f"{prog}: internal error: {summary} — run with --traceback for details (log: {log_path()})",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)
    finally:
        signal.signal(signal.SIGTERM, previous)
