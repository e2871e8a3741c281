"""What ``restore`` refuses, and what it says when it is stopped part-way.

A restore replaces a database, so it only starts from a source this tool recorded as a complete,
verified backup (``backup/manifest.py``), unless ``force``; it never starts from an interrupted
backup (one still holding ``__backup_state``), whatever ``force`` says; and it never empties a
database holding documents from a source holding none unless ``force``. Each refusal changes
nothing (ConfigurationError, exit code 3).

Stopped part-way (Ctrl-C, a lost server), it says exactly where things are: before the swap the
database is unchanged and the partial load removed; during the swap some collections already hold
the backup (the next run finishes the swap); after it the database holds the backup but the final
check did not run. The messages are built here from values (``SwapProgress``), so they are tested
without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analytiq_data.backup.manifest import Manifest
from analytiq_data.errors import AnalytiqError, ConfigurationError, ExitCode, Interrupted
from analytiq_data.text import first_few


class RestoreInterrupted(Interrupted):
    """Ctrl-C (or a cancellation) stopped the restore; the message says what state the database is in."""


class RestoreIncomplete(AnalytiqError):
    """The restore failed during the swap (part of the database holds the backup), or could not remove its
    partial load (exit code 6): the message says what state the database is in."""

    exit_code = ExitCode.MIGRATION


class TargetInUse(AnalytiqError):
    """Another client wrote to the database during the restore (exit code 5); the message says whether the
    restore took effect."""

    exit_code = ExitCode.LOCK


@dataclass
class SwapProgress:
    """How far a restore got: ``planned`` collections to swap in, those ``moved`` so far, ``swapped`` when all were."""

    planned: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    started: bool = False
    swapped: bool = False


def check_source(
    *,
    backup: str,
    where: str,
    state_header: Mapping[str, Any] | None,
    manifest: Manifest | None,
    force: bool,
) -> None:
    """Raise ConfigurationError unless ``backup`` may be restored: complete, recorded, verified (or ``force``)."""
    if state_header is not None:
        src = state_header.get("src_db") or "its source"
        raise ConfigurationError(
            f"{backup!r} on {where} is an interrupted backup, not a complete one (it still holds its resume state, "
            f"__backup_state): restoring it would replace the database with a partial copy; nothing changed",
            hint=f"finish it first with analytiq-db backup --src {src} --dest {backup} --resume, or restore another "
            "backup (--force does not override this)",
        )
    if force:
        return
    if manifest is None:
        raise ConfigurationError(
            f"{backup!r} on {where} is not a backup recorded by this tool (it has no __backup_manifest): "
            "nothing changed",
            hint="name a backup made by analytiq-db backup or up --backup, "
            "or pass --force to restore from any database",
        )
    if manifest.verified is not True:
        raise ConfigurationError(
            f"backup {backup!r} on {where} was not verified when it was made (--no-verify): nothing changed",
            hint=f"check it with analytiq-db backup --verify-only --src {manifest.src_db} --dest {backup}, "
            "then pass --force to restore it",
        )


def check_not_emptying(*, backup: str, db: str, backup_documents: int, db_documents: int, force: bool) -> None:
    """Raise ConfigurationError if a source with no documents would empty a database holding some (no ``force``)."""
    if backup_documents == 0 and db_documents > 0 and not force:
        raise ConfigurationError(
            f"{backup!r} holds no documents and database {db!r} holds about {db_documents:,}: restoring it would "
            "empty the database; nothing changed",
            hint="pass --force if emptying the database is what you want",
        )


def stopped_error(
    exc: BaseException, *, db: str, backup: str, swap: SwapProgress, removed: bool
) -> AnalytiqError | None:
    """Return the error describing where a stopped restore left things, or None to let ``exc`` through as is.

    ``exc`` is what stopped it: a cancellation (Ctrl-C) or an error; ``removed`` says whether the
    partial load of a restore stopped before its swap was removed.
    """
    cancelled = not isinstance(exc, Exception)  # CancelledError, KeyboardInterrupt
    finish = "run the same restore again: it finishes the swap (the rest of the backup is loaded and checked)"
    if not swap.started:
        left = "the partial load was removed" if removed else "the partial load is still there"
        again = None if removed else "run the same restore again: it removes the partial load first"
        if not cancelled:
            if removed:
                return None  # the error says what failed; the database is as it was
            return RestoreIncomplete(f"{_reason(exc)}; {left} (database {db!r} itself is unchanged)", hint=again)
        return RestoreInterrupted(
            f"restore interrupted before the swap: database {db!r} is unchanged; {left}", hint=again
        )
    if swap.swapped:
        if not cancelled:
            return None  # the check's own error says what differs
        return RestoreInterrupted(
            f"restore interrupted after the swap: database {db!r} now holds {backup} "
            f"({len(swap.moved)} collection(s) swapped in) but the final check did not run",
            hint="run analytiq-db status; run the same restore again to restore it anew",
        )
    moved = set(swap.moved)
    pending = [n for n in swap.planned if n not in moved]
    state = (
        f"{len(swap.moved)} of {len(swap.planned)} collections of {db!r} that it replaces already hold the backup"
        f"{_names(swap.moved)}, {len(pending)} still hold the old data{_names(pending)}; the rest of the backup "
        f"is loaded and checked in {db!r} (staged as __restore.<name>)"
    )
    if cancelled:
        return RestoreInterrupted(f"restore interrupted during the swap: {state}", hint=finish)
    return RestoreIncomplete(f"restore failed during the swap ({_reason(exc)}): {state}", hint=finish)


def _reason(exc: BaseException) -> str:
    return exc.user_line() if isinstance(exc, AnalytiqError) else " ".join(str(exc).split())[:200]


def _names(names: list[str], limit: int = 5) -> str:
    if not names:
        return ""
    return f" ({first_few(names, limit, ', ')})"
