"""Which migration list the gate compares: the one given (the command line always gives its
configured list), or the configured one when a Python caller gives none (``startup.configured_list``)."""

from __future__ import annotations

from collections.abc import Sequence

from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.plan import MigrationList
from analytiq_data.migrations.startup import configured_list


def migration_list(migrations: Sequence[Migration] | None) -> MigrationList:
    """Return ``migrations`` checked, or the configured list when None (Analytiq's where none is configured)."""
    return configured_list(migrations)
