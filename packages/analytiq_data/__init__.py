"""analytiq_data: versioned MongoDB migrations and verified backups for Analytiq.

Used as the guide shows: ``import analytiq_data as ad`` then
``await ad.migrations.run_migrations(analytiq_client, target_version=None)``.

The names below are imported on first use, so a command line that needs only part of the package
(``analytiq-db backup``, ``analytiq-db status``) does not load the rest at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytiq_data import backup, migrations
    from analytiq_data.client import AnalytiqClient, get_analytiq_client

__all__ = ["AnalytiqClient", "backup", "get_analytiq_client", "migrations"]

_SUBMODULES = ("backup", "migrations")
_FROM_CLIENT = ("AnalytiqClient", "get_analytiq_client")


def __getattr__(name: str) -> Any:
    """Return ``backup``, ``migrations``, ``AnalytiqClient`` or ``get_analytiq_client``, importing it now."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_CLIENT:
        return getattr(importlib.import_module(f"{__name__}.client"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
