"""Applying one step of a plan: its history record, the task it runs in (a second stop request
cancels it), and the one line a person reads when it fails or is interrupted.

How the step itself runs (in a transaction, or outside one after a refusal) is ``stepexec``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from bson.timestamp import Timestamp
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import AnalytiqError, LockError
from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.checksum import migration_checksum
from analytiq_data.migrations.engine.clients import EngineClients
from analytiq_data.migrations.engine.failures import StepTimedOut, describe_cause
from analytiq_data.migrations.engine.lock import MigrationLock
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.migrations.engine.plan import Step
from analytiq_data.migrations.engine.results import RunInterrupted, StepFailedError, StepResult
from analytiq_data.migrations.engine.state import HISTORY_COLLECTION, StateStore, VersionConflict, utcnow
from analytiq_data.migrations.engine.step_progress import use_progress
from analytiq_data.migrations.engine.stepexec import StepExecution, StepRun
from analytiq_data.progress import Outcome, Progress, TaskKind
from analytiq_data.uri import redact_text

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0  # how long a step cancelled at its time limit has to end before its lease is left to expire


def step_result(
    step: Step, transactions: bool, outcome: str, duration_s: float | None = None, note: str | None = None
) -> StepResult:
    """Return the StepResult of ``step`` (``transactions``: whether it ran, or would run, in one)."""
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


@dataclass
class StepApplier:
    """Applies the steps of one run, one at a time, and keeps what was applied (``applied``)."""

    clients: EngineClients
    db_name: str
    state: StateStore
    run_id: str
    transactions: bool  # the server has them
    progress: Progress
    stop: StopRequest
    applied: list[StepResult] = field(default_factory=list)
    step_fields: dict[str, Any] = field(default_factory=dict)  # stored on every step record
    default_time_limit_s: float | None = None  # for steps whose class declares no time_limit_s
    grace_s: float = STOP_GRACE_S  # how long a step cancelled at its time limit has to end

    def time_limit(self, step: Step) -> float | None:
        """Return the step's time limit: its class's ``time_limit_s``, else the run's default (None: none)."""
        own = step.migration.time_limit_s
        return own if own is not None else self.default_time_limit_s

    @property
    def step_transactions(self) -> bool:
        """Whether steps get the server's transactions (their operations can join the engine's session)."""
        return self.transactions and self.clients.steps_can_join_transactions

    def _step_run(self, step: Step) -> StepRun:
        m = step.migration
        in_tx = self.step_transactions and m.use_transaction
        note = None
        if self.transactions and m.use_transaction and not in_tx:
            note = f"the app's {self.clients.kind} client cannot join the engine's transaction"
        return StepRun(in_tx=in_tx, dirty=not in_tx and not m.idempotent, idempotent=m.idempotent, note=note)

    async def apply(self, step: Step, lock: MigrationLock, step_of: tuple[int, int]) -> StepResult:
        """Apply ``step`` under ``lock``, record it, add it to ``applied``; raise StepFailedError,
        RunInterrupted, LockError or VersionConflict with one line when it does not succeed."""
        m = step.migration
        run = self._step_run(step)
        task = f"{step.label()} {step.direction}"
        self.progress.start(task, None, "steps", kind=TaskKind.STEP, step=step_of)
        started = utcnow()
        t0 = time.monotonic()
        begun = await cluster_time_of(self.state.db)
        record = await self.state.start_record(
            {
                **({"cluster_time_started": begun} if begun is not None else {}),
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
        execution = StepExecution(
            self.clients, self.db_name, self.state, record, started, lock, self.stop.handles_signals
        )
        worker = asyncio.create_task(self._execute_reporting(execution, step, run))
        self.stop.attach(worker)
        try:
            await self._within_limit(worker, self.time_limit(step))
        except asyncio.CancelledError:
            await self._record_failure(record, started, "interrupted", None, run)
            self.progress.finish(task, "interrupted", outcome=Outcome.INTERRUPTED)
            if _being_cancelled():
                raise
            raise self._interrupted_during(step, run.in_tx, run.dirty) from None
        except Exception as exc:
            if isinstance(exc, StepTimedOut) and not exc.stopped:
                await lock.abandon()  # it may still write: no renewal, and no release, until its lease ends
            await self._record_failure(record, started, "failed", exc, run)
            self.progress.finish(task, "failed", outcome=Outcome.FAILED)
            raise self._failure(step, exc, run) from exc
        finally:
            self.stop.attach(None)
        duration = round(time.monotonic() - t0, 3)
        ended = await cluster_time_of(self.state.db)
        if ended is not None:
            await self.state.update_record(record, cluster_time_ended=ended)
        done = "applied" if step.direction == "up" else "reverted"
        if run.in_tx:
            done += " in a transaction"
        elif run.fell_back:
            done += " outside a transaction (refused in one)"
        self.progress.finish(task, done)
        result = step_result(step, run.in_tx, "applied", duration, run.note)
        self.applied.append(result)
        return result

    async def _within_limit(self, worker: asyncio.Task[None], limit_s: float | None) -> None:
        """Await the step's task; past ``limit_s`` cancel it and raise StepTimedOut (``stopped``: it
        ended within ``grace_s`` of the cancel). A cancel of this task is passed on to the step's,
        which is then awaited to its end (its transaction aborted), as awaiting it directly would."""
        if limit_s is None:
            await worker
            return
        try:
            await asyncio.wait({worker}, timeout=limit_s)
            if worker.done():
                worker.result()  # the step's own outcome: None, its exception, or CancelledError
                return
            log.warning("step ran past its time limit of %gs: cancelling it", limit_s)
            worker.cancel()
            await asyncio.wait({worker}, timeout=self.grace_s)
        except asyncio.CancelledError:
            worker.cancel()
            await asyncio.wait({worker})
            raise
        if not worker.done():
            worker.add_done_callback(_log_stray_end)
            raise StepTimedOut(limit_s, stopped=False)
        cause = None if worker.cancelled() else worker.exception()
        if worker.cancelled() or cause is not None:
            raise StepTimedOut(limit_s, stopped=True) from cause
        # it finished just as the limit passed: its work stands

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
        if isinstance(exc, StepTimedOut) and not exc.stopped:
            after = (
                "it is still running in this process, so its writes may still land; the lock is released when "
                "its lease ends"
            )
        elif run.in_tx:
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


async def cluster_time_of(db: AsyncDatabase[Any]) -> Timestamp | None:
    """Return the server's cluster time now (at or after every write it acknowledged), None if it has none.

    Recorded on each step's history record (``cluster_time_started`` before it runs,
    ``cluster_time_ended`` after), so a point-in-time restore can name the moment before a step.
    Read as the ``operationTime`` of a one-document read in a session (no extra ``hello``).
    """
    try:
        async with db.client.start_session(causal_consistency=False) as session:
            await db[HISTORY_COLLECTION].find_one({}, {"_id": 1}, session=session)
            return session.operation_time
    except PyMongoError as exc:  # only a note in the history depends on it
        log.info("cluster time not read: %s", exc)
        return None


def _log_stray_end(worker: asyncio.Task[None]) -> None:
    """Log how a step given up on past its time limit ended after all (its outcome was already recorded)."""
    error = None if worker.cancelled() else worker.exception()
    log.warning("a step given up on past its time limit ended%s", f": {error!r}" if error else "")


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
