"""What an unfinished ``restore`` leaves in its target database, so that every verb can see it.

A restore loads the backup inside the target database (``safety.staging``): a collection the
target already holds is loaded beside it as ``__restore.<name>`` (its *staged* copy, renamed over
it at the swap), a collection the target lacks is loaded under its own name (*created*). Before it
creates anything it writes one document, the *mark*, in collection ``__restore`` of the target:

``{_id: "restore", phase: "loading" | "swap", source, started_at, host, pid, lock_db, staged,
created, swap?}``

The mark stays until the restore has finished (or, before the swap, cleaned up after itself), so
a restore killed part-way is recognised by whoever reads the database next: ``status`` reports it
as a problem, ``up`` refuses to migrate a database mid-swap, ``backup`` refuses to copy one, and the
next ``restore`` finishes the swap (phase ``swap``) or removes the partial load (phase
``loading``). None of these names is user data: ``backup``, ``dump`` and ``verify`` skip them
(``backup.catalog.copied_namespace``).

This module only reads; it knows nothing of how a restore works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.lease import describe_holder

#: Prefix of the staged copy of a collection the target already holds.
STAGE_PREFIX = "__restore."
#: The collection holding the mark (one document).
MARK_COLLECTION = "__restore"
MARK_ID = "restore"
LOADING, SWAP = "loading", "swap"


def is_restore_namespace(name: str) -> bool:
    """Return whether ``name`` is a restore's own: its mark or a staged copy (never user data)."""
    return name == MARK_COLLECTION or name.startswith(STAGE_PREFIX)


def staged_name(name: str) -> str:
    """Return the name collection ``name`` is loaded under when the target already holds it."""
    return STAGE_PREFIX + name


@dataclass(frozen=True)
class RestoreMark:
    """An unfinished restore as its mark records it (``swap`` holds the swap's plan once it began)."""

    phase: str
    source: str
    started_at: datetime | None
    host: str | None
    pid: int | None
    lock_db: str | None
    staged: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    swap: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RestoreMark:
        """Build from the mark document."""
        return cls(
            phase=str(doc.get("phase") or LOADING),
            source=str(doc.get("source") or "an unknown source"),
            started_at=doc.get("started_at"),
            host=doc.get("host"),
            pid=doc.get("pid"),
            lock_db=doc.get("lock_db"),
            staged=tuple(doc.get("staged") or ()),
            created=tuple(doc.get("created") or ()),
            swap=dict(doc.get("swap") or {}),
        )

    @property
    def mid_swap(self) -> bool:
        """Return whether the swap began: part of the database may already hold the restored data."""
        return self.phase == SWAP

    def who(self) -> str:
        """Return ``host (pid N), started 2024-05-01 10:00:00 UTC`` for messages."""
        return describe_holder(self.host or "an unknown host", self.pid, self.started_at, started=", started ")

    def describe(self, db: str, *, running: bool = False) -> str:
        """Return one line saying what state the database is in and what to do (for ``status`` and refusals).

        ``running``: the restore's lease is live (it is at work, or was stopped less than a lease ago).
        """
        who = f"from {self.source}, {self.who()}"
        if self.mid_swap:
            state = (
                f"database {db!r} is in the middle of a restore's swap ({who}): part of it may hold the restored "
                "data and part the old data"
            )
            then = "its restore holds its lock" if running else "run the same restore again: it finishes the swap"
            return f"{state}; {then}"
        if running:
            return f"a restore into {db!r} is loading ({who}): the database's own collections are unchanged so far"
        return (
            f"a restore into {db!r} stopped while loading ({who}): the database's own collections are unchanged, "
            "but it holds the partial load; run the same restore again (it removes the partial load first)"
        )


async def read_mark(db: AsyncDatabase[Any]) -> RestoreMark | None:
    """Return the mark of an unfinished restore in ``db``, or None (reads only; creates nothing)."""
    doc = await db[MARK_COLLECTION].find_one({"_id": MARK_ID})
    return None if doc is None else RestoreMark.from_doc(doc)

