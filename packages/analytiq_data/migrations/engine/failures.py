"""What went wrong inside a step: the server commands that failed and the errors the step logged.

A step written for the original runner often swallows the server's error
(``except Exception as e: logger.error(...); return False``). To name the real cause, and to see
that a transaction was in the way, the engine watches the step while it runs:

- ``CommandRecorder``: a PyMongo CommandListener on the client the step uses. It records the
  commands that failed (name, collection, server message, code, labels) while a ``StepCapture``
  is armed in the current context (``contextvars``: the step's task, and motor's executor threads,
  which copy the context). Other tasks on the same client (the lock's renewal) are not recorded.
- a log-record factory that keeps the ERROR messages logged while a capture is armed (the
  ``logger.error(f"Migration failed: {e}")`` of such steps), chained to any factory already set.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pymongo import monitoring
from pymongo.errors import OperationFailure, PyMongoError

from analytiq_data.migrations.engine.lock import NestedRunError

MAX_KEPT = 20
NAMESPACE_NOT_FOUND = 26  # what the driver itself ignores (listIndexes/drop of a missing collection)
# Failures a transaction causes: refused in one, aborted, too old/large/long (any codeName with "Transaction").
_TX_CODES = frozenset({251, 256, 263, 290})
_TX_TEXT = re.compile(
    r"multi-document transaction|in an? (?:multi-document )?transaction|in transaction\b|after starting a transaction"
    r"|does not match any in-progress transactions|transaction \d+ has been aborted",
    re.IGNORECASE,
)
TRANSIENT = "TransientTransactionError"
WRITE_CONFLICT = 112
NO_SUCH_TRANSACTION = 251

_ACTIVE: ContextVar[StepCapture | None] = ContextVar("analytiq_step_capture", default=None)


@dataclass(frozen=True)
class FailedCommand:
    """One command the server (or the connection) failed while a step ran."""

    command: str
    collection: str | None
    message: str
    code: int | None
    code_name: str | None
    labels: tuple[str, ...]

    def describe(self) -> str:
        """Return ``dropIndexes on access_tokens: index not found with name [token_1]``."""
        where = f" on {self.collection}" if self.collection else ""
        return f"{self.command}{where}: {self.message}"

    @property
    def from_transaction(self) -> bool:
        """Whether the failure was caused by running inside a multi-document transaction."""
        return (
            self.code in _TX_CODES
            or "Transaction" in (self.code_name or "")
            or TRANSIENT in self.labels
            or bool(_TX_TEXT.search(self.message))
        )

    @property
    def expected_by_driver(self) -> bool:
        """Whether the driver itself treats this failure as normal (a missing collection)."""
        return self.code == NAMESPACE_NOT_FOUND and self.command in ("listIndexes", "drop", "listCollections")


def _collection(command: str, document: Any, database: str) -> str | None:
    value = document.get(command) if hasattr(document, "get") else None
    if not isinstance(value, str):
        return None
    if command == "renameCollection" and "." in value:  # a full namespace, "<db>.<collection>"
        return value.split(".", 1)[1]
    return value


@dataclass
class StepCapture:
    """Failed commands and logged errors of one attempt at a step."""

    failures: list[FailedCommand] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)
    _started: dict[tuple[Any, int], str | None] = field(default_factory=dict)

    def add(self, failed: FailedCommand) -> None:
        """Keep ``failed`` (the first few and the latest)."""
        if len(self.failures) < MAX_KEPT:
            self.failures.append(failed)
        else:
            self.failures[-1] = failed

    def relevant(self) -> list[FailedCommand]:
        """Return the failures worth naming (not the driver's own expected ones)."""
        return [f for f in self.failures if not f.expected_by_driver]

    def transaction_reason(self, exc: BaseException | None) -> str | None:
        """Return why this attempt failed because of its transaction, or None if it did not.

        Looks at the recorded failures (also those the step swallowed), the raised error and
        its causes (also the driver's own refusals, such as GridFS cursors), and the errors the
        step logged.
        """
        earlier = [f for f in self.relevant() if not f.from_transaction]
        aborted_after = f"the server aborted the transaction after {earlier[0].describe()}" if earlier else None
        for failed in self.failures:
            if failed.from_transaction:
                return aborted_after if failed.code == NO_SUCH_TRANSACTION and aborted_after else failed.describe()
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            if isinstance(exc, InTransactionRefused):
                return exc.reason
            if isinstance(exc, PyMongoError) and (
                exc.has_error_label(TRANSIENT)
                or (isinstance(exc, OperationFailure) and exc.code in _TX_CODES)
                or _TX_TEXT.search(str(exc))
            ):
                if isinstance(exc, OperationFailure) and exc.code == NO_SUCH_TRANSACTION and aborted_after:
                    return aborted_after
                return plain(exc)
            exc = exc.__cause__ or exc.__context__
        for message in self.logged:
            if _TX_TEXT.search(message) or "does not support multi-document transactions" in message:
                return f"the step logged: {message}"
        return None

    def contention_only(self) -> bool:
        """Whether the only trouble was a write conflict with another writer (worth a retry in a transaction)."""
        relevant = self.relevant()
        return bool(relevant) and relevant[0].code == WRITE_CONFLICT


class StepReturned(Exception):
    """A step returned something other than True."""

    def __init__(self, value: object) -> None:
        shown = "False" if value is False else f"{value!r} (up/down must return True)"
        super().__init__(f"returned {shown}")


class StepEndedProcess(Exception):
    """A step raised SystemExit (``sys.exit``, ``exit()``) or, where signals do not arrive as
    KeyboardInterrupt, KeyboardInterrupt: it tried to end the process. A failed step, not an exit."""

    def __init__(self, raised: BaseException) -> None:
        shown = f"{type(raised).__name__}: {raised}" if str(raised) else type(raised).__name__
        super().__init__(f"the step tried to end the process ({shown})")


class StepTimedOut(Exception):
    """A step ran past its time limit and was cancelled (``stopped``: it ended when cancelled)."""

    def __init__(self, limit_s: float, *, stopped: bool) -> None:
        how = "was cancelled" if stopped else "did not stop when cancelled (its lease is left to expire)"
        super().__init__(f"the step ran past its time limit of {limit_s:g}s and {how}")
        self.limit_s = limit_s
        self.stopped = stopped


class InTransactionRefused(Exception):
    """A step's attempt in a transaction met a refusal caused by the transaction (even one it swallowed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def plain(exc: BaseException) -> str:
    """Return ``Type: first line of the message`` (without PyMongo's ``full error`` dump)."""
    text = str(exc).strip()
    line = text.splitlines()[0].split(", full error:")[0][:300] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def describe_cause(exc: BaseException, capture: StepCapture) -> str:
    """Return the one-line cause of a failed step, naming the failed server command when there was one.

    ``returned False after dropIndexes on access_tokens failed: index not found with name [token_1]``;
    ``OperationFailure: dropIndexes on access_tokens: index not found …``; ``ValueError: …``.
    """
    if isinstance(exc, NestedRunError):
        return (
            f"the step started a migration run of its own on database {exc.database}, whose migration lock this "
            "run holds (it would wait for itself)"
        )
    if isinstance(exc, StepEndedProcess | StepTimedOut):
        return str(exc)
    relevant = capture.relevant()
    last = relevant[-1] if relevant else None
    if isinstance(exc, StepReturned):
        if last is not None:
            where = f" on {last.collection}" if last.collection else ""
            return f"{exc} after {last.command}{where} failed: {last.message}"
        if capture.logged:
            return f"{exc}; the step logged: {capture.logged[-1]}"
        return str(exc)
    if isinstance(exc, OperationFailure) and relevant:
        match = next((f for f in reversed(relevant) if f.code == exc.code), None)
        if match is not None:
            return f"{type(exc).__name__}: {match.describe()}"
    base = plain(exc)
    if last is not None and isinstance(exc, PyMongoError):
        return f"{base} (after {last.describe()})"
    return base


class CommandRecorder(monitoring.CommandListener):
    """Record failed commands of the current context's armed StepCapture (a no-op otherwise)."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        capture = _ACTIVE.get()
        if capture is not None and len(capture._started) < 10_000:
            target = _collection(event.command_name, event.command, event.database_name)
            capture._started[(event.connection_id, event.request_id)] = target

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        capture = _ACTIVE.get()
        if capture is None:
            return
        target = capture._started.pop((event.connection_id, event.request_id), None)
        reply = event.reply
        # A write command "succeeds" with its write errors in the reply (E11000, unknown modifier, …).
        errors = reply.get("writeErrors") if hasattr(reply, "get") else None
        problem = errors[0] if isinstance(errors, list) and errors else None
        if problem is None and hasattr(reply, "get") and isinstance(reply.get("writeConcernError"), dict):
            problem = reply["writeConcernError"]
        if isinstance(problem, dict):
            capture.add(_failed(event.command_name, target, {**problem, "errorLabels": reply.get("errorLabels")}))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        capture = _ACTIVE.get()
        if capture is None:
            return
        target = capture._started.pop((event.connection_id, event.request_id), None)
        reply = event.failure if isinstance(event.failure, dict) else {}
        capture.add(_failed(event.command_name, target, reply))


def _failed(command: str, target: str | None, reply: dict[str, Any]) -> FailedCommand:
    message = str(reply.get("errmsg") or reply or "failed").strip().splitlines()[0][:300]
    code = reply.get("code")
    return FailedCommand(
        command=command,
        collection=target,
        message=message,
        code=code if isinstance(code, int) else None,
        code_name=reply.get("codeName"),
        labels=tuple(reply.get("errorLabels") or ()),
    )


_factory_installed = False


def _install_log_capture() -> None:
    """Chain a log-record factory keeping ERROR messages logged under an armed capture (once)."""
    global _factory_installed
    if _factory_installed:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        capture = _ACTIVE.get()
        if capture is not None and record.levelno >= logging.ERROR and len(capture.logged) < MAX_KEPT:
            with contextlib.suppress(Exception):  # a bad format string must not break the step
                text = " ".join(record.getMessage().split()).split(", full error:")[0]
                capture.logged.append(text[:300])
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


@contextlib.contextmanager
def watching(capture: StepCapture) -> Iterator[StepCapture]:
    """Arm ``capture`` in the current context while the block runs (the step's call)."""
    _install_log_capture()
    token = _ACTIVE.set(capture)
    try:
        yield capture
    finally:
        _ACTIVE.reset(token)
