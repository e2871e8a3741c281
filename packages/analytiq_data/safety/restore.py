"""``restore``: put a backup back in place of a database, built beside it, swapped in, verified.

Under the migration lock of the database (the lease renewed meanwhile, phase ``"restore"``):

1. the backup is copied with the backup engine into ``<db>__restore_tmp`` on the database's own
   server and verified against the backup (the database is untouched so far);
2. each collection is moved in with ``renameCollection`` across databases (``dropTarget``: the
   live collection is replaced at once; validator and TTL applied again after it; a capped, collated
   or clustered collection is copied in instead, as not every server keeps those options across
   databases); the database's collections the backup does not have are
   dropped (``migration_lock`` stays: it holds this restore's lease); its views are dropped and the
   backup's recreated, each after the view it reads;
3. the database is compared with the backup by the backup engine's ``verify`` (documents, indexes,
   options, views): a difference raises VerificationError.

The version document and the history come back with the data. Through mongos, ``renameCollection``
across databases is refused for sharded collections, so restore refuses to run there; time-series
collections cannot be renamed either. Stop the application's writers first: writes made during a
restore are lost or make the verification fail.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.backup import BackupOptions, BackupResult, backup, ddl, verify
from analytiq_data.backup.catalog import namespaces
from analytiq_data.backup.manifest import Manifest, read_manifest
from analytiq_data.backup.plan import (
    Intent,
    Kind,
    creation_options,
    describe,
    kind_of,
    order_views,
)
from analytiq_data.backup.state import BackupState
from analytiq_data.client import connection_error, make_client, ping, server_kind
from analytiq_data.errors import AnalytiqError, ConfigurationError, VerificationError
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
from analytiq_data.safety.backup_first import fit_name
from analytiq_data.safety.restore_guard import SwapProgress, check_not_emptying, check_source, stopped_error
from analytiq_data.safety.results import RestoreResult
from analytiq_data.safety.sample_copy import copy_collection
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.uri import hosts_of, redact_uri

log = logging.getLogger(__name__)

TMP_SUFFIX = "__restore_tmp"
PHASE = "restore"


@dataclass(frozen=True)
class RestoreOptions:
    """Restore database ``db`` at ``uri`` from database ``backup`` (at ``backup_uri``, default ``uri``)."""

    uri: str
    db: str
    backup: str
    backup_uri: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S
    force: bool = False  # restore from a source not recorded (or not verified) as a backup, or holding no documents

    def __post_init__(self) -> None:
        validate_db_name(self.db)
        validate_db_name(self.backup)
        validate_db_name(self.tmp_db)
        if self.backup_uri is None and self.backup.lower() in (self.db.lower(), self.tmp_db.lower()):
            raise ConfigurationError(
                f"cannot restore database {self.db!r} from {self.backup!r} on the same server",
                hint="name the backup database with --from",
            )

    @property
    def tmp_db(self) -> str:
        """Return the database the backup is rebuilt in before the swap."""
        return fit_name(self.db, TMP_SUFFIX)

    @property
    def source_uri(self) -> str:
        """Return the URI of the backup's server."""
        return self.backup_uri or self.uri


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds, for the confirmation: its version, collections and documents."""

    name: str
    where: str
    version: int
    collections: int
    documents: int
    recorded: bool = False  # this tool recorded it as a complete backup (its manifest)
    verified: bool | None = None  # whether it verified when it was made (None: not recorded, or --no-verify)


def _not_lock(name: str) -> bool:
    return name != LOCK_COLLECTION


def _where(uri: str) -> str:
    return hosts_of(uri) or redact_uri(uri)


@contextlib.asynccontextmanager
async def _clients(options: RestoreOptions) -> AsyncIterator[tuple[AsyncMongoClient[Any], AsyncMongoClient[Any]]]:
    """Yield (live, backup) clients (one client when both are on one server); driver errors become one line."""
    live = make_client(options.uri, timeout_s=options.timeout_s)
    other = make_client(options.backup_uri, timeout_s=options.timeout_s) if options.backup_uri else None
    uri = options.uri
    try:
        hello = await ping(live, options.uri, options.timeout_s)
        if server_kind(hello).topology == "sharded":
            raise ConfigurationError(
                f"restore cannot run through mongos ({_where(options.uri)}): it swaps collections in with "
                "renameCollection across databases, which mongos refuses for sharded collections",
                hint=f"stop the application and copy the backup back with analytiq-db backup --src {options.backup} "
                f"--dest {options.db} --drop",
            )
        if other is not None:
            uri = options.source_uri
            await ping(other, uri, options.timeout_s)
        yield live, other or live
    except AnalytiqError:
        raise
    except PyMongoError as exc:
        raise connection_error(uri, exc, options.timeout_s) from exc
    finally:
        await live.close()
        if other is not None:
            await other.close()


async def _inspect(client: AsyncMongoClient[Any], options: RestoreOptions) -> tuple[BackupInfo, Manifest | None]:
    db = client[options.backup]
    where = _where(options.source_uri)
    infos = await namespaces(db, keep=_not_lock)
    header = await BackupState(db).header()
    manifest = await read_manifest(db)
    if not infos and header is None and manifest is None:
        raise ConfigurationError(
            f"backup database {options.backup!r} does not exist on {where} (it has no collections)",
            hint="check --from and --from-uri",
        )
    check_source(backup=options.backup, where=where, state_header=header, manifest=manifest, force=options.force)
    series = sorted(n for n, i in infos.items() if kind_of(i) is Kind.TIMESERIES)
    if series:
        raise ConfigurationError(
            f"backup {options.backup!r} holds time-series collections ({', '.join(series)}), which restore cannot "
            "swap in (renameCollection refuses them)",
            hint=f"copy it back with analytiq-db backup --src {options.backup} --dest {options.db} --drop",
        )
    documents = await _documents(db, infos)
    version = (await StateStore(db).read_version()).version
    verified = manifest.verified if manifest is not None else None
    info = BackupInfo(options.backup, where, version, len(infos), documents, manifest is not None, verified)
    return info, manifest


async def _documents(db: AsyncDatabase[Any], infos: dict[str, dict[str, Any]] | None = None) -> int:
    """Return about how many documents the collections of ``db`` hold (its lock and our state left out)."""
    if infos is None:
        infos = await namespaces(db, keep=_not_lock)
    return sum([await db[n].estimated_document_count() for n, i in infos.items() if kind_of(i) is not Kind.VIEW])


async def inspect_backup(options: RestoreOptions) -> BackupInfo:
    """Return what the backup holds (read only); raise ConfigurationError if it is missing or cannot be restored."""
    async with _clients(options) as (_, source):
        return (await _inspect(source, options))[0]


async def restore(options: RestoreOptions, progress: Progress = NULL_PROGRESS) -> RestoreResult:
    """Replace database ``options.db`` with the backup, under the migration lock, and verify it.

    Raises ConfigurationError (missing backup; a source that is an interrupted backup, or without
    ``force`` not recorded or not verified as a backup, or holding no documents when the database
    holds some; mongos; time-series), LockError (another runner holds the lock past the wait),
    VerificationError (the backup no longer holds what was recorded, or the result differs from
    it), RestoreInterrupted (cancelled: says what state the database is in) or RestoreIncomplete
    (failed during the swap). Before the swap nothing is changed and the rebuild database is
    removed on any failure.
    """
    started = time.monotonic()
    async with _clients(options) as (live, source):
        info, manifest = await _inspect(source, options)
        check_not_emptying(
            backup=options.backup,
            db=options.db,
            backup_documents=info.documents,
            db_documents=await _documents(live[options.db]),
            force=options.force,
        )
        lock = MigrationLock(live[options.db], lease_s=options.lease_s)
        got = await lock.acquire(options.lock_wait_s, progress=progress)
        if got.outcome != "held":
            raise held_error(got.holder, options.lock_wait_s)
        swap = SwapProgress()
        try:
            lock.start_renewing()
            await set_phase(lock, PHASE)
            try:
                copied = await _rebuild(options, manifest, progress)
                lock.check()
                swap.started = True
                collections, dropped, views = await _swap(live, options, progress, track=swap)
                swap.swapped = True
                lock.check()
                progress.note(f"verifying {options.db} against backup {options.backup}")
                check = BackupOptions(
                    src_uri=options.source_uri,
                    src_db=options.backup,
                    dest_uri=options.uri,
                    dest_db=options.db,
                    exclude=(LOCK_COLLECTION,),
                    timeout_s=options.timeout_s,
                )
                await verify(check, progress)
            except BaseException as exc:
                raise await _stopped(live, options, swap, exc) from exc
            await live.drop_database(options.tmp_db)
        finally:
            await lock.release()
    log.info("restored %s from %s (version %s)", options.db, options.backup, info.version)
    return RestoreResult(
        database=options.db,
        backup=options.backup,
        source=_where(options.source_uri),
        version=info.version,
        collections=tuple(collections),
        dropped=tuple(dropped),
        views=tuple(views),
        documents=copied.documents,
        verified=True,
        seconds=time.monotonic() - started,
    )


async def _rebuild(options: RestoreOptions, manifest: Manifest | None, progress: Progress) -> BackupResult:
    """Copy the backup into the rebuild database (replacing a leftover one) and check it against its record."""
    copy = BackupOptions(
        src_uri=options.source_uri,
        src_db=options.backup,
        dest_uri=options.uri,
        dest_db=options.tmp_db,
        drop=True,
        exclude=(LOCK_COLLECTION,),
        timeout_s=options.timeout_s,
    )
    progress.note(f"copying backup {options.backup} into {options.tmp_db} on {_where(options.uri)}")
    copied = await backup(copy, progress)
    if manifest is not None:
        selected = frozenset(e.name for e in manifest.entries if copy.selects(e.name))
        differences = manifest.differences(copied.collections, selected=selected)
        if differences and not options.force:
            shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
            raise VerificationError(
                f"backup {options.backup!r} no longer holds what it held when it was made: {shown}; nothing changed",
                hint="restore another backup, or pass --force to restore this one as it is now",
            )
        for line in differences:
            progress.note(f"backup changed since it was made (--force): {line}")
    return copied


async def _stopped(
    live: AsyncMongoClient[Any], options: RestoreOptions, swap: SwapProgress, exc: BaseException
) -> BaseException:
    """Clean up after a stopped restore and return the error to raise (``exc`` itself when it says enough)."""
    removed = False
    if not swap.started or swap.swapped:
        try:
            await live.drop_database(options.tmp_db)
            removed = True
        except PyMongoError as failure:
            log.warning("could not drop %s: %s", options.tmp_db, failure)
    said = stopped_error(exc, db=options.db, tmp=options.tmp_db, backup=options.backup, swap=swap, tmp_removed=removed)
    return exc if said is None else said


async def _move(client: AsyncMongoClient[Any], options: RestoreOptions, name: str, info: dict[str, Any]) -> None:
    """Move collection ``name`` from the rebuild database into the live one, replacing it.

    A plain collection is renamed in (``renameCollection`` across databases, ``dropTarget``), then
    its validator and TTL options are applied again (a server may drop them on such a rename). A
    collection with creation-time options (capped, collation, clustered) is copied in instead,
    since those cannot be set afterwards and not every server keeps them across databases.
    """
    tmp, live = client[options.tmp_db], client[options.db]
    opts = dict(info.get("options") or {})
    if creation_options(opts):
        plan_options = BackupOptions(src_uri=options.uri, src_db=tmp.name, dest_db=live.name)
        intent = await describe(tmp, info, plan_options, sizes=False)
        await live.drop_collection(name)
        await copy_collection(tmp, live, intent)
        await tmp.drop_collection(name)
        return
    await client.admin.command("renameCollection", f"{tmp.name}.{name}", to=f"{live.name}.{name}", dropTarget=True)
    await ddl.apply_deferred(live, name, opts)


async def _swap(
    client: AsyncMongoClient[Any], options: RestoreOptions, progress: Progress, track: SwapProgress | None = None
) -> tuple[list[str], list[str], list[str]]:
    """Move the rebuilt collections into the database, drop what the backup lacks, recreate views.

    ``track`` (if given) learns the collections planned and each one moved, as they are.
    """
    track = track if track is not None else SwapProgress()
    tmp, live = client[options.tmp_db], client[options.db]
    rebuilt, current = await namespaces(tmp), await namespaces(live)
    collections = sorted(n for n, i in rebuilt.items() if kind_of(i) is not Kind.VIEW)
    views = order_views(
        [
            Intent(n, Kind.VIEW, dict(i.get("options") or {}))
            for n, i in sorted(rebuilt.items())
            if kind_of(i) is Kind.VIEW
        ]
    )
    track.planned = list(collections)
    for name, info in current.items():
        if kind_of(info) is Kind.VIEW:
            await live.drop_collection(name)
    for name in collections:
        await _move(client, options, name, rebuilt[name])
        track.moved.append(name)
    progress.note(f"swapped {len(collections)} collections into {live.name}")
    backup_views = {v.name for v in views}
    dropped = sorted(
        n
        for n, i in current.items()
        if n != LOCK_COLLECTION and n not in (backup_views if kind_of(i) is Kind.VIEW else set(collections))
    )
    for name in dropped:
        if kind_of(current[name]) is not Kind.VIEW:
            await live.drop_collection(name)
    for view in views:
        await ddl.create(live, view.name, view.options)
    return collections, dropped, [v.name for v in views]
