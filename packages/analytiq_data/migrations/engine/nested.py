"""Nested runs: a run started from inside a run that holds the same lock would wait for itself.

While a run's hooks and steps work, the lease's token is kept in a context variable
(``working_under``); a step's task inherits it from its run. A run started from there on the same
lock — a step calling ``run_migrations`` on the database being migrated — raises NestedRunError at
once: before it connects (``refuse_nested``), or when it reads the lock (``MigrationLock``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.engine.lockinfo import LOCK_COLLECTION, LOCK_ID, LockInfo


class NestedRunError(MigrationError):
    """A run (``run_migrations``, ``up``, ``stamp``, a restore…) was started inside a run that holds the
    same lock — from one of its steps or hooks. It would wait for itself until its lock wait ran out."""

    def __init__(self, database: str, holder: LockInfo) -> None:
        super().__init__(
            f"a migration run was started inside a run that holds the migration lock of database {database} "
            f"({holder.describe()}): it would wait for itself",
            hint="do not run migrations (run_migrations, up, down, stamp, restore) from a step or hook of a run "
            "on the same database",
        )
        self.database = database


# Tokens of the leases the current context works under (a step's task inherits its run's).
_HELD_HERE: ContextVar[frozenset[str]] = ContextVar("analytiq_held_lock_tokens", default=frozenset())


async def refuse_nested(client: Any, database: str, collection: str = LOCK_COLLECTION) -> None:
    """Raise NestedRunError if a run enclosing the current context holds the lock of ``database`` on
    ``client``'s server; call before a verb connects. Inside a step that runs in a transaction the
    verb's first command (``hello``) would be refused by the step's transaction; this read uses a
    session of its own. Only for a PyMongo client (a motor step never runs in a transaction: the
    check when the lock is taken covers it); a read error leaves the decision to that check."""
    held = _HELD_HERE.get()
    if not held or not isinstance(client, AsyncMongoClient):
        return
    try:
        async with client.start_session() as side:  # explicit: never the step's bound session
            doc = await client[database][collection].find_one({"_id": LOCK_ID}, session=side)
    except PyMongoError:
        return
    if doc is not None and doc.get("token") in held:
        raise NestedRunError(database, LockInfo.from_doc(doc, live=True))


def held_here() -> frozenset[str]:
    """Return the tokens of the leases the current context works under."""
    return _HELD_HERE.get()


@contextlib.contextmanager
def working_under(token: str) -> Iterator[None]:
    """Mark the block as working under the lease ``token`` (see the module's docstring)."""
    mark = _HELD_HERE.set(_HELD_HERE.get() | {token})
    try:
        yield
    finally:
        _HELD_HERE.reset(mark)
