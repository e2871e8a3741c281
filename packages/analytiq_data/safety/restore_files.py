"""``restore --archive/--dir``: put a dump (ours or mongodump's) in place of a database, safely.

The same shape as ``restore --from``, under the database's migration lock (phase ``"restore"``):

1. the dump is opened and its metadata read (a file that is not a dump, or a database it does not
   hold, fails here: nothing was touched);
2. it is loaded into ``<db>__restore_tmp`` on the database's own server (``backup.files.load``),
   the files read once: documents (each archive collection's CRC-64 checked at its EOF header, the
   documents the server acknowledged counted against the files'), then each collection's count
   checked, then indexes, validators, TTL, views, then options and indexes compared with the
   metadata. Any failure so far drops the rebuild database and leaves the target as it was;
3. the rebuilt collections are swapped in by ``safety.restore``'s swap (collections the dump does
   not have are dropped), and the database is checked again against the files: counts, options and
   indexes (counts of collections with a TTL are left out of this last check: the server may expire
   their documents, as it would after mongorestore).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from analytiq_data.backup.catalog import STATE_COLLECTION, collection_infos, copied_namespace
from analytiq_data.backup.consistent.dumpfile import CATCHUP_COLLECTION, replay_dump_events
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.compat import assumption_lines, for_restore
from analytiq_data.backup.files.load import (
    Loaded,
    check_counts,
    check_definitions,
    create_namespaces,
    finish_definitions,
    has_ttl,
    load_documents,
)
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.source import choose_db, open_source
from analytiq_data.backup.files.stream import DumpSource
from analytiq_data.backup.identity import identify
from analytiq_data.backup.options import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, RESERVED_DATABASES
from analytiq_data.client import make_client
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.migrations.engine.lock import (
    DEFAULT_LEASE_S,
    DEFAULT_LOCK_WAIT_S,
    LOCK_COLLECTION,
    MigrationLock,
    held_error,
)
from analytiq_data.migrations.engine.prestep import set_phase
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.safety.restore import PHASE, RestoreOptions, _swap
from analytiq_data.safety.results import RestoreResult
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.uri import hosts_of, redact_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRestoreOptions:
    """Restore database ``db`` at ``uri`` from an ``archive`` file (``-``: stdin) or a dump ``directory``.

    ``from_db`` names the dump's database to restore (needed only when the dump holds several).
    """

    uri: str
    db: str
    archive: str | None = None
    directory: str | None = None
    from_db: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    timeout_s: float = DEFAULT_TIMEOUT_S
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S

    def __post_init__(self) -> None:
        if (self.archive is None) == (self.directory is None):
            raise ConfigurationError("give one of --archive FILE or --dir DIR", hint="e.g. --archive prod.archive")
        validate_db_name(self.db)
        if self.from_db is not None:
            validate_db_name(self.from_db)
        if self.db.lower() in RESERVED_DATABASES:
            raise ConfigurationError(f"refusing to restore into the {self.db!r} database", hint="choose another --db")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigurationError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE:,}, got {self.batch_size}")

    @property
    def where(self) -> str:
        """Return the dump's path, for messages."""
        if self.archive is not None:
            return "standard input" if self.archive == "-" else self.archive
        return str(self.directory)

    def swap_options(self, backup: str) -> RestoreOptions:
        """Return the ``restore`` options its swap reads (database, rebuild database, timeouts)."""
        return RestoreOptions(
            uri=self.uri,
            db=self.db,
            backup=backup,
            backup_uri=self.uri,
            timeout_s=self.timeout_s,
            lock_wait_s=self.lock_wait_s,
            lease_s=self.lease_s,
        )


def open_dump(options: FileRestoreOptions) -> tuple[DumpSource, str, list[Metadata]]:
    """Open the dump and return it, the database chosen in it, and that database's namespaces to restore.

    Raises DumpFileError (not a dump, unreadable) or ConfigurationError (no such database in the
    dump, or time-series collections, which this restore cannot swap in).
    """
    source = open_source(archive=options.archive, directory=options.directory, db=options.from_db)
    try:
        db = choose_db(source.namespaces, options.from_db, options.where)
        metas = [
            for_restore(m)  # what other mongodump versions and tools leave out, assumed as mongorestore does
            for m in source.namespaces
            if m.db == db
            and copied_namespace(m.collection)
            and m.collection not in (LOCK_COLLECTION, STATE_COLLECTION, CATCHUP_COLLECTION)
        ]
        series = sorted(m.collection for m in metas if m.type == "timeseries" or "timeseries" in m.options)
        if series:
            raise ConfigurationError(
                f"{options.where} holds time-series collections ({', '.join(series)}), which restore cannot swap in",
                hint="restore it with mongorestore into a new database",
            )
    except BaseException:
        source.close()
        raise
    return source, db, metas


async def target_holds_data(options: FileRestoreOptions) -> bool:
    """Return whether database ``options.db`` exists and holds collections (then restoring needs a confirmation)."""
    async with _connected(options) as (_, side):
        return bool(await collection_infos(side, keep=lambda name: name != LOCK_COLLECTION))


@contextlib.asynccontextmanager
async def _connected(options: FileRestoreOptions) -> AsyncIterator[tuple[AsyncMongoClient[Any], Side]]:
    client = make_client(options.uri, timeout_s=options.timeout_s)
    try:
        identity = await identify(client, options.uri, options.timeout_s)
        where = hosts_of(options.uri) or redact_uri(options.uri)
        if identity.topology == "sharded":
            raise ConfigurationError(
                f"restore cannot run through mongos ({where}): it swaps collections in with renameCollection",
                hint="restore with mongorestore into the database instead",
            )
        yield client, Side("destination", where, client[options.db], identity)
    finally:
        await client.close()


