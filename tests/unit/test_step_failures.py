"""What a step's failure is blamed on, without a server: recorded commands, transaction refusals, causes."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from pymongo import monitoring
from pymongo.errors import InvalidOperation, OperationFailure

from analytiq_data.migrations.engine.failures import (
    CommandRecorder,
    FailedCommand,
    StepCapture,
    StepReturned,
    describe_cause,
    watching,
)

ADDRESS = ("127.0.0.1", 27017)
MISSING_INDEX = {"ok": 0, "errmsg": "index not found with name [token_1]", "code": 27, "codeName": "IndexNotFound"}
REFUSED = {
    "ok": 0,
    "errmsg": "Cannot run 'dropIndexes' in a multi-document transaction.",
    "code": 263,
    "codeName": "OperationNotSupportedInTransaction",
}


def _failed(command: str, collection: str | None, reply: dict[str, object]) -> FailedCommand:
    code = reply.get("code")
    return FailedCommand(
        command, collection, str(reply["errmsg"]), code if isinstance(code, int) else None,
        str(reply.get("codeName")), (),
    )  # fmt: skip


def _run_command(
    recorder: CommandRecorder, request_id: int, command: dict[str, object], failure: dict[str, object]
) -> None:
    name = next(iter(command))
    recorder.started(monitoring.CommandStartedEvent(command, "app", request_id, ADDRESS, None))
    recorder.failed(monitoring.CommandFailedEvent(timedelta(0), failure, name, request_id, ADDRESS, None))


def test_the_recorder_names_command_and_collection_only_while_a_capture_is_armed() -> None:
    recorder = CommandRecorder()
    _run_command(recorder, 1, {"dropIndexes": "access_tokens", "index": "token_1"}, MISSING_INDEX)  # not armed
    capture = StepCapture()
    with watching(capture):
        _run_command(recorder, 2, {"dropIndexes": "access_tokens", "index": "token_1"}, MISSING_INDEX)
        _run_command(recorder, 3, {"renameCollection": "app.llm_runs", "to": "app.llm.runs"}, REFUSED)
    assert [f.describe() for f in capture.failures] == [
        "dropIndexes on access_tokens: index not found with name [token_1]",
        "renameCollection on llm_runs: Cannot run 'dropIndexes' in a multi-document transaction.",
    ]


def test_write_errors_in_a_successful_reply_are_failures() -> None:
    recorder, capture = CommandRecorder(), StepCapture()
    reply = {"ok": 1, "n": 0, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}]}
    with watching(capture):
        recorder.started(monitoring.CommandStartedEvent({"insert": "users"}, "app", 7, ADDRESS, None))
        recorder.succeeded(monitoring.CommandSucceededEvent(timedelta(0), reply, "insert", 7, ADDRESS, None))
    assert [f.describe() for f in capture.failures] == ["insert on users: E11000 duplicate key"]


def test_the_capture_follows_the_context_into_tasks_started_inside_it() -> None:
    capture = StepCapture()

    async def step() -> None:
        logging.getLogger("some.app").error("Migration failed: %s", "boom, full error: {...}")

    async def main() -> None:
        with watching(capture):
            await asyncio.create_task(step())
        logging.getLogger("some.app").error("after the step")  # not kept

    asyncio.run(main())
    assert capture.logged == ["Migration failed: boom"]


def test_transaction_refusals_are_told_from_the_steps_own_errors() -> None:
    assert _failed("dropIndexes", "t", REFUSED).from_transaction
    no_such = {"errmsg": "Given transaction number 3 does not match any in-progress transactions.", "code": 251}
    assert _failed("insert", "t", no_such).from_transaction
    assert not _failed("dropIndexes", "t", MISSING_INDEX).from_transaction
    capture = StepCapture([_failed("dropIndexes", "t", MISSING_INDEX)])
    assert capture.transaction_reason(StepReturned(False)) is None
    gridfs = InvalidOperation("GridFS does not support multi-document transactions")
    assert StepCapture().transaction_reason(gridfs) == (
        "InvalidOperation: GridFS does not support multi-document transactions"
    )
    logged = StepCapture(logged=["OCR failed: GridFS does not support multi-document transactions"])
    assert logged.transaction_reason(StepReturned(False)) == (
        "the step logged: OCR failed: GridFS does not support multi-document transactions"
    )


def test_an_abort_after_a_swallowed_error_names_that_error() -> None:
    duplicate = {"errmsg": "E11000 duplicate key error", "code": 11000}
    aborted = {"errmsg": "Given transaction number 4 does not match any in-progress transactions.", "code": 251}
    capture = StepCapture([_failed("insert", "tags", duplicate), _failed("update", "tags", aborted)])
    assert capture.transaction_reason(None) == (
        "the server aborted the transaction after insert on tags: E11000 duplicate key error"
    )


def test_the_cause_names_the_failed_command() -> None:
    capture = StepCapture([_failed("dropIndexes", "access_tokens", MISSING_INDEX)])
    assert describe_cause(StepReturned(False), capture) == (
        "returned False after dropIndexes on access_tokens failed: index not found with name [token_1]"
    )
    raised = OperationFailure("index not found with name [token_1]", 27, MISSING_INDEX)
    assert describe_cause(raised, capture) == (
        "OperationFailure: dropIndexes on access_tokens: index not found with name [token_1]"
    )
    assert describe_cause(StepReturned(False), StepCapture(logged=["Migration failed: x"])) == (
        "returned False; the step logged: Migration failed: x"
    )
    assert describe_cause(StepReturned(None), StepCapture()) == "returned None (up/down must return True)"
    missing = {"errmsg": "ns does not exist", "code": 26}
    assert describe_cause(StepReturned(False), StepCapture([_failed("listIndexes", "ocr.files", missing)])) == (
        "returned False"  # the driver's own expected failure (GridFS checking its indexes) is not blamed
    )
