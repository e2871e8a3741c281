"""analytiq_data: versioned MongoDB migrations and verified backups for Analytiq.

Used as the guide shows: ``import analytiq_data as ad`` then
``await ad.migrations.run_migrations(analytiq_client, target_version=None)``.
"""

from analytiq_data import backup, migrations
from analytiq_data.client import AnalytiqClient, get_analytiq_client

__all__ = ["AnalytiqClient", "backup", "get_analytiq_client", "migrations"]
