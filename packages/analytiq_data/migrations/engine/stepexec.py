"""Running one step: in a transaction where that is safe, else (or after a refusal) outside one, like the original.

The policy (README, "Transactions"):

1. A step runs in a transaction when the server has them, the class allows it
   (``use_transaction``, default True) and the step's client can join the engine's session (a
   PyMongo app; a motor app's operations cannot be bound, so its steps run outside, as the
   original runner ran them).
2. While it runs, the step is watched (``failures``): failed commands, even ones it swallowed, and
   the errors it logged. If anything shows the *transaction* got in the way — DDL refused
   (``drop``, ``renameCollection``, ``listCollections``, ``dropIndexes``… code 263), the transaction
   aborted or too old/large/long, the driver refusing GridFS cursors — the attempt is aborted (it
   leaves nothing behind) and the step runs once more outside a transaction. That run is what the
   original runner would have done; the history records ``transactional: false`` and why.
3. A write conflict with another writer is retried in a transaction (up to 3 attempts) first.
4. Any other failure is the step's own: its transaction rolls back and the run stops.

Steps run by this engine are all written against one database object; effects outside it (another
client, files, HTTP) are not rolled back by the abort and would happen again on the re-run. Declare
``use_transaction = False`` on such a step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from analytiq_data.errors import LockError
from analytiq_data.migrations.engine.clients import EngineClients
from analytiq_data.migrations.engine.failures import (
    TRANSIENT,
    InTransactionRefused,
    StepCapture,
    StepEndedProcess,
    StepReturned,
    watching,
)
from analytiq_data.migrations.engine.lock import MigrationLock
from analytiq_data.migrations.engine.plan import Step
from analytiq_data.migrations.engine.session import TRANSACTION_RETRIES, attempt_in_transaction, transaction_database
from analytiq_data.migrations.engine.state import StateStore, VersionConflict

log = logging.getLogger(__name__)


@dataclass
class StepRun:
    """How one step is running: in a transaction or not, why not, and what its last attempt saw."""

    in_tx: bool
    dirty: bool
    idempotent: bool
    note: str | None = None  # why it ran outside a transaction although the server has them
    capture: StepCapture = field(default_factory=StepCapture)
    fell_back: bool = False  # a transactional attempt was refused and the step ran again outside


async def call_step(step: Step, db: Any, *, signals_handled: bool = False) -> None:
    """Call the step's ``up`` or ``down`` on ``db``; raise StepReturned unless it returned True.

    A step that raises SystemExit (``sys.exit(0)`` too) has failed: StepEndedProcess, never an exit.
    KeyboardInterrupt is the same when ``signals_handled`` (the caller turns Ctrl-C into stop
    requests, so the step raised it itself); otherwise it may be a person's Ctrl-C and ends the run
    as an interrupt does. ``os._exit`` cannot be caught: the process ends at once, like kill -9.
    """
    method = step.migration.up if step.direction == "up" else step.migration.down
    try:
        result = await method(db)
    except SystemExit as exc:
        raise StepEndedProcess(exc) from exc
    except KeyboardInterrupt as exc:
        if not signals_handled:
            raise
        raise StepEndedProcess(exc) from exc
    if result is not True:
        raise StepReturned(result)


@dataclass
class StepExecution:
    """Everything one step's execution writes through: clients, state, its history record, the lock."""

    clients: EngineClients
    db_name: str
    state: StateStore
    record: Any
    started: datetime
    lock: MigrationLock
    signals_handled: bool = False  # see call_step

    async def run(self, step: Step, run: StepRun) -> None:
        """Apply ``step`` and move the version, following the policy above; ``run`` says how it went."""
        if run.in_tx:
            for attempt in range(1, TRANSACTION_RETRIES + 1):
                run.capture = StepCapture()
                try:
                    await self._in_transaction(step, run)
                    return
                except (LockError, VersionConflict):
                    raise
                except Exception as exc:
                    reason = run.capture.transaction_reason(exc)
                    if reason is None:
                        raise
                    if self._contention(run.capture, exc) and attempt < TRANSACTION_RETRIES:
                        log.warning("write conflict in %s (%s); trying the transaction again", step.label(), reason)
                        continue
                    await self._leave_transaction(step, run, reason)
                    break
        await self._outside(step, run)

    @staticmethod
    def _contention(capture: StepCapture, exc: BaseException) -> bool:
        if capture.relevant():
            return capture.contention_only()
        return isinstance(exc, PyMongoError) and exc.has_error_label(TRANSIENT) and getattr(exc, "code", None) == 112

    async def _in_transaction(self, step: Step, run: StepRun) -> None:
        tx_db = transaction_database(self.clients.bookkeeping, self.db_name)

        async def body(session: AsyncClientSession) -> None:
            with watching(run.capture):
                await call_step(step, tx_db, signals_handled=self.signals_handled)
            reason = run.capture.transaction_reason(None)
            if reason is not None:  # swallowed by the step: its writes may be incomplete
                raise InTransactionRefused(reason)
            await self.state.write_version(step.from_version, step.to_version, session=session)
            await self.state.finish_record(self.record, "applied", self.started, session=session)

        try:
            await attempt_in_transaction(
                self.clients.bookkeeping, body, on_session=self.lock.set_transaction, before_commit=self.lock.confirm
            )
        finally:
            if self.lock.held and not self.lock.lost:
                await self.lock.set_transaction(None)

    async def _leave_transaction(self, step: Step, run: StepRun, reason: str) -> None:
        log.warning("%s cannot run in a transaction (%s): running it outside one", step.label(), reason)
        run.in_tx, run.fell_back = False, True
        run.note = f"refused in a transaction, ran outside one: {reason}"
        run.dirty = not run.idempotent
        await self.state.update_record(self.record, transactional=False, dirty=run.dirty, transaction_note=run.note)

    async def _outside(self, step: Step, run: StepRun) -> None:
        run.capture = StepCapture()
        with watching(run.capture):
            await call_step(step, self.clients.step_database(self.db_name), signals_handled=self.signals_handled)
        self.lock.check()  # a step given up on (past its time limit) records nothing when it ends after all
        await self.state.write_version(step.from_version, step.to_version)
        await self.state.finish_record(self.record, "applied", self.started, dirty=False)
