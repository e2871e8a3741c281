"""Run-level hooks: the application's own housekeeping, under the migration lock, once per run.

An application often has work that must happen whenever it migrates, with no other runner
active: release the queue claims of workers that died, reconcile its indexes. ``RunHooks`` holds
two async callables the runner awaits while it holds the lock (its lease renewed meanwhile):

- ``before(run)``: after the runner has read the state and planned, before the first step (and
  after the verified backup of ``backup=True``, so the backup holds the data as it was);
- ``after(run)``: after the last step succeeded (``run.steps`` lists what the run did).

Both run once per run that holds the lock and proceeds, *also when nothing is pending*
(``run.direction is None``): a hook that only matters when steps run checks ``run.pending``.
They do not run on a dry run, nor when the run refuses before any step (a dirty database, a
reordered list, a database newer than the code), nor ``after`` when a step failed.

A hook that raises or returns False stops the run with HookFailedError naming the hook and the
cause. ``before`` failing: no step ran, the version is unchanged. ``after`` failing: the steps
are applied and recorded (the error says at which version the database is); a hook changes no
version. The engine knows nothing of what the hooks do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from analytiq_data.errors import AnalytiqError, MigrationError
from analytiq_data.migrations.engine.plan import Plan
from analytiq_data.migrations.engine.results import StepResult
from analytiq_data.uri import redact_text


@dataclass(frozen=True)
class RunInfo:
    """What a run hook is told: where, from which version to which, and what the run does or did."""

    db: Any  # the database the steps are given
    database: str
    from_version: int
    target: int
    direction: str | None  # "up", "down", or None when nothing is pending
    pending: tuple[int, ...]  # the versions this run applies (up) or reverts (down), in order
    steps: tuple[StepResult, ...] = ()  # for ``after``: the steps this run applied or reverted


RunHook = Callable[[RunInfo], Awaitable[object]]


@dataclass(frozen=True)
class RunHooks:
    """The application's housekeeping around a run: ``before`` the first step, ``after`` the last."""

    before: RunHook | None = field(default=None, compare=False)
    after: RunHook | None = field(default=None, compare=False)


class HookFailedError(MigrationError):
    """A run hook raised or returned False; the message names it, the cause and the version."""

    def __init__(self, message: str, *, hint: str | None, version: int) -> None:
        super().__init__(message, hint=hint)
        self.version = version


async def call_hook(when: str, hook: RunHook | None, run: RunInfo, version: int) -> None:
    """Await ``hook(run)`` if set; raise HookFailedError if it raises or returns False.

    ``version`` is the database's version at this point, for the error message.
    """
    if hook is None:
        return
    name = getattr(hook, "__qualname__", None) or type(hook).__name__
    error: Exception | None = None
    try:
        if await hook(run) is not False:
            return
        cause = "returned False"
    except AnalytiqError as exc:
        error, cause = exc, exc.message
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        error, cause = exc, f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    done = "no step ran" if when == "before" else "the steps are applied"
    raise HookFailedError(
        f"the {when} hook {name} failed: {redact_text(cause)}; {done}, the database is at version {version}",
        hint="fix the hook's cause, then run again (the hooks run on every run)",
        version=version,
    ) from error


async def run_hook_of(
    hooks: RunHooks, when: Literal["before", "after"], db: Any, steps: Plan, applied: tuple[StepResult, ...]
) -> None:
    """Await ``hooks.before`` or ``hooks.after`` (if set) for a run of plan ``steps`` on ``db``.

    ``applied`` is what the run did so far (given to ``after``). Raises HookFailedError.
    """
    info = RunInfo(
        db=db,
        database=str(getattr(db, "name", "")),
        from_version=steps.current,
        target=steps.target,
        direction=steps.direction,
        pending=tuple(s.version for s in steps.steps),
        steps=applied if when == "after" else (),
    )
    hook = hooks.before if when == "before" else hooks.after
    await call_hook(when, hook, info, steps.target if when == "after" else steps.current)
