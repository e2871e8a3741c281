"""What can go wrong before the server's first reply, named in one line: a string that is not a
MongoDB URI, an option the driver would ignore, a TLS file that cannot be read, a certificate the
client rejects (wrong CA, host name mismatch) — the last one reported at once rather than after
the whole server-selection timeout.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from pymongo import common, monitoring

from analytiq_data.errors import ConfigurationError, DatabaseConnectionError
from analytiq_data.uri import hosts_of, redact_text, redact_uri

T = TypeVar("T")

URI_HINT = "expected mongodb://[user:password@]host[:port][,host...]/[?options]"
_CERT_RE = re.compile(
    r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|hostname mismatch|IP address mismatch|"
    r"doesn't match|TLSV1_ALERT|SSLV3_ALERT|WRONG_VERSION_NUMBER|self.signed certificate",
    re.IGNORECASE,
)


def check_uri_scheme(uri: str) -> None:
    """Raise ConfigurationError unless ``uri`` starts with ``mongodb://`` or ``mongodb+srv://``."""
    if not uri.lower().startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigurationError(f"invalid MongoDB URI {redact_uri(uri)!r}: not a mongodb:// URI", hint=URI_HINT)


def unknown_options(uri: str) -> list[str]:
    """Return the URI's option names the driver does not know (as written)."""
    _, _, query = uri.partition("?")
    names = [unquote(part.partition("=")[0]) for part in re.split(r"[&;]", query) if part]
    return [n for n in names if n.lower() not in common.VALIDATORS]


def construct(uri: str, build: Callable[[], T]) -> T:
    """Run ``build()`` (the client's constructor), turning the driver's URI warnings and unreadable
    TLS files into one ConfigurationError line each; the driver would otherwise print warnings and
    ignore the option (``tls=maybe`` connects without TLS)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            client = build()
        except OSError as exc:  # tlsCAFile / tlsCertificateKeyFile missing or unreadable
            detail = exc.strerror or str(exc)
            raise ConfigurationError(
                f"cannot use the TLS file named in the MongoDB URI {redact_uri(uri)}: {detail}",
                hint="check the tlsCAFile / tlsCertificateKeyFile path and its permissions",
            ) from exc
    problems = [w for w in caught if not issubclass(w.category, DeprecationWarning)]
    if problems:
        unknown = unknown_options(uri)
        if unknown:
            message = f"unknown option {', '.join(repr(n) for n in unknown)} in the MongoDB URI"
        else:
            message = f"bad option in the MongoDB URI: {redact_text(str(problems[0].message))}"
        close = getattr(client, "close", None)
        if close is not None and not asyncio.iscoroutinefunction(close):
            close()
        raise ConfigurationError(message, hint="check its spelling and value; the driver would ignore it")
    return client


def certificate_problem(text: str) -> str | None:
    """Return the certificate error named in a driver message (e.g. ``certificate verify failed: IP
    address mismatch ...``), or None when the message is about something else."""
    if not _CERT_RE.search(text):
        return None
    match = re.search(r"\[SSL[^\]]*\]\s*([^(]*)", text)
    detail = (match.group(1) if match else text).strip().rstrip(".")
    return " ".join(detail.split())[:200]


def certificate_error(uri: str, detail: str) -> DatabaseConnectionError:
    """Return the one-line error for a TLS certificate the client rejected."""
    return DatabaseConnectionError(
        f"TLS certificate of MongoDB at {hosts_of(uri) or redact_uri(uri)} rejected: {detail}",
        hint="check tlsCAFile (the CA that signed the server's certificate) and that the host name in the URI "
        "is one the certificate names",
    )


class CertificateWatch(monitoring.ServerHeartbeatListener):
    """Notes heartbeats that fail on a certificate, so a command need not wait out the whole timeout."""

    def __init__(self, seeds: int) -> None:
        self.seeds = max(seeds, 1)
        self.rejected: dict[str, str] = {}  # address -> certificate problem
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        """Ignored."""

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        """Forget an earlier certificate failure of this server."""
        self.rejected.pop(str(event.connection_id), None)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        """Record a certificate failure; once every seed failed so, wake the waiting command."""
        detail = certificate_problem(str(event.reply))
        if detail is None:
            return
        self.rejected[str(event.connection_id)] = detail
        if len(self.rejected) >= self.seeds and self._event is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._event.set)

    async def race(self, uri: str, command: Awaitable[T]) -> T:
        """Await ``command``, but raise the certificate error as soon as every seed failed on one."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        if len(self.rejected) >= self.seeds:
            self._event.set()
        task = asyncio.ensure_future(command)
        waiter = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done():
            return task.result()
        task.add_done_callback(_discard_outcome)
        task.cancel()
        raise certificate_error(uri, next(iter(self.rejected.values())))


def _discard_outcome(task: asyncio.Future[Any]) -> None:
    """Retrieve a cancelled command's outcome so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()


def seed_count(uri: str) -> int:
    """Return how many hosts the URI lists (1 for ``mongodb+srv://``)."""
    if uri.lower().startswith("mongodb+srv://"):
        return 1
    return len([h for h in hosts_of(uri).split(",") if h])
