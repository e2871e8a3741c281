"""Which migration list the gate compares: the one given, or Analytiq's."""

from __future__ import annotations

from collections.abc import Sequence

from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.loader import load_migrations
from analytiq_data.migrations.engine.plan import validate_migrations


def migration_list(migrations: Sequence[Migration] | None) -> tuple[Migration, ...]:
    """Return ``migrations`` checked, or Analytiq's list when None (stated versions must equal positions)."""
    if migrations is not None:
        return validate_migrations(migrations)
    # Imported here: analytiq_data.migrations re-exports the gate, so a top-level import would be circular.
    from analytiq_data.migrations import DEFAULT_MIGRATIONS

    return load_migrations(DEFAULT_MIGRATIONS)
