"""Running a plan: the lock, the decision made under it, the hooks, then each step in order.

The runner knows nothing of Analytiq: it is given a ``target.Connection`` (the clients, the
database, whether the server has transactions) and a validated list of Migration objects; how one
step is applied and recorded is ``applying``'s, how it runs (in a transaction or not) ``stepexec``'s.
It never prints; it reports through a Progress and returns a RunResult, or raises StepFailedError /
LockError / RunInterrupted / MigrationError with one line for a person.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.applying import STOP_GRACE_S, StepApplier, step_result
from analytiq_data.migrations.engine.hooks import run_hook_of
from analytiq_data.migrations.engine.housekeeping import release_tidily
from analytiq_data.migrations.engine.lock import Acquisition, MigrationLock, held_error, read_lock
from analytiq_data.migrations.engine.lockinfo import gone_line
from analytiq_data.migrations.engine.options import RunOptions, StopRequest, TargetChooser
from analytiq_data.migrations.engine.plan import MigrationList, Plan, Step, database_ahead_error, plan
from analytiq_data.migrations.engine.prestep import run_hook
from analytiq_data.migrations.engine.results import RunInterrupted, RunResult
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.migrations.engine.target import Connection
from analytiq_data.progress import Progress, compatible

log = logging.getLogger(__name__)


class Runner:
    """Takes one database from its version to a target through a list of migrations."""

    def __init__(
        self,
        conn: Connection,
        migrations: MigrationList,
        *,
        options: RunOptions | None = None,
        progress: Progress | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        self.clients = conn.clients
        self.db_name = conn.target.database
        self.db = conn.db
        self.migrations = migrations
        self.transactions = conn.transactions
        self.options = options or RunOptions()
        self.progress = compatible(progress)
        self.stop = stop or StopRequest()
        self.state = StateStore(self.db)
        self.run_id = uuid.uuid4().hex
        self.steps = StepApplier(
            self.clients, self.db_name, self.state, self.run_id, self.transactions, self.progress, self.stop
        )
        self.steps.default_time_limit_s = self.options.step_time_limit_s
        self.steps.grace_s = min(STOP_GRACE_S, self.options.lease_s)

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
            with lock.running_under():  # a run started by a hook or a step here is nested: refused
                await self._before_steps(steps, lock)
                await self._hooks(lock, steps, "before")
                await self._apply_all(steps, lock)
                await self._hooks(lock, steps, "after")
            return self._result(
                steps.current,
                steps.target,
                to_version=steps.target,
                steps=tuple(self.steps.applied),
                direction=steps.direction,
                reached_by_other=steps.is_empty and got.waited_for_another and now != before,
                waited_s=round(got.waited_s, 3),
                recorded=dict(self.steps.step_fields),
                changed=decided.changed,
                warnings=decided.warnings,
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
        return got  # a takeover was noted by acquire

    async def _plan_only(self, choose_target: TargetChooser, ahead_is_ok: bool) -> RunResult:
        """Return the plan from the recorded version, without the lock (saying so if a run is in progress)."""
        holder = await read_lock(self.db)
        if holder is not None and holder.live:
            self.progress.note(f"a migration is running (lock held by {holder.describe()}): this plan may change")
        elif holder is not None and holder.holder_gone:
            self.progress.note(gone_line(holder))
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
        await checks.refuse_if_dirty(self.state, current, under_lock=under_lock)
        review = await checks.review_applied(self.state, self.migrations, current)
        if review.mismatches:
            raise checks.mismatch_error(review.mismatches)
        warnings = review.warnings(self.migrations)
        for line in warnings:  # the run goes on (exit 0); status and check fail on it
            log.warning("%s", line)
            self.progress.note(line)
        said = {"changed": review.changed, "warnings": warnings}
        if steps.is_empty or not self.options.dry_run:
            return self._result(current, target, **said)
        planned = tuple(step_result(s, self.steps.step_transactions, "planned") for s in steps.steps)
        return self._result(current, target, steps=planned, dry_run=True, direction=steps.direction, **said)

    async def _hooks(self, lock: MigrationLock, steps: Plan, when: Literal["before", "after"]) -> None:
        """Await the application's ``before`` or ``after`` run hook under the lock (renewed meanwhile)."""
        if self.options.hooks is not None:
            lock.start_renewing()
            await run_hook_of(
                self.options.hooks, when, self.clients.step_database(self.db_name), steps, tuple(self.steps.applied)
            )
            lock.check()

    async def _before_steps(self, steps: Plan, lock: MigrationLock) -> None:
        """Run the pre-step hook (if any) under the lock; its fields then go on every step record."""
        hook = self.options.before_steps
        if hook is not None and steps.direction is not None:
            where = (self.clients.bookkeeping, self.db_name, self.state, self.run_id)
            self.steps.step_fields = await run_hook(
                hook, steps.current, steps.target, steps.direction, lock, where, self.progress
            )

    async def _apply_all(self, steps: Plan, lock: MigrationLock) -> None:
        for i, step in enumerate(steps.steps, 1):
            if self.stop.requested:
                raise self._stopped_between(step, steps)
            lock.check()
            running = {"version": step.version, "name": step.name, "direction": step.direction}
            if not await lock.renew(step={**running, "time_limit_s": self.steps.time_limit(step)}):
                lock.check()
            await self.steps.apply(step, lock, (i, len(steps.steps)))
        if steps.steps:
            await lock.clear_step()

    def _stopped_between(self, next_step: Step, steps: Plan) -> RunInterrupted:
        at = next_step.from_version
        verb = "up" if steps.direction == "up" else "down"
        again = f"analytiq-db {verb}" + (
            f" --to {steps.target}" if verb == "down" or steps.target != steps.head else ""
        )
        return RunInterrupted(
            f"interrupted: stopped before {next_step.label()}; the database is at version {at}",
            hint=f"run {again} to continue to version {steps.target}",
            applied=tuple(self.steps.applied),
            version=at,
        )
