"""The migration verbs over many databases, from Python: ``run_migrations_many`` and ``status_many``.

Each database is run exactly as ``run_migrations`` runs one (``analytiq_data.fleet`` decides which
starts when); the fleet is imported on first use. ``databases`` is the same selection everywhere:
names and globs, ``module:ATTRIBUTE``, a list, a function of the application's, or the configured
``ANALYTIQ_DB_DATABASES`` / ``[tool.analytiq-db] databases``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.hooks import RunHooks
from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.target import Target
from analytiq_data.migrations.run_options import run_options
from analytiq_data.migrations.startup import configured_list
from analytiq_data.progress import Progress

if TYPE_CHECKING:
    from analytiq_data.fleet.progress import FleetProgress
    from analytiq_data.fleet.results import FleetResult


Databases = Sequence[str] | str | Callable[..., Any] | None


def _selection(databases: Databases, exclude: Sequence[str]) -> Any:
    """Return the fleet Selection of ``databases``: names and globs, ``module:ATTRIBUTE``, a list or function
    of the application's, or (None) the configured ``ANALYTIQ_DB_DATABASES`` / ``[tool.analytiq-db] databases``."""
    from analytiq_data.fleet.select import Selection
    from analytiq_data.settings import Flags, resolve

    if databases is None:
        settings = resolve(Flags(), fields={"db"})
        if settings.databases is None:
            raise ConfigurationError(
                "no databases given", hint="pass databases=[...] or set [tool.analytiq-db] databases"
            )
        return Selection(settings.databases, tuple(exclude), settings.source("databases"))
    if isinstance(databases, str):
        return Selection((databases,), tuple(exclude), "databases=")
    if callable(databases):
        return Selection((), tuple(exclude), "databases=", source=databases)
    return Selection(tuple(databases), tuple(exclude), "databases=")


async def run_migrations_many(
    client: Any,
    target_version: int | None = None,
    *,
    databases: Databases = None,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    keep_going: bool = False,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    lease_s: float | None = None,
    progress: FleetProgress | Progress | None = None,
    stop: StopRequest | None = None,
    backup: bool = False,
    backup_uri: str | None = None,
    hooks: RunHooks | None = None,
    step_time_limit_s: float | None = None,
) -> FleetResult:
    """Bring every database of ``databases`` to ``target_version`` (default: the newest), ``jobs`` at once.

    ``client`` is the application's client object (``AnalytiqClient``: its URI names the server in
    messages, and ``backup=True`` needs it) or an async client (PyMongo's or motor's). ``databases``:
    names and globs (``"tenant_*"``; ``"*"`` for all but admin, local, config and this tool's
    backups), ``"module:ATTRIBUTE"``, a list, or a function (sync or async) given the client and
    returning the names; None reads ``ANALYTIQ_DB_DATABASES`` / ``[tool.analytiq-db] databases``.
    ``exclude`` globs leave some out. ``jobs`` defaults to the server's cores (2 to 8).

    Each database is run exactly as ``run_migrations`` runs one: its own lock (a database another
    instance is migrating is waited for, up to ``lock_wait_s``), state and history; so every
    instance of an app may call this at start-up. After the first failure no new database starts
    (``keep_going``: all are tried). Returns ``analytiq_data.fleet.FleetResult``: a record per
    database (``result.raise_for_failure()`` raises FleetFailed unless all ended well). Selection
    errors (nothing matches: ConfigurationError) and an unreachable server raise before any database
    is touched. ``progress`` is a ``fleet.FleetProgress`` or a plain Progress (a task per database).
    ``backup``, ``backup_uri``, ``hooks`` and ``step_time_limit_s`` are as in run_migrations, for each
    database (``backup_db`` and ``backup_log`` name one database's backup: not taken here).
    """
    from analytiq_data.fleet.migrate import migrate_many
    from analytiq_data.fleet.progress import as_fleet_progress
    from analytiq_data.fleet.run import Fleet

    if backup_uri is not None and not backup:
        raise ConfigurationError("backup_uri needs backup=True", hint="pass backup=True")
    fleet = Fleet.of(client)

    def per_database(target: Target) -> RunOptions:  # a backup first names its database
        return run_options(
            target, lock_wait_s=lock_wait_s, lease_s=lease_s, hooks=hooks, step_time_limit_s=step_time_limit_s,
            backup=backup, backup_uri=backup_uri,
        )  # fmt: skip

    return await migrate_many(
        fleet, _selection(databases, exclude), configured_list(migrations), "migrate", to=target_version,
        per_database=per_database, jobs=jobs, keep_going=keep_going, stop=stop, progress=as_fleet_progress(progress),
    )  # fmt: skip


async def status_many(
    client: Any,
    *,
    databases: Databases = None,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    migrations: Sequence[Migration] | None = None,
) -> FleetResult:
    """Return where every database of ``databases`` stands (``databases`` as in run_migrations_many): a
    FleetResult whose records carry each database's StatusResult in ``detail``. Reads only."""
    from analytiq_data.fleet.migrate import status_many as _status_many
    from analytiq_data.fleet.run import Fleet

    return await _status_many(Fleet.of(client), _selection(databases, exclude), configured_list(migrations), jobs=jobs)
