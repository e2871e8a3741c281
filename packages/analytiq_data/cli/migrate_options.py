"""Options and connection shared by the verbs that work on a migration list.

``--migrations``, the lock options and the target (client, database, URI, timeout) are the same
for the migrate, guard and safety verbs; they live here once. Their values come from the command's
one Settings object (flags > environment > pyproject.toml > defaults), read nowhere else.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import TypedDict

from analytiq_data.cli.options import announce, positive_seconds, seconds, settings_from
from analytiq_data.client import make_client
from analytiq_data.migrations.engine.drivers import StepsDriver, detect, motor_client_class
from analytiq_data.migrations.engine.loader import load_migrations, split_spec
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S
from analytiq_data.migrations.engine.options import RunOptions
from analytiq_data.migrations.engine.plan import MigrationList
from analytiq_data.migrations.engine.target import Target


def migration_list_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--migrations MODULE:ATTRIBUTE`` (default: $ANALYTIQ_DB_MIGRATIONS, else pyproject.toml)."""
    parser.add_argument(
        "--migrations",
        metavar="MODULE:ATTRIBUTE",
        help="the migration list to use (default: $ANALYTIQ_DB_MIGRATIONS, else [tool.analytiq-db] migrations "
        "in pyproject.toml)",
    )


def migration_spec(args: argparse.Namespace) -> str:
    """Return the configured ``module:ATTRIBUTE``, with the project's directory importable; none → exit 3."""
    settings = settings_from(args)
    spec = settings.migration_list()
    settings.importable()
    return spec


def load_list(args: argparse.Namespace) -> MigrationList:
    """Import and check the configured migration list (the verbs take it as checked)."""
    return load_migrations(migration_spec(args))


def driver_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--driver auto|pymongo|motor``: the kind of database steps and run hooks get."""
    parser.add_argument(
        "--driver",
        choices=("auto", "pymongo", "motor"),
        help="the kind of database steps get: motor's (a list written for motor, e.g. building "
        "AsyncIOMotorGridFSBucket(db)) or PyMongo's; auto detects motor from the list's imports "
        "(default: $ANALYTIQ_DB_DRIVER, [tool.analytiq-db] driver, else auto)",
    )


def steps_driver(args: argparse.Namespace, migrations: MigrationList) -> tuple[StepsDriver, str]:
    """Return the kind of database the steps of ``migrations`` get and why: declared (``--driver``,
    ``$ANALYTIQ_DB_DRIVER``, ``[tool.analytiq-db] driver``) or, for ``auto``, detected from the list's
    modules. Motor declared or detected where it is not installed: ConfigurationError, one line."""
    settings = settings_from(args)
    if settings.driver in ("pymongo", "motor"):
        driver: StepsDriver = "motor" if settings.driver == "motor" else "pymongo"
        why = settings.source("driver")
    else:
        driver, why = detect(migrations, split_spec(settings.migration_list())[0])
    if driver == "motor":
        motor_client_class(why)
    return driver, why


def lock_options(parser: argparse.ArgumentParser, *, steps: bool = False) -> None:
    """Add ``--lock-wait`` and ``--lease`` (and, for verbs that run steps, ``--step-time-limit``)."""
    group = parser.add_argument_group("lock")
    group.add_argument(
        "--lock-wait",
        type=seconds,
        metavar="SECONDS",
        help=f"how long to wait while another runner holds the lock "
        f"(default: $ANALYTIQ_DB_LOCK_WAIT, [tool.analytiq-db] lock_wait, else {DEFAULT_LOCK_WAIT_S:g})",
    )
    group.add_argument(
        "--lease",
        type=positive_seconds,
        metavar="SECONDS",
        help=f"length of this runner's lease, renewed while it works (default: $ANALYTIQ_DB_LEASE, "
        f"[tool.analytiq-db] lease, else {DEFAULT_LEASE_S:g})",
    )
    if steps:
        group.add_argument(
            "--step-time-limit",
            type=positive_seconds,
            metavar="SECONDS",
            help="cancel a step running longer than this (it fails like any failed step and the lock is "
            "released) unless its class sets time_limit_s (default: $ANALYTIQ_DB_STEP_TIME_LIMIT, "
            "[tool.analytiq-db] step_time_limit, else no limit)",
        )


def run_options(args: argparse.Namespace, dry_run: bool = False) -> RunOptions:
    """Return the runner options of the settings (``--lock-wait``/``--lease``/``--step-time-limit``, then the
    environment, ...)."""
    settings = settings_from(args)
    return RunOptions.of(
        lock_wait_s=settings.lock_wait_s,
        lease_s=settings.lease_s,
        dry_run=dry_run,
        step_time_limit_s=settings.step_time_limit_s,
    )


class RestoreFields(TypedDict):
    """The options every kind of restore takes from the command line alike."""

    uri: str
    db: str
    timeout_s: float
    lock_wait_s: float
    lease_s: float
    parallel: int


def restore_fields(args: argparse.Namespace) -> RestoreFields:
    """Return the fields every restore's options share: where (the settings' URI and database), the
    timeout, the lock wait and lease (the engine's defaults when nothing set them) and ``--parallel``."""
    settings = settings_from(args)
    run = run_options(args)
    return RestoreFields(
        uri=settings.uri,
        db=settings.db,
        timeout_s=settings.timeout_s,
        lock_wait_s=run.lock_wait_s,
        lease_s=run.lease_s,
        parallel=args.parallel,
    )


@contextlib.asynccontextmanager
async def connected(args: argparse.Namespace, steps: MigrationList | None = None) -> AsyncIterator[Target]:
    """Say where the command connects (``announce``) and yield the Target of the settings (a client of
    our own, closed after). For a verb that runs the ``steps`` of a list, the Target gives them the
    kind of database the list is written for (``steps_driver``). No I/O here: each verb sends
    ``hello`` once when it connects, and says in one line when the server cannot be reached."""
    driver = steps_driver(args, steps) if steps is not None else None
    settings = settings_from(args)
    client = make_client(settings.uri, timeout_s=settings.timeout_s)  # a malformed URI: one line, no header
    announce(args, driver)
    try:
        yield Target(client, settings.db, settings.uri, settings.timeout_s, driver[0] if driver else "auto")
    finally:
        await client.close()
