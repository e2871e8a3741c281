"""The migration engine: planning, state, lock, transactions, runner and verbs.

It knows nothing of Analytiq: every verb (``verbs``) takes one Target and a list of Migration objects.
"""

from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.plan import MigrationList, Plan, Step, plan, validate_migrations
from analytiq_data.migrations.engine.results import (
    HistoryResult,
    Mismatch,
    NewResult,
    ResolveResult,
    RunInterrupted,
    RunResult,
    StampResult,
    StatusResult,
    StepFailedError,
    StepResult,
    StepStatus,
    UnlockResult,
)
from analytiq_data.migrations.engine.target import Target
from analytiq_data.migrations.engine.verbs import (
    down,
    history,
    migrate,
    resolve,
    stamp,
    status,
    unlock,
    up,
)

__all__ = [
    "HistoryResult",
    "MigrationList",
    "Mismatch",
    "NewResult",
    "Plan",
    "ResolveResult",
    "RunInterrupted",
    "RunOptions",
    "RunResult",
    "StampResult",
    "StatusResult",
    "Step",
    "StepFailedError",
    "StepResult",
    "StepStatus",
    "StopRequest",
    "Target",
    "UnlockResult",
    "down",
    "history",
    "migrate",
    "plan",
    "resolve",
    "stamp",
    "status",
    "unlock",
    "up",
    "validate_migrations",
]
