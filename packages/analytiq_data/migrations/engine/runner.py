"""Applying a plan: the lock, each step in its transaction (or not), the version and the history.

The runner knows nothing of Analytiq: it is given a client, a database name and a list of
Migration objects. It never prints; it reports through a Progress and returns a RunResult, or
raises StepFailedError / LockError / RunInterrupted / MigrationError with one line for a person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import AnalytiqError, LockError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.checksum import migration_checksum
from analytiq_data.migrations.engine.housekeeping import release_tidily
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S, LockInfo, MigrationLock
from analytiq_data.migrations.engine.plan import Plan, Step, database_ahead_error, plan
from analytiq_data.migrations.engine.prestep import PreStepHook, acquire_patiently, run_hook
from analytiq_data.migrations.engine.results import RunInterrupted, RunResult, StepFailedError, StepResult
from analytiq_data.migrations.engine.session import run_in_transaction, transaction_database
from analytiq_data.migrations.engine.state import StateStore, VersionConflict, utcnow
from analytiq_data.progress import Outcome, Progress, TaskKind, compatible
from analytiq_data.uri import redact_text

log = logging.getLogger(__name__)

# (current version, newest version) -> target version; raises ConfigurationError for a bad request.
TargetChooser = Callable[[int, int], int]


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves: how long to wait for the lock, the lease length, whether to only plan, and
    work to do under the lock before the first step (``before_steps``, e.g. a backup; see ``prestep``)."""

    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S
    dry_run: bool = False
    before_steps: PreStepHook | None = field(default=None, compare=False)


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


class StepReturned(Exception):
    """A step returned something other than True."""

    def __init__(self, value: object) -> None:
        shown = "False" if value is False else f"{value!r} (up/down must return True)"
        super().__init__(f"returned {shown}")


def _planned(step: Step, transactions: bool, outcome: str, duration_s: float | None = None) -> StepResult:
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
    )


