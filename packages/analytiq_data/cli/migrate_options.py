"""Options and connection shared by the verbs that work on a migration list.

``--migrations``, the lock options and the target (client, database, URI, timeout) are the same
for the migrate, guard and safety verbs; they live here once. Their values come from the command's
one Settings object (flags > environment > pyproject.toml > defaults), read nowhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

from analytiq_data.cli.options import positive_seconds, seconds, settings_from
from analytiq_data.client import make_client
from analytiq_data.migrations.engine.loader import load_migrations
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
    if settings.project is not None and str(settings.project.root) not in sys.path:
        sys.path.insert(0, str(settings.project.root))
    return spec


def load_list(args: argparse.Namespace) -> MigrationList:
    """Import and check the configured migration list (the verbs take it as checked)."""
    return load_migrations(migration_spec(args))


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


@contextlib.asynccontextmanager
async def connected(args: argparse.Namespace) -> AsyncIterator[Target]:
    """Yield the Target of the settings (a client of our own, closed after). No I/O here: each verb
    sends ``hello`` once when it connects, and says in one line when the server cannot be reached."""
    settings = settings_from(args)
    client = make_client(settings.uri, timeout_s=settings.timeout_s)
    try:
        yield Target(client, settings.db, settings.uri, settings.timeout_s)
    finally:
        await client.close()
