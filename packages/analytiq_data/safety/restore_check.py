"""``restore --check``: is the target ready to be replaced? Read only: nothing is written anywhere.

A restore needs the application stopped. This says, before anything is changed, what the server
tells about who uses the database: connections and operations (``$currentOp``, where allowed),
writes during a short window (``activity.survey``), a migration run or another restore holding
their locks, and an unfinished earlier restore (``restore_mark``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.backup.catalog import database_documents, namespaces
from analytiq_data.client import connection_error, make_client, ping
from analytiq_data.migrations.engine.checks import restore_problem
from analytiq_data.migrations.engine.lock import read_lock
from analytiq_data.safety.activity import Survey, survey
from analytiq_data.safety.restore_lock import lock_db_name

#: How long ``--check`` watches the database for writes (seconds).
DEFAULT_WINDOW_S = 2.0


@dataclass(frozen=True)
class RestoreCheck:
    """What ``restore --check`` found about the target (``problems`` empty: ready to restore)."""

    database: str
    collections: int
    documents: int
    survey: Survey
    problems: tuple[str, ...]

    @property
    def ready(self) -> bool:
        """Return whether nothing was seen that a restore would collide with."""
        return not self.problems

    def lines(self) -> list[str]:
        """Return the findings as lines for a person (the verdict last)."""
        out = [f"database {self.database}: {self.collections} collection(s), about {self.documents:,} documents"]
        out += self.survey.lines()
        out += [f"! {p}" for p in self.problems]
        out.append("ready: nothing was seen using the database" if self.ready else "not ready: see the lines above")
        return out

    def to_json(self) -> dict[str, Any]:
        """Return the findings as plain data."""
        return {
            "database": self.database,
            "collections": self.collections,
            "documents": self.documents,
            "activity": self.survey.to_json(),
            "problems": list(self.problems),
            "ready": self.ready,
        }


async def check_target(db: AsyncDatabase[Any], window_s: float = DEFAULT_WINDOW_S) -> RestoreCheck:
    """Look at database ``db`` the way a restore would collide with it (reads only)."""
    infos = await namespaces(db)
    documents = await database_documents(db, infos)
    problems: list[str] = []
    unfinished = await restore_problem(db)
    if unfinished is not None:
        problems.append(unfinished)
    migration = await read_lock(db)
    if migration is not None and migration.live:
        problems.append(f"a migration is running: lock held by {migration.describe()}")
    other = await read_lock(db.client[lock_db_name(db.name)])
    if other is not None and other.live and unfinished is None:
        problems.append(f"another restore of the database is running: lock held by {other.describe()}")
    seen = await survey(db, window_s)
    if seen.writes:
        problems.append(f"clients are writing to the database ({seen.writes.describe()}): stop the application first")
    problems += [f"an operation runs on the database: {op}" for op in seen.operations]
    return RestoreCheck(db.name, len(infos), documents, seen, tuple(problems))


async def check_restore_target(
    uri: str, db: str, *, timeout_s: float, window_s: float = DEFAULT_WINDOW_S
) -> RestoreCheck:
    """Connect to ``uri`` and check database ``db`` (``check_target``); an unreachable server is one line."""
    client = make_client(uri, timeout_s=timeout_s)
    try:
        await ping(client, uri, timeout_s)
        try:
            return await check_target(client[db], window_s)
        except PyMongoError as exc:
            raise connection_error(uri, exc, timeout_s) from exc
    finally:
        await client.close()
