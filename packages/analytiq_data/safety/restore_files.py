"""``restore --archive/--dir``: put a dump (ours or mongodump's) in place of a database, safely.

The same steps as ``restore --from`` (``restore_run.replace_database``); this module opens the
dump and loads it:

1. the dump is opened and its metadata read (a file that is not a dump, or a database it does not
   hold, fails here: nothing was touched, not even the lock);
2. it is loaded inside the target (``staging``: beside each collection it replaces, under its own
   name otherwise) by ``backup.files.load``, the files read once, several inserts in flight (at
   most ``parallel``, as many as the server absorbs): each archive collection's CRC-64 is checked
   at its EOF header, the documents the server acknowledged are counted against the files'; as
   soon as a collection's documents are in, its count is checked on the server and its indexes
   are built (one ``createIndexes``), then its validator and TTL options applied, beside the rest
   of the load (a ``--consistent`` dump's change events are replayed first, then indexes built);
   then options and indexes are compared with the metadata. Any failure so far removes the
   partial load and leaves the target as it was;
3. the swap, and the checks after it, as for ``restore --from`` (counts of collections with a TTL
   are left out of the last check: the server may expire their documents, as after mongorestore).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo import AsyncMongoClient

from analytiq_data.backup.catalog import STATE_COLLECTION, collection_infos, copied_namespace, namespaces
from analytiq_data.backup.consistent.dumpfile import CATCHUP_COLLECTION, replay_dump_events
from analytiq_data.backup.ddl import has_ttl
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.compat import assumption_lines, for_restore
from analytiq_data.backup.files.load import (
    Loaded,
    Where,
    check_count,
    check_definitions,
    create_namespaces,
    finish_collection,
    finish_definitions,
    load_documents,
)
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.source import choose_db, open_source
from analytiq_data.backup.files.stream import DumpSource
from analytiq_data.backup.identity import identify
from analytiq_data.backup.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PARALLEL,
    MAX_BATCH_SIZE,
    MAX_PARALLEL,
    RESERVED_DATABASES,
)
from analytiq_data.client import make_client
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S, LOCK_COLLECTION
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.restore_mark import is_restore_namespace
from analytiq_data.safety.restore_guard import TargetInUse
from analytiq_data.safety.restore_lock import lock_db_name
from analytiq_data.safety.restore_run import LoadPlan, LoadResult, TargetOptions, replace_database
from analytiq_data.safety.results import RestoreResult
from analytiq_data.safety.staging import Staging
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.text import first_few
from analytiq_data.uri import hosts_of, redact_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRestoreOptions:
    """Restore database ``db`` at ``uri`` from an ``archive`` file (``-``: stdin) or a dump ``directory``.

    ``from_db`` names the dump's database to restore (needed only when the dump holds several);
    ``parallel`` is the ceiling of inserts in flight.
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
    parallel: int = DEFAULT_PARALLEL

    def __post_init__(self) -> None:
        if (self.archive is None) == (self.directory is None):
            raise ConfigurationError("give one of --archive FILE or --dir DIR", hint="e.g. --archive prod.archive")
        validate_db_name(self.db)
        validate_db_name(lock_db_name(self.db))
        if self.from_db is not None:
            validate_db_name(self.from_db)
        if self.db.lower() in RESERVED_DATABASES:
            raise ConfigurationError(f"refusing to restore into the {self.db!r} database", hint="choose another --db")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigurationError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE:,}, got {self.batch_size}")
        if not 1 <= self.parallel <= MAX_PARALLEL:
            raise ConfigurationError(f"--parallel must be between 1 and {MAX_PARALLEL}, got {self.parallel}")

    @property
    def where(self) -> str:
        """Return the dump's path, for messages."""
        if self.archive is not None:
            return "standard input" if self.archive == "-" else self.archive
        return str(self.directory)

    def target(self) -> TargetOptions:
        """Return what ``replace_database`` needs."""
        return TargetOptions(self.db, self.lock_wait_s, self.lease_s, self.batch_size, self.parallel)


