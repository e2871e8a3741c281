"""The original module's start-up questions: at which version is the database, is a migration pending?

``get_current_version(db)`` and ``schema_migrations_pending(db, target_version=None)`` keep the
signatures of the original ``analytiq_data.migrations``: the application calls the second at
start-up to decide whether to call ``run_migrations``. ``db`` is the application's database
object, a PyMongo ``AsyncDatabase`` or a motor ``AsyncIOMotorDatabase``: both are read with
``find_one`` only, so no engine client is needed.

These are quick reads without the lock: a run in progress may change the answer a moment later.
``run_migrations`` decides again under the lock, so calling it when unsure is always safe.

Without ``migrations=``, every function of the Python API uses the list the command line uses
(``configured_list``): ``$ANALYTIQ_DB_MIGRATIONS``, else ``[tool.analytiq-db] migrations`` in the
nearest pyproject.toml above the working directory; Analytiq's four only where neither is set.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from analytiq_data.errors import ConfigurationError, MigrationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.loader import load_migrations
from analytiq_data.migrations.engine.plan import MigrationList, check_version, validate_migrations
from analytiq_data.migrations.engine.state import VERSION_COLLECTION, VERSION_ID
from analytiq_data.settings import Flags, resolve

DEFAULT_MIGRATIONS = "analytiq_data.migrations.migration:MIGRATIONS"


def configured_spec() -> str:
    """Return the ``module:ATTRIBUTE`` of the list the command line would use without ``--migrations``
    (``$ANALYTIQ_DB_MIGRATIONS``, else ``[tool.analytiq-db] migrations``, with the project's directory
    importable), or Analytiq's list where neither is set. A broken table raises ConfigurationError."""
    settings = resolve(Flags(), fields={"migrations"})
    if settings.migrations is None:
        return DEFAULT_MIGRATIONS
    settings.importable()
    return settings.migrations


def configured_list(migrations: Sequence[Migration] | None = None) -> MigrationList:
    """Return ``migrations`` validated, or (None) the configured list (``configured_spec``), imported and checked."""
    if migrations is not None:
        return validate_migrations(migrations)
    return load_migrations(configured_spec())


async def get_current_version(db: Any) -> int:
    """Return the version recorded in ``db`` (0 when none is), from ``migrations.schema_version``.

    Raises ConfigurationError for an object that is not a database, MigrationError for a
    version document that does not hold a whole number.
    """
    found = _versions(db).find_one({"_id": VERSION_ID})
    if not inspect.isawaitable(found):
        raise ConfigurationError(
            f"expected an async database, got the synchronous {type(db).__module__}.{type(db).__name__}",
            hint="pass a PyMongo AsyncMongoClient's or a motor AsyncIOMotorClient's database",
        )
    doc = await found
    if doc is None:
        return 0
    value = doc.get("version", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise MigrationError(
            f"the version document holds {value!r}, not a whole number",
            hint="record the true version with analytiq-db stamp N",
        )
    return int(value)


async def schema_migrations_pending(
    db: Any, target_version: int | None = None, *, migrations: Sequence[Migration] | None = None
) -> bool:
    """Return whether running migrations would change ``db``: its version differs from
    ``target_version`` (default: the newest of the list: ``migrations``, else the configured list).

    With no target, a database newer than the code counts as nothing pending (``run_migrations``
    leaves it alone). An explicit target outside 0…newest raises ConfigurationError.
    """
    head = len(configured_list(migrations))
    current = await get_current_version(db)
    if target_version is None:
        return current < head
    return current != check_version(target_version, head)


def _versions(db: Any) -> Any:
    """Return the version collection of ``db`` (a PyMongo or motor async database)."""
    get = getattr(db, "get_collection", None)
    if get is None or not callable(get) or not isinstance(getattr(db, "name", None), str):
        raise ConfigurationError(
            f"expected a database (PyMongo AsyncDatabase or motor AsyncIOMotorDatabase), got {type(db).__name__}",
            hint="pass client[database_name], e.g. analytiq_client.mongodb_async[analytiq_client.env]",
        )
    return get(VERSION_COLLECTION)
