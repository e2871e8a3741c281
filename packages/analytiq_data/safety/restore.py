"""``restore --from``: put a backup database back in place of a database, loaded beside it, checked, swapped in.

The backup is refused first if it is not a complete, verified backup this tool recorded (unless
``force``; ``restore_guard``). Then ``restore_run.replace_database`` does the work; this module
only loads: the backup engine's own copy (``backup.pipeline``: ranges read in parallel, inserts
paced up to ``parallel`` in flight, each collection read back and compared by content hash, its
indexes and options compared with the backup's) writes every collection inside the target,
beside the one it replaces (``staging``), and the copy is compared with what the backup recorded
when it was made (its manifest). Works on a standalone, a replica set and through mongos
(unsharded collections; a sharded collection it would replace is refused with one line).
Time-series collections cannot be renamed: a backup holding one the target also holds is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError

from analytiq_data.backup import BackupOptions, ddl
from analytiq_data.backup.catalog import database_documents, namespaces
from analytiq_data.backup.copy import create_collection, gather_all
from analytiq_data.backup.endpoints import Endpoints, Side, open_endpoints
from analytiq_data.backup.manifest import Manifest, read_manifest
from analytiq_data.backup.options import DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL
from analytiq_data.backup.pipeline import Pipeline
from analytiq_data.backup.plan import Kind, Plan, build_plan
from analytiq_data.backup.results import CollectionReport
from analytiq_data.backup.state import BackupState
from analytiq_data.client import connection_error
from analytiq_data.errors import AnalytiqError, ConfigurationError, VerificationError
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S, LOCK_COLLECTION
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.safety.restore_guard import check_not_emptying, check_source
from analytiq_data.safety.restore_lock import lock_db_name
from analytiq_data.safety.restore_run import LoadPlan, LoadResult, TargetOptions, replace_database
from analytiq_data.safety.results import RestoreResult
from analytiq_data.safety.staging import Staging
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.text import first_few
from analytiq_data.uri import hosts_of, redact_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreOptions:
    """Restore database ``db`` at ``uri`` from database ``backup`` (at ``backup_uri``, default ``uri``).

    ``parallel`` is the ceiling of inserts in flight (the copy starts at one and adds more while
    the server's throughput grows with them).
    """

    uri: str
    db: str
    backup: str
    backup_uri: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S
    force: bool = False  # restore from a source not recorded (or not verified) as a backup, or holding no documents
    parallel: int = DEFAULT_PARALLEL
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        validate_db_name(self.db)
        validate_db_name(self.backup)
        validate_db_name(self.lock_db)
        if self.backup_uri is None and self.backup.lower() in (self.db.lower(), self.lock_db.lower()):
            raise ConfigurationError(
                f"cannot restore database {self.db!r} from {self.backup!r} on the same server",
                hint="name the backup database with --from",
            )
        self.copy_options()  # --parallel, --batch-size checked before connecting

    @property
    def lock_db(self) -> str:
        """Return the database holding the restore's lease while it runs (``restore_lock``)."""
        return lock_db_name(self.db)

    @property
    def source_uri(self) -> str:
        """Return the URI of the backup's server."""
        return self.backup_uri or self.uri

    def copy_options(self) -> BackupOptions:
        """Return the backup engine's options for copying the backup into the target."""
        return BackupOptions(
            src_uri=self.source_uri,
            src_db=self.backup,
            dest_uri=self.uri,
            dest_db=self.db,
            exclude=(LOCK_COLLECTION,),
            parallel=self.parallel,
            batch_size=self.batch_size,
            timeout_s=self.timeout_s,
        )

    def target(self) -> TargetOptions:
        """Return what ``replace_database`` needs."""
        return TargetOptions(self.db, self.lock_wait_s, self.lease_s, self.batch_size, self.parallel)


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


def _where(uri: str) -> str:
    return hosts_of(uri) or redact_uri(uri)


@contextlib.asynccontextmanager
async def _endpoints(options: RestoreOptions) -> AsyncIterator[Endpoints]:
    """Yield the backup (source) and the target (destination), driver errors as one line."""
    try:
        async with open_endpoints(options.copy_options()) as ends:
            yield ends
    except AnalytiqError:
        raise
    except PyMongoError as exc:  # Side.errors covers the work; this, the connection
        raise connection_error(options.uri, exc, options.timeout_s) from exc


async def _inspect(ends: Endpoints, options: RestoreOptions) -> tuple[BackupInfo, Manifest | None, Plan]:
    db = ends.src.db
    where = ends.src.where
    async with ends.src.errors("reading the backup"):
        infos = await namespaces(db, keep=lambda n: n != LOCK_COLLECTION)
        header = await BackupState(db).header()
        manifest = await read_manifest(db)
    if not infos and header is None and manifest is None:
        raise ConfigurationError(
            f"backup database {options.backup!r} does not exist on {where} (it has no collections)",
            hint="check --from and --from-uri",
        )
    check_source(backup=options.backup, where=where, state_header=header, manifest=manifest, force=options.force)
    async with ends.src.errors("planning the copy"):
        plan = await build_plan(db, options.copy_options())
        version = (await StateStore(db).read_version()).version
    verified = manifest.verified if manifest is not None else None
    documents = sum(i.count for i in plan.collections)
    info = BackupInfo(options.backup, where, version, len(infos), documents, manifest is not None, verified)
    return info, manifest, plan


async def inspect_backup(options: RestoreOptions) -> BackupInfo:
    """Return what the backup holds (read only); raise ConfigurationError if it is missing or cannot be restored."""
    async with _endpoints(options) as ends:
        return (await _inspect(ends, options))[0]


async def restore(options: RestoreOptions, progress: Progress = NULL_PROGRESS) -> RestoreResult:
    """Replace database ``options.db`` with the backup: loaded beside it, checked, swapped in, checked again.

    Raises ConfigurationError (missing backup; a source that is an interrupted backup, or without
    ``force`` not recorded or not verified as a backup, or holding no documents when the database
    holds some; a sharded or time-series collection it would replace), LockError (another restore
    holds the lock, or a migration run holds the database's lock, past the wait), TargetInUse
    (another client wrote to the database meanwhile: the message says whether the restore took
    effect), VerificationError (the backup no longer holds what was recorded, or the copy differs
    from it), RestoreInterrupted (cancelled: says what state the database is in) or
    RestoreIncomplete (failed during the swap). Before the swap the database is unchanged and the
    partial load removed on any failure; a swap stopped part-way is finished by the next run.
    """
    async with _endpoints(options) as ends:
        info, manifest, plan = await _inspect(ends, options)
        async with ends.dst.errors("counting the database's documents"):
            current = await namespaces(ends.dst.db)
            held = await database_documents(ends.dst.db, current)
        check_not_emptying(
            backup=options.backup,
            db=options.db,
            backup_documents=info.documents,
            db_documents=held,
            force=options.force,
        )
        series = sorted(i.name for i in plan.collections if i.kind is Kind.TIMESERIES and i.name in current)
        if series:
            raise ConfigurationError(
                f"backup {options.backup!r} holds time-series collections the database also holds "
                f"({', '.join(series)}): "
                "restore cannot swap them in (renameCollection refuses time-series collections); nothing changed",
                hint=f"drop them from {options.db!r} first, or copy the backup back with analytiq-db backup "
                f"--src {options.backup} --dest {options.db} --drop",
            )
        loader = _BackupLoader(ends, options, info, manifest, plan)
        result = await replace_database(ends.dst, options.target(), loader, progress)
    log.info("restored %s from %s (version %s)", options.db, options.backup, info.version)
    return result


class _Unrecorded(BackupState):
    """A copy into the target keeps no resume state (a stopped restore starts its load over)."""

    async def range_done(self, *_: Any) -> None:
        """Record nothing."""

    async def collection_done(self, *_: Any) -> None:
        """Record nothing."""


class _BackupLoader:
    """Loads a backup database into the target with the backup engine's copy."""

    def __init__(
        self, ends: Endpoints, options: RestoreOptions, info: BackupInfo, manifest: Manifest | None, plan: Plan
    ) -> None:
        self.ends, self.options, self.info, self.manifest, self.backup_plan = ends, options, info, manifest, plan

    @property
    def source(self) -> str:
        """Return ``backup 'prod_bk' on db1:27017``."""
        return f"backup {self.options.backup!r} on {self.ends.src.where}"

    @property
    def name(self) -> str:
        """Return the backup database's name."""
        return self.options.backup

    @property
    def plan(self) -> LoadPlan:
        """Return the backup's collections and views."""
        views = tuple((v.name, dict(v.options)) for v in self.backup_plan.views)
        return LoadPlan(tuple(i.name for i in self.backup_plan.collections), views, self.info.documents)

    async def load(self, side: Side, staging: Staging, progress: Progress) -> LoadResult:
        """Copy each collection of the backup to ``staging.where(name)`` and check it (and the manifest)."""
        intents = [dataclasses.replace(i, target=staging.where(i.name)) for i in self.backup_plan.collections]
        progress.note(f"loading backup {self.options.backup} into {side.db.name} on {side.where}")
        for intent in intents:
            await create_collection(side, intent)
        pipeline = Pipeline(self.ends.src, side, self.options.copy_options(), progress, _Unrecorded(side.db))
        reports = await gather_all(pipeline.run(i) for i in intents)
        self._check(reports)
        ttl = frozenset(i.name for i in intents if ddl.has_ttl(i))
        return LoadResult({r.name: r.documents for r in reports}, ttl)

    def _check(self, reports: list[CollectionReport]) -> None:
        """Raise VerificationError if the copy differs from the backup, or the backup from its manifest."""
        lines = [f"{r.name}: {d}" for r in reports for d in r.differences]
        if lines:
            shown = first_few(lines, 3)
            raise VerificationError(
                f"the copy of backup {self.options.backup!r} differs from it: {shown}; the database is unchanged",
                hint="see the log (-v); run the restore again",
            )
        if self.manifest is None:
            return
        copy = self.options.copy_options()
        selected = frozenset(e.name for e in self.manifest.entries if copy.selects(e.name))
        differences = self.manifest.differences(reports, selected=selected)
        if differences and not self.options.force:
            shown = first_few(differences, 3)
            raise VerificationError(
                f"backup {self.options.backup!r} no longer holds what it held when it was made: {shown}; "
                "nothing changed",
                hint="restore another backup, or pass --force to restore this one as it is now",
            )
