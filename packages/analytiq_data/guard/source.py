"""Which migration list the gate compares: the one given (the command line always gives its
configured list), or Analytiq's when a Python caller gives none."""

from __future__ import annotations

from collections.abc import Sequence

from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.loader import load_migrations
from analytiq_data.migrations.engine.plan import MigrationList, validate_migrations
from analytiq_data.migrations.startup import DEFAULT_MIGRATIONS


def migration_list(migrations: Sequence[Migration] | None) -> MigrationList:
    """Return ``migrations`` checked, or Analytiq's list when None (stated versions must equal positions)."""
    if migrations is not None:
        return validate_migrations(migrations)
    return load_migrations(DEFAULT_MIGRATIONS)
