"""What a stopped restore says about the database, built from values (no server)."""

from __future__ import annotations

import asyncio

from analytiq_data.errors import DatabaseConnectionError, ExitCode, VerificationError
from analytiq_data.safety.restore_guard import RestoreIncomplete, RestoreInterrupted, SwapProgress, stopped_error
from analytiq_data.safety.restore_run import sharded_refusal

WHERE = {"db": "prod", "backup": "backup 'prod_bk' on db1:27017"}


def test_before_the_swap_an_error_speaks_for_itself_and_ctrl_c_says_nothing_changed() -> None:
    swap = SwapProgress()
    assert stopped_error(DatabaseConnectionError("lost"), swap=swap, removed=True, **WHERE) is None
    said = stopped_error(asyncio.CancelledError(), swap=swap, removed=True, **WHERE)
    assert isinstance(said, RestoreInterrupted) and said.exit_code == ExitCode.INTERRUPTED
    assert (
        said.user_line()
        == "restore interrupted before the swap: database 'prod' is unchanged; the partial load was removed"
    )
    kept = stopped_error(KeyboardInterrupt(), swap=swap, removed=False, **WHERE)
    assert kept is not None and kept.user_line() == (
        "restore interrupted before the swap: database 'prod' is unchanged; the partial load is still there — "
        "run the same restore again: it removes the partial load first"
    )
    failed = stopped_error(DatabaseConnectionError("lost the MongoDB"), swap=swap, removed=False, **WHERE)
    assert isinstance(failed, RestoreIncomplete) and "the partial load is still there" in failed.user_line()


def test_during_the_swap_it_names_what_holds_the_backup_and_that_the_next_run_finishes_it() -> None:
    swap = SwapProgress(planned=["a", "b", "c"], moved=["a"], started=True)
    said = stopped_error(asyncio.CancelledError(), swap=swap, removed=False, **WHERE)
    assert isinstance(said, RestoreInterrupted)
    assert said.user_line() == (
        "restore interrupted during the swap: 1 of 3 collections of 'prod' that it replaces already hold the "
        "backup (a), 2 still hold the old data (b, c); the rest of the backup is loaded and checked in 'prod' "
        "(staged as __restore.<name>) — run the same restore again: it finishes the swap (the rest of the backup "
        "is loaded and checked)"
    )
    failed = stopped_error(DatabaseConnectionError("lost the MongoDB"), swap=swap, removed=False, **WHERE)
    assert isinstance(failed, RestoreIncomplete) and failed.exit_code == ExitCode.MIGRATION
    assert failed.message.startswith("restore failed during the swap (lost the MongoDB): 1 of 3 collections")


def test_after_the_swap_ctrl_c_says_the_final_check_did_not_run() -> None:
    swap = SwapProgress(planned=["a"], moved=["a"], started=True, swapped=True)
    assert stopped_error(VerificationError("differs"), swap=swap, removed=False, **WHERE) is None
    said = stopped_error(asyncio.CancelledError(), swap=swap, removed=False, **WHERE)
    assert said is not None
    assert "now holds backup 'prod_bk' on db1:27017 (1 collection(s) swapped in)" in said.user_line()
    assert "the final check did not run" in said.user_line()


def test_a_sharded_collection_the_restore_would_replace_is_refused_in_one_line() -> None:
    """Through mongos (not testable here: no mongos runs on these machines), the refusal names what to do."""
    said = sharded_refusal("prod", ["events", "orders"])
    assert said.exit_code == ExitCode.CONFIGURATION
    assert said.user_line() == (
        "database 'prod' has sharded collections the restore would replace (events, orders): restore swaps whole "
        "collections in by renaming, which would leave them unsharded; nothing changed — restore those collections "
        "with mongorestore (it inserts into the sharded collection as it exists; use --drop only to unshard), or "
        "drop them and shard them again after the restore"
    )
