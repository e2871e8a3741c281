"""What a lock document says, read for people: who holds the lease, whether that process is gone,
which step it is running and for how long; and the lines that say so (held, waiting, taken over)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from analytiq_data.errors import LockError
from analytiq_data.lease import describe_holder, format_time
from analytiq_data.progress import Progress

LOCK_COLLECTION = "migration_lock"  # where a database's lock lives, unless a caller names another
LOCK_ID = "migration_lock"  # the lock document's _id in that collection


def format_duration(seconds: float) -> str:
    """Return ``42s``, ``3m05s`` or ``2h07m`` (``0.3s`` under ten seconds)."""
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@dataclass(frozen=True)
class RunningStep:
    """The step a lock's holder reported running: ``running_s`` by the server's clock when read."""

    version: int
    name: str
    direction: str
    running_s: float | None
    time_limit_s: float | None

    @classmethod
    def from_doc(cls, doc: Any, now: datetime | None) -> RunningStep | None:
        """Build from the lock document's ``step`` field (None if absent or malformed)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("version"), int):
            return None
        started = doc.get("started_at")
        running = (now - started).total_seconds() if isinstance(started, datetime) and now is not None else None
        limit = doc.get("time_limit_s")
        return cls(
            version=doc["version"],
            name=str(doc.get("name", "")),
            direction=str(doc.get("direction", "")),
            running_s=None if running is None else max(running, 0.0),
            time_limit_s=float(limit) if isinstance(limit, int | float) and not isinstance(limit, bool) else None,
        )

    def describe(self) -> str:
        """Return ``version 3 (AddIndex) up, running for 1m05s (time limit 10m00s)``."""
        text = f"version {self.version} ({self.name}) {self.direction}"
        if self.running_s is not None:
            text += f", running for {format_duration(self.running_s)}"
        if self.time_limit_s is not None:
            text += f" (time limit {format_duration(self.time_limit_s)})"
        return text


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) a lock, as the lock document and the server's clock say.

    ``live``: the lease has not ended and its holder is not known to be gone. ``holder_gone``: the
    lease has time left but its process no longer exists on this host (``liveness``): the next
    runner takes it over at once.
    """

    holder: str
    host: str | None
    pid: int | None
    token: str | None
    locked_at: datetime | None
    expires_at: datetime | None
    renewed_at: datetime | None
    txn_lsid: Any
    live: bool
    phase: str | None = None  # what the live holder reports doing (``set_phase``), e.g. "backup"
    holder_gone: bool = False
    step: RunningStep | None = None  # the step the live holder is running

    @classmethod
    def from_doc(cls, doc: dict[str, Any], live: bool, *, gone: bool = False, now: datetime | None = None) -> LockInfo:
        """Build from a lock document (ours or the original code's); ``live`` is the lease by the server's
        clock, ``gone`` whether its holder is known to be gone, ``now`` the server's time of the read."""
        host = doc.get("host") or doc.get("holder")
        token = doc.get("token")
        gone = gone and live and token is not None
        live = live and not gone
        in_phase = live and token is not None and doc.get("phase") and doc.get("phase_token") == token
        return cls(
            holder=str(doc.get("holder") or host or "unknown"),
            host=host,
            pid=doc.get("pid"),
            token=token,
            locked_at=doc.get("locked_at"),
            expires_at=doc.get("expires_at"),
            renewed_at=doc.get("renewed_at"),
            txn_lsid=doc.get("txn_lsid"),
            live=live,
            phase=str(doc["phase"]) if in_phase else None,
            holder_gone=gone,
            step=RunningStep.from_doc(doc.get("step"), now) if live else None,
        )

    def describe(self) -> str:
        """Return ``host (pid N) since 2024-05-01 10:00:00 UTC`` for messages."""
        return describe_holder(self.host or self.holder, self.pid, self.locked_at)

    def to_json(self) -> dict[str, Any]:
        """Return the lock as plain data (the session id left out)."""
        data = dict(self.__dict__)
        data.pop("txn_lsid", None)
        data["step"] = asdict(self.step) if self.step is not None else None
        return data


def gone_line(info: LockInfo) -> str:
    """Return the line saying a lock's holder process is gone and what happens next."""
    return (
        f"the lock is held by {info.describe()}, a process that no longer exists on this host: "
        "the next runner takes it over at once (or clear it with analytiq-db unlock)"
    )


def running_line(info: LockInfo) -> str:
    """Return ``a migration is running: lock held by … ; version 3 (X) up, running for 42s``."""
    step = f"; {info.step.describe()}" if info.step is not None else ""
    return f"a migration is running: lock held by {info.describe()}{step}"


def takeover_line(previous: LockInfo) -> str:
    """Return the line saying this runner took over ``previous``'s lease, and why it could."""
    if previous.holder_gone:
        return f"took over the migration lock of {previous.describe()}: that process no longer exists on this host"
    return f"took over the expired migration lock of {previous.describe()}"


class LockHeld(LockError):
    """Another runner held a database's migration lock past this run's wait: nothing was done.

    ``holder`` is who held it (None: the lock was gone or unreadable when read again). A lost lease
    or a lock taken during the work is another LockError, not this.
    """

    def __init__(self, message: str, *, holder: LockInfo | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


def held_error(holder: LockInfo | None, wait_s: float) -> LockHeld:
    """Return the error for a lock still held by ``holder`` after waiting ``wait_s`` seconds."""
    who = holder.describe() if holder else "another runner"
    expiry = f"; its lease ends at {format_time(holder.expires_at)}" if holder and holder.expires_at else ""
    return LockHeld(
        f"migration lock held by {who} (waited {wait_s:g}s){expiry}",
        holder=holder,
        hint="wait for it to finish or raise --lock-wait; if that runner is dead on another host, "
        "analytiq-db unlock clears the lock once its lease has expired",
    )


def note_waiting(progress: Progress, holder: LockInfo, wait_s: float, noted: set[str]) -> None:
    """Tell ``progress`` once that this runner waits, and once per phase the holder reports."""
    if holder.phase is not None:
        if holder.phase not in noted:
            noted.add(holder.phase)
            progress.note(
                f"the lock holder is in its {holder.phase} phase: waiting for it (not counted in the lock wait)"
            )
    elif "" not in noted:
        noted.add("")
        progress.note(f"waiting up to {wait_s:g}s for the migration lock held by {holder.describe()}")