class Runner:
    """Takes one database from its version to a target through a list of migrations."""

    def __init__(
        self,
        client: AsyncMongoClient[Any],
        db_name: str,
        migrations: tuple[Migration, ...],
        *,
        transactions: bool,
        options: RunOptions | None = None,
        progress: Progress | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        self.client = client
        self.db_name = db_name
        self.db: AsyncDatabase[Any] = client[db_name]
        self.migrations = migrations
        self.transactions = transactions
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
        """Plan from the recorded version to ``choose_target(current, head)`` and apply it under the lock."""
        head = len(self.migrations)
        current = (await self.state.read_version()).version
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
        await self._check(current, under_lock=False)
        if steps.is_empty:
            return self._result(current, target)
        if self.options.dry_run:
            planned = tuple(_planned(s, self.transactions, "planned") for s in steps.steps)
            return self._result(current, target, steps=planned, dry_run=True, direction=steps.direction)
        return await self._run_locked(target)

    def _note_waiting(self, holder: LockInfo | None) -> None:
        who = holder.describe() if holder else "another runner"
        self.progress.note(f"waiting up to {self.options.lock_wait_s:g}s for the migration lock held by {who}")

    def _note_phase(self, phase: str) -> None:
        self.progress.note(f"the lock holder is in its {phase} phase: waiting for it (not counted in the lock wait)")

    async def _give_up(self, target: int) -> bool:
        return self.stop.requested or await self._reached(target)

    async def _reached(self, target: int) -> bool:
        current = (await self.state.read_version()).version
        return current == target and await self.state.dirty_record() is None

    async def _run_locked(self, target: int) -> RunResult:
        lock = MigrationLock(self.db, lease_s=self.options.lease_s)
        started = time.monotonic()
        holder = await acquire_patiently(
            lock,
            self.options.lock_wait_s,
            give_up=lambda: self._give_up(target),
            on_wait=self._note_waiting,
            on_phase=self._note_phase,
        )
        if lock.took_over is not None:
            self.progress.note(f"took over the expired migration lock of {lock.took_over.describe()}")
        waited = round(time.monotonic() - started, 3)
        if self.stop.requested and not lock.held:
            raise RunInterrupted(
                "interrupted while waiting for the migration lock; nothing was done",
                hint="run the command again",
                applied=(),
                version=(await self.state.read_version()).version,
            )
        if holder is not None:
            self.progress.note(f"another runner ({holder.describe()}) brought the database to version {target}")
            return self._result(target, target, reached_by_other=True, waited_s=waited)
        try:
            await self.state.mark_abandoned(self.run_id)
            current = (await self.state.read_version()).version
            steps = plan(self.migrations, current, target)
            await self._check(current, under_lock=True)
            if steps.is_empty:
                return self._result(current, target, reached_by_other=waited > 0, waited_s=waited)
            lock.start_renewing()
            await self._before_steps(steps, lock)
            await self._apply_all(steps, lock)
            return self._result(
                current,
                target,
                to_version=target,
                steps=tuple(self.applied),
                direction=steps.direction,
                waited_s=waited,
                recorded=dict(self.step_fields),
            )
        finally:
            await release_tidily(lock)

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

    async def _apply_step(self, step: Step, lock: MigrationLock) -> StepResult:
        m = step.migration
        in_tx = self.transactions and m.use_transaction
        dirty = not in_tx and not m.idempotent
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
                "transactional": in_tx,
                "idempotent": m.idempotent,
                "dirty": dirty,
                "from_version": step.from_version,
                "to_version": step.to_version,
                "run_id": self.run_id,
                **self.step_fields,
            }
        )
        worker = asyncio.create_task(self._execute_reporting(step, in_tx, record, started, lock))
        self.stop.attach(worker)
        try:
            await worker
        except asyncio.CancelledError:
            await self._record_failure(record, started, "interrupted", None)
            self.progress.finish(task, "interrupted", outcome=Outcome.INTERRUPTED)
            if _being_cancelled():
                raise
            raise self._interrupted_during(step, in_tx, dirty) from None
        except Exception as exc:
            await self._record_failure(record, started, "failed", exc)
            self.progress.finish(task, "failed", outcome=Outcome.FAILED)
            raise self._failure(step, exc, in_tx, dirty) from exc
        finally:
            self.stop.attach(None)
        duration = round(time.monotonic() - t0, 3)
        done = "applied" if step.direction == "up" else "reverted"
        self.progress.finish(task, f"{done} in a transaction" if in_tx else done)
        return _planned(step, self.transactions, "applied", duration)

    async def _execute_reporting(self, step: Step, in_tx: bool, record: Any, started: Any, lock: MigrationLock) -> None:
        """Run the step with this run's Progress as the batch helper's default (set in the step's task only)."""
        with _step_progress(self.progress):
            await self._execute(step, in_tx, record, started, lock)

    async def _execute(self, step: Step, in_tx: bool, record: Any, started: Any, lock: MigrationLock) -> None:
        if not in_tx:
            await _call(step, self.db)
            await self.state.write_version(step.from_version, step.to_version)
            await self.state.finish_record(record, "applied", started, dirty=False)
            return
        tx_db = transaction_database(self.client, self.db_name)

        async def body(session: AsyncClientSession) -> None:
            await _call(step, tx_db)
            await self.state.write_version(step.from_version, step.to_version, session=session)
            await self.state.finish_record(record, "applied", started, session=session)

        try:
            await run_in_transaction(self.client, body, on_session=lock.set_transaction, before_commit=lock.confirm)
        finally:
            if lock.held and not lock.lost:
                await lock.set_transaction(None)

    async def _record_failure(self, record: Any, started: Any, outcome: str, exc: BaseException | None) -> None:
        fields: dict[str, Any] = {}
        if exc is not None:
            fields["error"] = redact_text(_cause(exc))
            fields["traceback"] = redact_text("".join(traceback.format_exception(exc)))
        try:
            await self.state.finish_record(record, outcome, started, **fields)
        except Exception as write_error:  # the step's failure matters more than the record's
            log.error("could not record the step's %s: %s", outcome, write_error)

    def _failure(self, step: Step, exc: BaseException, in_tx: bool, dirty: bool) -> AnalytiqError:
        if isinstance(exc, LockError | VersionConflict):
            return exc  # lost the lease, or another runner moved the version: already a sentence
        at = step.from_version
        if in_tx:
            after = "its writes were rolled back"
        elif dirty:
            after = (
                "the database is now dirty (the step is not idempotent and ran outside a transaction): check "
                f"its data, then analytiq-db resolve --version {step.version} --mark applied|reverted"
            )
        else:
            after = "it ran outside a transaction and will run again next time"
        extra = checks.hint_for(exc)
        return StepFailedError(
            f"{step.label()} failed ({step.direction}): {redact_text(_cause(exc))}",
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


def _step_progress(progress: Progress) -> contextlib.AbstractContextManager[None]:
    """Return the batch helper's ``use_progress(progress)``, so ``batch_update`` in a step reports here."""
    try:
        from analytiq_data.migrations.batch import use_progress
    except ImportError:  # the batch helper is optional to the engine
        return contextlib.nullcontext()
    return use_progress(progress)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _call(step: Step, db: AsyncDatabase[Any]) -> None:
    method = step.migration.up if step.direction == "up" else step.migration.down
    result = await method(db)
    if result is not True:
        raise StepReturned(result)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, StepReturned):
        return str(exc)
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
