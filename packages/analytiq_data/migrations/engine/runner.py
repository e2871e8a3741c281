"""Applying a plan: the lock, each step in its transaction (or not), the version and the history.

The runner knows nothing of Analytiq: it is given the clients (``clients.EngineClients``), a database
name and a list of Migration objects; how one step runs (in a transaction or not) is ``stepexec``'s.
It never prints; it reports through a Progress and returns a RunResult, or raises StepFailedError /
LockError / RunInterrupted / MigrationError with one line for a person.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import AnalytiqError, LockError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.checksum import migration_checksum
from analytiq_data.migrations.engine.clients import EngineClients
from analytiq_data.migrations.engine.failures import describe_cause
from analytiq_data.migrations.engine.hooks import RunHooks, run_hook_of
from analytiq_data.migrations.engine.housekeeping import release_tidily
from analytiq_data.migrations.engine.lock import (
    DEFAULT_LEASE_S,
    DEFAULT_LOCK_WAIT_S,
    Acquisition,
    MigrationLock,
    held_error,
    read_lock,
)
from analytiq_data.migrations.engine.plan import Plan, Step, database_ahead_error, plan
from analytiq_data.migrations.engine.prestep import PreStepHook, run_hook
from analytiq_data.migrations.engine.results import RunInterrupted, RunResult, StepFailedError, StepResult
from analytiq_data.migrations.engine.state import StateStore, VersionConflict, utcnow
from analytiq_data.migrations.engine.step_progress import use_progress
from analytiq_data.migrations.engine.stepexec import StepExecution, StepRun
from analytiq_data.progress import Outcome, Progress, TaskKind, compatible
from analytiq_data.uri import redact_text

log = logging.getLogger(__name__)

# (current version, newest version) -> target version; raises ConfigurationError for a bad request.
TargetChooser = Callable[[int, int], int]


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves: how long to wait for the lock, the lease length, whether to only plan,
    work to do under the lock before the first step when steps are pending (``before_steps``, e.g.
    a backup; see ``prestep``), and the application's run hooks (``hooks``; see ``hooks``)."""

    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S
    dry_run: bool = False
    before_steps: PreStepHook | None = field(default=None, compare=False)
    hooks: RunHooks | None = field(default=None, compare=False)


