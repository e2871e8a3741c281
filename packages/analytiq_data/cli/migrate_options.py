"""Options and connection shared by the verbs that work on a migration list.

``--migrations``, the lock options and the connected AnalytiqClient are the same for the
migrate, guard and safety verbs; they live here once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator

from analytiq_data.cli.options import settings_from
from analytiq_data.client import AnalytiqClient, ping
from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S
from analytiq_data.migrations.engine.runner import RunOptions

DEFAULT_MIGRATIONS = "analytiq_data.migrations.migration:MIGRATIONS"


def seconds(text: str) -> float:
    """Parse a non-negative number of seconds (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def env_seconds(name: str, default: float) -> float:
    """Return seconds from environment variable ``name``, else ``default``; bad values are a ConfigurationError."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return seconds(raw)
    except argparse.ArgumentTypeError as exc:
        raise ConfigurationError(f"{name}={raw!r} is {exc}", hint="give seconds, e.g. 30") from None


def migration_list_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--migrations MODULE:ATTRIBUTE`` (default: Analytiq's list)."""
    parser.add_argument(
        "--migrations",
        metavar="MODULE:ATTRIBUTE",
        default=DEFAULT_MIGRATIONS,
        help=f"the migration list to use (default: {DEFAULT_MIGRATIONS})",
    )


def lock_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--lock-wait`` and ``--lease``."""
    group = parser.add_argument_group("lock")
    group.add_argument(
        "--lock-wait",
        type=seconds,
        metavar="SECONDS",
        help=f"how long to wait while another runner holds the lock "
        f"(default: $ANALYTIQ_DB_LOCK_WAIT, else {DEFAULT_LOCK_WAIT_S:g})",
    )
    group.add_argument(
        "--lease",
        type=seconds,
        metavar="SECONDS",
        help=f"length of this runner's lease, renewed while it works (default: $ANALYTIQ_DB_LEASE, "
        f"else {DEFAULT_LEASE_S:g})",
    )


def run_options(args: argparse.Namespace, dry_run: bool = False) -> RunOptions:
    """Return the runner options named by ``--lock-wait``/``--lease`` (then the environment, then defaults)."""
    wait = args.lock_wait if args.lock_wait is not None else env_seconds("ANALYTIQ_DB_LOCK_WAIT", DEFAULT_LOCK_WAIT_S)
    lease = args.lease if args.lease is not None else env_seconds("ANALYTIQ_DB_LEASE", DEFAULT_LEASE_S)
    if lease <= 0:
        raise ConfigurationError("the lease must be longer than 0 seconds", hint="e.g. --lease 30")
    return RunOptions(lock_wait_s=wait, lease_s=lease, dry_run=dry_run)


@contextlib.asynccontextmanager
async def connected(args: argparse.Namespace) -> AsyncIterator[AnalytiqClient]:
    """Yield an AnalytiqClient for the parsed flags after checking the server answers; close it after."""
    settings = settings_from(args)
    client = AnalytiqClient(uri=settings.uri, env=settings.db, timeout_s=settings.timeout_s)
    try:
        await ping(client.mongodb_async, settings.uri, settings.timeout_s)
        yield client
    finally:
        await client.close()
