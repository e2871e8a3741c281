"""What a stopped restore says about the database, built from values (no server)."""

from __future__ import annotations

import asyncio

from analytiq_data.errors import DatabaseConnectionError, ExitCode, VerificationError
from analytiq_data.safety.restore_guard import RestoreIncomplete, RestoreInterrupted, SwapProgress, stopped_error

WHERE = {"db": "prod", "tmp": "prod__restore_tmp", "backup": "prod_bk"}


def test_before_the_swap_an_error_speaks_for_itself_and_ctrl_c_says_nothing_changed() -> None:
    swap = SwapProgress()
    assert stopped_error(DatabaseConnectionError("lost"), swap=swap, tmp_removed=True, **WHERE) is None
    said = stopped_error(asyncio.CancelledError(), swap=swap, tmp_removed=True, **WHERE)
    assert isinstance(said, RestoreInterrupted) and said.exit_code == ExitCode.INTERRUPTED
    assert said.user_line() == (
        "restore interrupted before the swap: database 'prod' is unchanged; 'prod__restore_tmp' was removed"
    )
    kept = stopped_error(KeyboardInterrupt(), swap=swap, tmp_removed=False, **WHERE)
    assert kept is not None and "drop 'prod__restore_tmp'" in kept.user_line()


def test_during_the_swap_it_names_what_holds_the_backup_and_what_does_not() -> None:
    swap = SwapProgress(planned=["a", "b", "c"], moved=["a"], started=True)
    said = stopped_error(asyncio.CancelledError(), swap=swap, tmp_removed=False, **WHERE)
    assert isinstance(said, RestoreInterrupted)
    assert said.user_line() == (
        "restore interrupted during the swap: 1 of 3 collections of 'prod' already hold the backup (a), "
        "2 still hold the old data (b, c), its views were dropped; the rest of the rebuilt backup is in "
        "'prod__restore_tmp' — run the same restore again: it rebuilds prod__restore_tmp from backup 'prod_bk' "
        "(untouched) and swaps it all in"
    )
    failed = stopped_error(DatabaseConnectionError("lost the MongoDB"), swap=swap, tmp_removed=False, **WHERE)
    assert isinstance(failed, RestoreIncomplete) and failed.exit_code == ExitCode.MIGRATION
    assert failed.message.startswith("restore failed during the swap (lost the MongoDB): 1 of 3 collections")


def test_after_the_swap_ctrl_c_says_the_verification_did_not_run() -> None:
    swap = SwapProgress(planned=["a"], moved=["a"], started=True, swapped=True)
    assert stopped_error(VerificationError("differs"), swap=swap, tmp_removed=True, **WHERE) is None
    said = stopped_error(asyncio.CancelledError(), swap=swap, tmp_removed=True, **WHERE)
    assert said is not None and "now holds backup 'prod_bk'" in said.user_line()
    assert "analytiq-db backup --verify-only --src prod_bk --dest prod" in said.user_line()