class StopRequest:
    """A request to stop a run: the first stops at the next safe point between steps, the second
    aborts the running step at once (its transaction rolls back)."""

    def __init__(self) -> None:
        self.count = 0
        self._step_task: asyncio.Task[Any] | None = None
        self._listeners: list[Callable[[int], None]] = []

    def request(self) -> None:
        """Ask the run to stop (call from a signal handler on the event loop)."""
        self.count += 1
        for listener in self._listeners:
            listener(self.count)
        if self.count >= 2 and self._step_task is not None and not self._step_task.done():
            self._step_task.cancel()

    def attach(self, task: asyncio.Task[Any] | None) -> None:
        """Name the task running the current step (the one a second request cancels)."""
        self._step_task = task

    def listen(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(count)`` on every request."""
        self._listeners.append(callback)

    @property
    def requested(self) -> bool:
        """Return whether a stop was requested."""
        return self.count > 0


def _planned(
    step: Step, transactions: bool, outcome: str, duration_s: float | None = None, note: str | None = None
) -> StepResult:
    m = step.migration
    return StepResult(
        version=step.version,
        name=step.name,
        description=m.description,
        direction=step.direction,
        transactional=transactions and m.use_transaction,
        idempotent=m.idempotent,
        reversible=m.reversible,
        outcome=outcome,
        duration_s=duration_s,
        transaction_note=note,
    )


class Runner:
    """Takes one database from its version to a target through a list of migrations."""

    def __init__(
        self,
        clients: EngineClients,
        db_name: str,
        migrations: tuple[Migration, ...],
        *,
        transactions: bool,
        options: RunOptions | None = None,
        progress: Progress | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        self.clients = clients
        self.client = clients.bookkeeping
        self.db_name = db_name
        self.db: AsyncDatabase[Any] = self.client[db_name]
        self.migrations = migrations
        self.transactions = transactions
        # Steps get the server's transactions only where their operations can join the engine's session.
        self.step_transactions = transactions and clients.steps_can_join_transactions
        self.options = options or RunOptions()
        self.progress = compatible(progress)
        self.step_of: tuple[int, int] | None = None
        self.stop = stop or StopRequest()
        self.state = StateStore(self.db)
        self.run_id = uuid.uuid4().hex
        self.applied: list[StepResult] = []
        self.step_fields: dict[str, Any] = {}  # stored on every step record (what the pre-step hook returned)

    def _result(self, current: int, target: int, **kw: Any) -> RunResult:
        return RunResult(
            database=self.db_name,
            from_version=current,
            to_version=kw.pop("to_version", current),
            target=target,
            head=len(self.migrations),
            direction=kw.pop("direction", None),
            transactions=self.transactions,
            **kw,
        )

    async def _check(self, current: int, *, under_lock: bool) -> None:
        await checks.refuse_if_dirty(self.state, current, under_lock=under_lock)
        await checks.refuse_if_reordered(self.state, self.migrations, current)

    async def run(self, choose_target: TargetChooser, *, ahead_is_ok: bool = False) -> RunResult:
        """Take the lock, then plan from the version read under it to ``choose_target(current, head)``
        and apply the plan.

        Every decision (the target, "nothing to do", a refusal) is made from the state read while
        holding the lock: a runner that finds the lock held waits, so a run in progress is never
        taken for the end state. Only ``dry_run`` plans without the lock (and says nothing is done).
        """
        if self.options.dry_run:
            return await self._plan_only(choose_target, ahead_is_ok)
        before = await self.state.read_version()
        lock = MigrationLock(self.db, lease_s=self.options.lease_s)
        got = await self._acquire(lock)
        try:
            await self.state.mark_abandoned(self.run_id)
            now = await self.state.read_version()
            decided = await self._decide(choose_target, now.version, ahead_is_ok, under_lock=True)
            if decided.database_ahead:
                return decided
            steps = plan(self.migrations, now.version, decided.target)
            lock.start_renewing()
            await self._before_steps(steps, lock)
            await self._hooks(lock, steps, "before")
            await self._apply_all(steps, lock)
            await self._hooks(lock, steps, "after")
            return self._result(
                steps.current,
                steps.target,
                to_version=steps.target,
                steps=tuple(self.applied),
                direction=steps.direction,
                reached_by_other=steps.is_empty and got.waited_for_another and now != before,
                waited_s=round(got.waited_s, 3),
                recorded=dict(self.step_fields),
            )
        finally:
            await release_tidily(lock)

    async def _acquire(self, lock: MigrationLock) -> Acquisition:
        """Wait for the lock; raise RunInterrupted (stopped) or LockError (timed out) unless it is held."""
        got = await lock.acquire(self.options.lock_wait_s, stop=self.stop, progress=self.progress)
        if got.outcome == "stopped":
            raise RunInterrupted(
                "interrupted while waiting for the migration lock; nothing was done",
                hint="run the command again",
                applied=(),
                version=(await self.state.read_version()).version,
            )
        if got.outcome == "timed_out":
            raise held_error(got.holder, self.options.lock_wait_s)
        if got.took_over is not None:
            self.progress.note(f"took over the expired migration lock of {got.took_over.describe()}")
        return got

    async def _plan_only(self, choose_target: TargetChooser, ahead_is_ok: bool) -> RunResult:
        """Return the plan from the recorded version, without the lock (saying so if a run is in progress)."""
        holder = await read_lock(self.db)
        if holder is not None and holder.live:
            self.progress.note(f"a migration is running (lock held by {holder.describe()}): this plan may change")
        current = (await self.state.read_version()).version
        return await self._decide(choose_target, current, ahead_is_ok, under_lock=False)

    async def _decide(
        self, choose_target: TargetChooser, current: int, ahead_is_ok: bool, *, under_lock: bool
    ) -> RunResult:
        """Return the run's decision from ``current``: database ahead (nothing done), or a target
        with its planned steps; raise for a refusal (dirty, reordered, newer database, bad target)."""
        head = len(self.migrations)
        if ahead_is_ok and current > head:
            log.warning(
                "database %s is at version %d, newer than the code's %d: nothing done", self.db_name, current, head
            )
            self.progress.note(
                f"warning: the database is at version {current}, newer than this code's newest migration "
                f"({head}); nothing done"
            )
            return self._result(current, current, database_ahead=True)
        if current > head:
            raise database_ahead_error(current, head)
        target = choose_target(current, head)
        steps = plan(self.migrations, current, target)
        await self._check(current, under_lock=under_lock)
        if steps.is_empty or not self.options.dry_run:
            return self._result(current, target)
        planned = tuple(_planned(s, self.step_transactions, "planned") for s in steps.steps)
        return self._result(current, target, steps=planned, dry_run=True, direction=steps.direction)

    async def _hooks(self, lock: MigrationLock, steps: Plan, when: Literal["before", "after"]) -> None:
        """Await the application's ``before`` or ``after`` run hook under the lock (renewed meanwhile)."""
        if self.options.hooks is not None:
            lock.start_renewing()
            await run_hook_of(
                self.options.hooks, when, self.clients.step_database(self.db_name), steps, tuple(self.applied)
            )
            lock.check()

    async def _before_steps(self, steps: Plan, lock: MigrationLock) -> None:
        """Run the pre-step hook (if any) under the lock; its fields then go on every step record."""
        hook = self.options.before_steps
        if hook is not None and steps.direction is not None:
            where = (self.client, self.db_name, self.state, self.run_id)
            self.step_fields = await run_hook(
                hook, steps.current, steps.target, steps.direction, lock, where, self.progress
            )

    async def _apply_all(self, steps: Plan, lock: MigrationLock) -> None:
        for i, step in enumerate(steps.steps, 1):
            self.step_of = (i, len(steps.steps))
            if self.stop.requested:
                raise self._stopped_between(step, steps)
            lock.check()
            if not await lock.renew():
                lock.check()
            self.applied.append(await self._apply_step(step, lock))

    def _stopped_between(self, next_step: Step, steps: Plan) -> RunInterrupted:
        at = next_step.from_version
        verb = "up" if steps.direction == "up" else "down"
        again = f"analytiq-db {verb}" + (
            f" --to {steps.target}" if verb == "down" or steps.target != steps.head else ""
        )
        return RunInterrupted(
            f"interrupted: stopped before {next_step.label()}; the database is at version {at}",
            hint=f"run {again} to continue to version {steps.target}",
            applied=tuple(self.applied),
            version=at,
        )

    def _step_run(self, step: Step) -> StepRun:
        m = step.migration
        in_tx = self.step_transactions and m.use_transaction
        note = None
        if self.transactions and m.use_transaction and not in_tx:
            note = f"the app's {self.clients.kind} client cannot join the engine's transaction"
        return StepRun(in_tx=in_tx, dirty=not in_tx and not m.idempotent, idempotent=m.idempotent, note=note)

    async def _apply_step(self, step: Step, lock: MigrationLock) -> StepResult:
        m = step.migration
        run = self._step_run(step)
        task = f"{step.label()} {step.direction}"
        self.progress.start(task, None, "steps", kind=TaskKind.STEP, step=self.step_of)
        started = utcnow()
        t0 = time.monotonic()
        record = await self.state.start_record(
            {
                "version": step.version,
                "name": step.name,
                "description": m.description,
                "direction": step.direction,
                "checksum": migration_checksum(m),
                "transactional": run.in_tx,
                "idempotent": m.idempotent,
                "dirty": run.dirty,
                "from_version": step.from_version,
                "to_version": step.to_version,
                "run_id": self.run_id,
                **({"transaction_note": run.note} if run.note else {}),
                **self.step_fields,
            }
        )
        execution = StepExecution(self.clients, self.db_name, self.state, record, started, lock)
        worker = asyncio.create_task(self._execute_reporting(execution, step, run))
        self.stop.attach(worker)
        try:
            await worker
        except asyncio.CancelledError:
            await self._record_failure(record, started, "interrupted", None, run)
            self.progress.finish(task, "interrupted", outcome=Outcome.INTERRUPTED)
            if _being_cancelled():
                raise
            raise self._interrupted_during(step, run.in_tx, run.dirty) from None
        except Exception as exc:
            await self._record_failure(record, started, "failed", exc, run)
            self.progress.finish(task, "failed", outcome=Outcome.FAILED)
            raise self._failure(step, exc, run) from exc
        finally:
            self.stop.attach(None)
        duration = round(time.monotonic() - t0, 3)
        done = "applied" if step.direction == "up" else "reverted"
        if run.in_tx:
            done += " in a transaction"
        elif run.fell_back:
            done += " outside a transaction (refused in one)"
        self.progress.finish(task, done)
        return _planned(step, run.in_tx, "applied", duration, run.note)

    async def _execute_reporting(self, execution: StepExecution, step: Step, run: StepRun) -> None:
        """Run the step with this run's Progress as the batch helper's default (set in the step's task only)."""
        with use_progress(self.progress):
            await execution.run(step, run)

    async def _record_failure(
        self, record: Any, started: Any, outcome: str, exc: BaseException | None, run: StepRun
    ) -> None:
        fields: dict[str, Any] = {}
        if exc is not None:
            fields["error"] = redact_text(describe_cause(exc, run.capture))
            failed = [f.describe() for f in run.capture.relevant()]
            if failed:
                fields["failed_commands"] = [redact_text(text) for text in failed]
            fields["traceback"] = redact_text("".join(traceback.format_exception(exc)))
        try:
            await self.state.finish_record(record, outcome, started, **fields)
        except Exception as write_error:  # the step's failure matters more than the record's
            log.error("could not record the step's %s: %s", outcome, write_error)

    def _failure(self, step: Step, exc: BaseException, run: StepRun) -> AnalytiqError:
        if isinstance(exc, LockError | VersionConflict):
            return exc  # lost the lease, or another runner moved the version: already a sentence
        at = step.from_version
        if run.in_tx:
            after = "its writes were rolled back"
        elif run.dirty:
            after = (
                "the database is now dirty (the step is not idempotent and ran outside a transaction): check "
                f"its data, then analytiq-db resolve --version {step.version} --mark applied|reverted"
            )
        else:
            after = "it ran outside a transaction and will run again next time"
        extra = checks.hint_for(exc)
        return StepFailedError(
            f"{step.label()} failed ({step.direction}): {redact_text(describe_cause(exc, run.capture))}",
            hint=f"the database is at version {at}; {after}; {extra or 'the traceback is in analytiq-db history'}",
            version=step.version,
            name=step.name,
            applied=tuple(self.applied),
        )

    def _interrupted_during(self, step: Step, in_tx: bool, dirty: bool) -> RunInterrupted:
        if in_tx:
            after = "its transaction was rolled back"
        elif dirty:
            after = f"the database is dirty: check it, then analytiq-db resolve --version {step.version}"
        else:
            after = "it will run again next time"
        return RunInterrupted(
            f"interrupted during {step.label()}: {after}; the database is at version {step.from_version}",
            hint=f"run analytiq-db {step.direction} again to continue",
            applied=tuple(self.applied),
            version=step.from_version,
        )


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
