"""``up --backup``: a verified copy of the database, made under the migration lock before the first step.

``BackupFirst`` is a pre-step hook for the migration runner (``RunOptions.before_steps``): the
runner awaits it only when steps are pending, holding the lock, with the lease renewed in the
background; it reports the phase ``"backup"`` in the lock document, so waiting runners do not
count the backup's time against their lock wait. The copy is made by the backup engine (verify
on), without ``migration_lock``; the version document and the history are included, so a restore
brings the version back too. If the copy does not verify, VerificationError is raised and no step
runs. The backup's name is recorded in the history (a ``backup`` record, and a ``backup`` field on
each step record of the run).
"""

from __future__ import annotations

import logging
import shlex
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, BackupResult, backup
from analytiq_data.backup.catalog import namespaces
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.migrations.engine.lock import LOCK_COLLECTION
from analytiq_data.migrations.engine.prestep import BeforeSteps, HookRecord
from analytiq_data.migrations.engine.state import HISTORY_COLLECTION, VERSION_COLLECTION
from analytiq_data.migrations.engine.target import Target
from analytiq_data.progress import Outcome, Rollup
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.uri import hosts_of, redact_uri

log = logging.getLogger(__name__)

PHASE = "backup"
MAX_DB_NAME_BYTES = 63


def backup_name(db: str, version: int, now: datetime | None = None) -> str:
    """Return the default backup name ``<db>_backup_v<version>_<UTC yyyymmddHHMMSS>``, with ``<db>``
    shortened if needed to keep the name within MongoDB's 63 bytes."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return fit_name(db, f"_backup_v{version}_{stamp}")


def restore_command(uri: str, db: str, backup: str, *, backup_uri: str | None = None) -> str:
    """Return the ``analytiq-db restore`` command putting ``backup`` back into ``db``.

    A URI given as ``env:NAME`` or ``file:PATH`` is kept as given (it holds no secret); any other is
    shown redacted (``mongodb://user:***@host``): never a password on a screen or in a log.
    """

    def shown(value: str) -> str:
        return value if value.startswith(("env:", "file:")) else redact_uri(value)

    words = ["analytiq-db", "restore", "--uri", shown(uri), "--db", db, "--from", backup]
    if backup_uri is not None:
        words += ["--from-uri", shown(backup_uri)]
    return shlex.join([*words, "--yes"])


def fit_name(db: str, suffix: str) -> str:
    """Return ``db + suffix``, ``db`` cut (on a character boundary) so the whole fits in 63 bytes."""
    room = MAX_DB_NAME_BYTES - len(suffix.encode())
    return db.encode()[:room].decode(errors="ignore") + suffix


async def _empty(db: AsyncDatabase[Any]) -> bool:
    """Return whether ``db`` holds nothing but the lock and empty version/history collections."""
    for name in await namespaces(db, keep=lambda n: n != LOCK_COLLECTION):
        if name not in (VERSION_COLLECTION, HISTORY_COLLECTION) or await db[name].find_one({}, {"_id": 1}):
            return False
    return True


class BackupFirst:
    """A pre-step hook making a verified backup; after the run, ``name`` and ``result`` say what it made."""

    def __init__(
        self,
        uri: str,
        *,
        backup_uri: str | None = None,
        backup_db: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if backup_db is not None:
            validate_db_name(backup_db)
        self.uri = uri
        self.backup_uri = backup_uri
        self.backup_db = backup_db
        self.timeout_s = timeout_s
        self.name: str | None = None
        self.result: BackupResult | None = None

    @classmethod
    def for_target(cls, target: Target, *, backup_uri: str | None = None, backup_db: str | None = None) -> BackupFirst:
        """Return the hook backing up ``target`` (its URI and timeout); ConfigurationError if its URI is unknown."""
        if not target.uri:
            raise ConfigurationError("backup=True needs the client's URI", hint="pass an AnalytiqClient")
        return cls(target.uri, backup_uri=backup_uri, backup_db=backup_db, timeout_s=target.timeout_s)

    def recovery_hint(self, uri: str, db: str, backup_uri: str | None = None) -> str | None:
        """Return how to go back to the data before the run (a verified backup was made), else None.

        ``uri``/``backup_uri`` as the user gave them (``env:NAME`` is kept; a literal URI is redacted).
        """
        if self.result is None or self.name is None:
            return None
        command = restore_command(uri, db, self.name, backup_uri=backup_uri)
        return f"the verified backup made before the run is {self.name}; to go back to it: {command}"

    def where(self) -> str:
        """Return the server the backup goes to (hosts only; no credentials)."""
        uri = self.backup_uri or self.uri
        return hosts_of(uri) or redact_uri(uri)

    async def __call__(self, ctx: BeforeSteps) -> HookRecord:
        """Copy ``ctx.db_name`` to the backup database and verify it; raise VerificationError if it differs."""
        if await _empty(ctx.client[ctx.db_name]):
            ctx.progress.note(f"nothing to back up: database {ctx.db_name} is empty")
            return HookRecord(PHASE, "(empty database)", "no backup: the database was empty", "skipped")
        name = self.backup_db or backup_name(ctx.db_name, ctx.from_version)
        options = BackupOptions(
            src_uri=self.uri,
            src_db=ctx.db_name,
            dest_db=name,
            dest_uri=self.backup_uri,
            exclude=(LOCK_COLLECTION,),
            verify=True,
            timeout_s=self.timeout_s,
        )
        self.name = name
        ctx.progress.note(f"backing up {ctx.db_name} (version {ctx.from_version}) to {name} on {self.where()}")
        await ctx.set_phase(PHASE)
        rollup = Rollup(ctx.progress, f"backup {name}", f"backup {name}")  # one line, not one per collection
        try:
            result = await backup(options, rollup)
        except BaseException:
            rollup.close("failed", Outcome.FAILED)
            raise
        rollup.close(f"{result.documents:,} documents")
        if result.verified is not True:
            raise VerificationError(
                f"the backup {name!r} was not verified; nothing was migrated",
                hint="run analytiq-db up --backup again",
            )
        self.result = result
        log.info("backup %s of %s verified: %d documents", name, ctx.db_name, result.documents)
        ctx.progress.note(
            f"backup {name} verified: {result.documents:,} documents in {len(result.collections)} collections"
        )
        fields: dict[str, object] = {"backup": name}
        if self.backup_uri is not None:
            fields["backup_server"] = self.where()
        description = f"verified copy of version {ctx.from_version} before migrating to version {ctx.target}"
        return HookRecord(PHASE, name, description, "verified", fields, round(result.seconds, 3))
