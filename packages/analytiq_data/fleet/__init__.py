"""Many databases at once: select them, run a verb on each (bounded, with a failure policy), report.

    from analytiq_data.fleet import Fleet, Selection, migrate_many

    result = await migrate_many(Fleet.of(analytiq_client), Selection(("tenant_*",)), migrations, jobs=4)
    result.raise_for_failure()    # FleetFailed (the worst exit code) unless every database ended well

``ad.migrations.run_migrations_many`` is the same with the application's defaults. Rooms: ``select``
(which databases), ``fanout`` (which starts when, failures, stops), ``run`` (connect once, resolve,
choose ``jobs``), ``migrate`` (the migration verbs on each), ``files`` (dumps and restores of many),
``shapes`` (choosing the tenants whose data differ most, for rehearsals), ``results``, ``progress``.
Each database is worked on by the same verb as a run on it alone: its own lock, state and history.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name and the module it lives in (imported on first use: ``select`` is read by every
#: command's option parsing, and must not pull the migration engine in with it).
_HOMES = {
    "check_many": "migrate",
    "history_many": "migrate",
    "migrate_many": "migrate",
    "stamp_many": "migrate",
    "status_many": "migrate",
    "FleetProgress": "progress",
    "NullFleetProgress": "progress",
    "DatabaseResult": "results",
    "FleetFailed": "results",
    "FleetResult": "results",
    "Outcome": "results",
    "Fleet": "run",
    "SYSTEM_DATABASES": "select",
    "Resolved": "select",
    "Selection": "select",
    "resolve": "select",
}

__all__ = [
    "SYSTEM_DATABASES",
    "DatabaseResult",
    "Fleet",
    "FleetFailed",
    "FleetProgress",
    "FleetResult",
    "NullFleetProgress",
    "Outcome",
    "Resolved",
    "Selection",
    "check_many",
    "history_many",
    "migrate_many",
    "resolve",
    "stamp_many",
    "status_many",
]


def __getattr__(name: str) -> Any:
    """Return the public name ``name`` from its module (imported on first use)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
