"""The migration engine: planning, state, lock, transactions, runner and verbs.

It knows nothing of Analytiq: every verb takes a list of Migration objects.
"""

from analytiq_data.migrations.engine.commands import (
    down,
    history,
    migrate,
    resolve,
    stamp,
    status,
    unlock,
    up,
)
from analytiq_data.migrations.engine.plan import Plan, Step, plan, validate_migrations
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
from analytiq_data.migrations.engine.runner import RunOptions, StopRequest

__all__ = [
    "HistoryResult",
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
