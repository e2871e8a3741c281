"""Where a restore's lock lives: a database of its own, ``<db>__restore``, never the database it replaces.

One restore of a database at a time, under a lease (``migrations/engine/lock.py``'s
``MigrationLock``: taken atomically, renewed in the background, expiring by the server's clock,
taken over from a dead holder). Why not in the target, as the migration lock is:

- the lease is renewed every third of ``--lease`` while the restore works; each renewal written
  into the target would queue behind the swap's catalog changes on the same database (a rename
  holds that database's catalog; on the test server a rename of a large collection blocked the
  renewal for 20 seconds), and a stalled renewal is a lost lease;
- the target must hold nothing of the tool's once the restore ends, including when it refuses
  a damaged dump part-way: a lease document, then its emptied collection, would stay behind.

So the lease is written in ``<db>__restore`` (shortened to 63 bytes like every derived name), a
database that exists only while a restore runs: the holder drops it as it releases the lease
(while the lease is still its own, so no other restore's lease can be dropped with it). A killed
restore leaves it behind with an expired lease; the next restore takes that over and drops it.

Migration runners are kept out differently: a restore waits, reading only, while the target's
migration lock is held, and refuses to swap if a run took it during the load; runners refuse a
database with an unfinished restore (``restore_mark``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import ConfigurationError, LockError
from analytiq_data.migrations.engine.lock import LOCK_COLLECTION, LockInfo, MigrationLock, format_time, read_lock
from analytiq_data.migrations.engine.lockinfo import LockHeld
from analytiq_data.migrations.engine.prestep import set_phase
from analytiq_data.progress import Progress
from analytiq_data.safety.backup_first import fit_name

log = logging.getLogger(__name__)

LOCK_SUFFIX = "__restore"
PHASE = "restore"


def lock_db_name(db: str) -> str:
    """Return the database holding the lease of restores of ``db``."""
    return fit_name(db, LOCK_SUFFIX)


@contextlib.asynccontextmanager
async def restore_lock(
    client: AsyncMongoClient[Any], db: str, *, lease_s: float, wait_s: float, progress: Progress
) -> AsyncIterator[MigrationLock]:
    """Hold the lease of restores of ``db`` (waiting up to ``wait_s``), renewed; drop its database on release.

    Raises LockError when another restore of ``db`` holds it past the wait.
    """
    name = lock_db_name(db)
    await _refuse_foreign(client[name], db)
    lock = MigrationLock(client[name], lease_s=lease_s)
    got = await lock.acquire(wait_s, progress=progress)
    if got.outcome != "held":
        raise _held(db, got.holder, wait_s)
    if got.took_over is not None:
        progress.note(f"took over the expired restore lock of {got.took_over.describe()}")
    try:
        lock.start_renewing()
        await set_phase(lock, PHASE)
        yield lock
    finally:
        await _release(client, name, lock)


async def _refuse_foreign(lock_db: AsyncDatabase[Any], db: str) -> None:
    """Raise ConfigurationError if ``<db>__restore`` holds anything but a restore's lease (it is dropped after)."""
    others = sorted(n for n in await lock_db.list_collection_names() if n != LOCK_COLLECTION)
    if others:
        raise ConfigurationError(
            f"database {lock_db.name!r} holds collections ({', '.join(others[:3])}): a restore of {db!r} keeps its "
            "lock there and drops it afterwards; nothing changed",
            hint=f"rename or drop {lock_db.name!r} first",
        )


async def _release(client: AsyncMongoClient[Any], name: str, lock: MigrationLock) -> None:
    """Stop renewing; if the lease is still ours, drop its database (with the lease in it); never raises."""
    await lock.stop_renewing()
    try:
        if lock.held and not lock.lost and await lock.renew():
            await client.drop_database(name)
    except PyMongoError as exc:
        log.warning("could not remove the restore lock database %s: %s", name, exc)
    finally:
        await lock.release()  # nothing left to delete once the database is gone (a delete creates nothing)


def _held(db: str, holder: LockInfo | None, wait_s: float) -> LockError:
    # Not a LockHeld: two restores of one database at once conflict (the later would undo the earlier);
    # a fan-out reports it as this database's failure instead of coming back to it after the others.
    who = holder.describe() if holder else "another restore"
    expiry = f"; its lease ends at {format_time(holder.expires_at)}" if holder and holder.expires_at else ""
    return LockError(
        f"another restore of database {db!r} is running: its lock is held by {who} (waited {wait_s:g}s){expiry}",
        hint="wait for it to finish or raise --lock-wait; a dead holder's lock is taken over once its lease expires",
    )


async def wait_for_migrations(db: AsyncDatabase[Any], wait_s: float, progress: Progress) -> None:
    """Wait (reading only) while a migration run holds ``db``'s migration lock; LockHeld after ``wait_s``."""
    started = time.monotonic()
    delay, noted = 0.05, False
    while (holder := await read_lock(db)) is not None and holder.live:
        if not noted:
            progress.note(f"waiting up to {wait_s:g}s for the migration run holding the lock ({holder.describe()})")
            noted = True
        if time.monotonic() - started >= wait_s:
            raise LockHeld(
                f"a migration run holds the migration lock of {db.name!r} ({holder.describe()}): not restoring "
                f"(waited {wait_s:g}s)",
                holder=holder,
                hint="wait for it to finish (analytiq-db status shows it) or raise --lock-wait",
            )
        await asyncio.sleep(delay)  # polling the lock's state, as runners wait for it
        delay = min(delay * 2, 1.0)


async def migration_started(db: AsyncDatabase[Any]) -> LockError | None:
    """Return the error for a migration run holding ``db``'s lock now (it started during the load), or None."""
    holder = await read_lock(db)
    if holder is None or not holder.live:
        return None
    return LockError(
        f"a migration run took the migration lock of {db.name!r} during the restore ({holder.describe()}): the "
        "restore did not take effect; the database holds its own data and what that run changed",
        hint="stop the application and its migrations, then run the restore again",
    )