def open_dump(options: FileRestoreOptions) -> tuple[DumpSource, str, list[Metadata]]:
    """Open the dump and return it, the database chosen in it, and that database's namespaces to restore.

    Raises DumpFileError (not a dump, unreadable) or ConfigurationError (no such database in the
    dump, or time-series collections, which this restore cannot load).
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
                f"{options.where} holds time-series collections ({', '.join(series)}), which restore cannot load",
                hint="restore it with mongorestore into a new database",
            )
    except BaseException:
        source.close()
        raise
    return source, db, metas


class TargetAddress(Protocol):
    """Where a restore goes: any restore's options (from a backup database, files or a log)."""

    @property
    def uri(self) -> str: ...
    @property
    def db(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...


async def target_holds_data(options: TargetAddress) -> bool:
    """Return whether database ``options.db`` exists and holds collections (then restoring needs a confirmation)."""
    async with connected_target(options) as side:
        return bool(await collection_infos(side, keep=lambda name: name != LOCK_COLLECTION))


@contextlib.asynccontextmanager
async def connected_target(options: TargetAddress) -> AsyncIterator[Side]:
    client: AsyncMongoClient[Any] = make_client(options.uri, timeout_s=options.timeout_s)
    try:
        identity = await identify(client, options.uri, options.timeout_s)
        where = hosts_of(options.uri) or redact_uri(options.uri)
        yield Side("destination", where, client[options.db], identity)
    finally:
        await client.close()


async def restore_files(options: FileRestoreOptions, progress: Progress = NULL_PROGRESS) -> RestoreResult:
    """Replace database ``options.db`` with the dump's database: loaded beside it, checked, swapped in, checked.

    Raises DumpFileError (a ConfigurationError: not a dump, truncated, corrupt, a CRC mismatch) with
    the database unchanged, ConfigurationError, LockError, TargetInUse (another client wrote to the
    database meanwhile), VerificationError, RestoreInterrupted or RestoreIncomplete (as ``restore``).
    """
    source, dump_db, metas = await asyncio.to_thread(open_dump, options)
    assumed = assumption_lines(metas)
    for line in assumed:
        progress.note(f"assumed for {line}")
    try:
        async with connected_target(options) as side:
            loader = DumpLoader(source, dump_db, metas, options)
            result = await replace_database(side, options.target(), loader, progress)
    finally:
        source.close()
    log.info("restored %s from %s", options.db, options.where)
    checks, unchecked = checked_by(source)
    return dataclasses.replace(result, checks=checks, unchecked=unchecked, assumed=tuple(assumed))


def checked_by(source: DumpSource) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return what a restore from ``source`` checks and what it cannot: counts, definitions, and the
    format's checksum of the documents' bytes if it has one."""
    checks = ("document counts", *([source.checksum] if source.checksum else []), "indexes and options")
    unchecked = () if source.checksum else ("the documents' bytes (a mongodump directory has no checksum)",)
    return checks, unchecked


class DumpLoader:
    """Loads one database of a dump into the target."""

    def __init__(self, source: DumpSource, dump_db: str, metas: list[Metadata], options: FileRestoreOptions) -> None:
        self.dump, self.dump_db, self.metas, self.options = source, dump_db, metas, options
        self.consistent = any(m.db == dump_db and m.collection == CATCHUP_COLLECTION for m in source.namespaces)

    @property
    def source(self) -> str:
        """Return ``archive prod.archive (database prod)``."""
        kind = "archive" if self.options.archive is not None else "dump directory"
        return f"{kind} {self.options.where} (database {self.dump_db})"

    @property
    def name(self) -> str:
        """Return the dump's path and database."""
        return f"{self.options.where} ({self.dump_db})"

    @property
    def plan(self) -> LoadPlan:
        """Return the dump's collections and views."""
        views = tuple((m.collection, dict(m.options)) for m in self.metas if m.is_view)
        return LoadPlan(tuple(m.collection for m in self.metas if not m.is_view), views)

    async def load(self, side: Side, staging: Staging, progress: Progress) -> LoadResult:
        """Load the dump's collections at ``staging.where(name)``, checking each (counts, CRCs, definitions)."""
        where, by_name = staging.where, {m.collection: m for m in self.metas}
        progress.note(f"loading {self.options.where} into {side.db.name} on {side.where}")
        await create_namespaces(side, self.metas, where)

        async def finish(name: str, loaded: Loaded) -> None:  # as soon as a collection's documents are in
            await _check_one(side, name, loaded, where)
            await finish_collection(side, by_name[name], where)

        capture: dict[tuple[str, str], list[bytes]] = {(self.dump_db, CATCHUP_COLLECTION): []}
        loaded = await load_documents(
            side,
            self.dump,
            self.metas,
            batch_size=self.options.batch_size,
            parallel=self.options.parallel,
            progress=progress,
            capture=capture,
            where=where,
            on_loaded=None if self.consistent else finish,
        )
        if self.consistent:
            await self._replay(side, staging, loaded, capture[(self.dump_db, CATCHUP_COLLECTION)], progress)
        differences = await check_definitions(side, self.metas, where, views=False)
        _raise_differences(side.db.name, self.options.where, {n: d for n, d in differences.items()})
        ttl = frozenset(m.collection for m in self.metas if has_ttl(m))
        return LoadResult({n: c.count for n, c in loaded.items()}, ttl)

    async def _replay(
        self, side: Side, staging: Staging, loaded: dict[str, Loaded], events: list[bytes], progress: Progress
    ) -> None:
        """Check the counts, replay the dump's change events (bringing it to T), recount, then build the definitions."""
        for name, expected in loaded.items():
            await _check_one(side, name, expected, staging.where)
        before = set(await namespaces(side.db))
        point = await replay_dump_events(side, events, copied_namespace, staging.where)
        if point is not None:
            progress.note(f"replayed the dump's change events: {point.describe_dump('replayed')}")
        new = sorted(n for n in set(await namespaces(side.db)) - before if not is_restore_namespace(n))
        if new:  # collections the events created: the restore's own from now on
            await staging.note_created(new)
        for name in [*loaded, *new]:
            async with side.errors(f"counting {name!r}"):
                count = await side.db[staging.where(name)].count_documents({})
            loaded[name] = Loaded(count=count, acknowledged=count)
        progress.note("building indexes, validators and TTL options")
        await finish_definitions(side, self.metas, staging.where, views=False)


async def _check_one(side: Side, name: str, expected: Loaded, where: Where) -> None:
    """Raise if the server's count of a loaded collection differs from the files' (TargetInUse if another
    client wrote to it: the server took every document sent and counts others).

    A staged copy (``__restore.<name>``) is written by no one else: what the server acknowledged is
    its count. A collection loaded under its own name is counted (on mongod from its catalog).
    """
    if where(name) != name:
        differences = expected.differences()
    else:
        differences = await check_count(side, name, expected, where)
    if not differences:
        return
    if expected.acknowledged == expected.count:
        raise TargetInUse(
            f"another client wrote to {where(name)!r} in database {side.db.name!r} while the restore loaded it "
            f"({'; '.join(differences)}): the restore did not take effect",
            hint="stop the application (analytiq-db restore --check shows who is connected), "
            "then run the restore again",
        )
    _raise_differences(side.db.name, "the dump", {name: differences})


def _raise_differences(db: str, where: str, found: dict[str, list[str]]) -> None:
    lines = [f"{name}: {d}" for name, diffs in sorted(found.items()) for d in diffs]
    if lines:
        shown = first_few(lines, 3)
        raise VerificationError(
            f"what was loaded into {db!r} differs from {where} (the database is unchanged): {shown}",
            hint="the dump may be damaged or from a server with other defaults; see the log (-v)",
        )