async def restore_files(options: FileRestoreOptions, progress: Progress = NULL_PROGRESS) -> RestoreResult:
    """Replace database ``options.db`` with the dump's database, under the migration lock, and verify it.

    Raises DumpFileError (a ConfigurationError: not a dump, truncated, corrupt, a CRC mismatch) with
    the database untouched, ConfigurationError, LockError, or VerificationError.
    """
    started = time.monotonic()
    source, dump_db, metas = await asyncio.to_thread(open_dump, options)
    assumed = assumption_lines(metas)
    for line in assumed:
        progress.note(f"assumed for {line}")
    try:
        async with _connected(options) as (client, live):
            lock = MigrationLock(live.db, lease_s=options.lease_s)
            got = await lock.acquire(options.lock_wait_s, progress=progress)
            if got.outcome != "held":
                raise held_error(got.holder, options.lock_wait_s)
            try:
                lock.start_renewing()
                await set_phase(lock, PHASE)
                swap = options.swap_options(dump_db)
                tmp = Side("destination", live.where, client[swap.tmp_db], live.identity)
                loaded = await _rebuild(tmp, source, metas, options, progress)
                lock.check()
                collections, dropped, views = await _swap(client, swap, progress)
                lock.check()
                progress.note(f"verifying {options.db} against {options.where}")
                await _check(live, metas, loaded, options, "after the swap")
                await client.drop_database(swap.tmp_db)
                version = (await StateStore(live.db).read_version()).version
            finally:
                await lock.release()
    finally:
        source.close()
    log.info("restored %s from %s", options.db, options.where)
    return RestoreResult(
        database=options.db,
        backup=f"{options.where} ({dump_db})",
        source=options.where,
        version=version,
        collections=tuple(collections),
        dropped=tuple(dropped),
        views=tuple(views),
        documents=sum(c.count for c in loaded.values()),
        verified=True,
        seconds=time.monotonic() - started,
        **checked_by(source),
        assumed=tuple(assumed),
    )


def checked_by(source: DumpSource) -> dict[str, tuple[str, ...]]:
    """Return what a restore from ``source`` checks (``checks``) and what it cannot (``unchecked``):
    counts, definitions, and the format's checksum of the documents' bytes if it has one."""
    checks = ("document counts", *([source.checksum] if source.checksum else []), "indexes and options")
    unchecked = () if source.checksum else ("the documents' bytes (a mongodump directory has no checksum)",)
    return {"checks": checks, "unchecked": unchecked}


async def _rebuild(
    tmp: Side, source: DumpSource, metas: list[Metadata], options: FileRestoreOptions, progress: Progress
) -> dict[str, Loaded]:
    """Load the dump into the rebuild database (reading it once) and check it; drop it again on any failure."""
    try:
        async with tmp.errors(f"dropping {tmp.db.name!r}"):
            await tmp.db.client.drop_database(tmp.db.name)
        progress.note(f"loading {options.where} into {tmp.db.name} on {tmp.where}")
        await create_namespaces(tmp, metas)
        dump_db = metas[0].db if metas else ""
        capture: dict[tuple[str, str], list[bytes]] = {(dump_db, CATCHUP_COLLECTION): []}
        loaded = await load_documents(
            tmp, source, metas, batch_size=options.batch_size, progress=progress, capture=capture
        )
        await _check(tmp, metas, loaded, options, "after loading", definitions=False)
        events = capture[(dump_db, CATCHUP_COLLECTION)]
        point = await replay_dump_events(tmp, events, copied_namespace)  # a --consistent dump: bring it to T
        if point is not None:
            progress.note(f"replayed the dump's change events: {point.describe_dump('replayed')}")
            loaded = await recount(tmp, metas)
        progress.note("building indexes, validators and views")
        await finish_definitions(tmp, metas)
        await _check(tmp, metas, loaded, options, "after building indexes", documents=False)
        return loaded
    except BaseException:
        with contextlib.suppress(PyMongoError):
            await tmp.db.client.drop_database(tmp.db.name)
        raise


async def recount(side: Side, metas: list[Metadata]) -> dict[str, Loaded]:
    """Return each loaded collection's count as it now is (after a dump's change events were replayed)."""
    out: dict[str, Loaded] = {}
    for meta in metas:
        if not meta.is_view:
            async with side.errors(f"counting {meta.collection!r}"):
                count = await side.db[meta.collection].count_documents({})
            out[meta.collection] = Loaded(count=count, acknowledged=count)
    return out


async def _check(
    side: Side,
    metas: list[Metadata],
    loaded: dict[str, Loaded],
    options: FileRestoreOptions,
    when: str,
    *,
    documents: bool = True,
    definitions: bool = True,
) -> None:
    """Raise VerificationError listing every difference between ``side``'s database and the dump."""
    found: dict[str, list[str]] = {}
    if documents:
        ttl = frozenset(m.collection for m in metas if has_ttl(m)) if when == "after the swap" else frozenset()
        found.update(await check_counts(side, metas, loaded, skip=ttl))
    if definitions:
        for name, diffs in (await check_definitions(side, metas)).items():
            found.setdefault(name, []).extend(diffs)
    lines = [f"{name}: {d}" for name, diffs in sorted(found.items()) for d in diffs]
    if lines:
        shown = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
        untouched = " (the database is untouched)" if side.db.name != options.db else ""
        raise VerificationError(
            f"database {side.db.name!r} differs from {options.where} {when}{untouched}: {shown}",
            hint="the dump may be damaged or from a server with other defaults; see the log (-v)",
        )
