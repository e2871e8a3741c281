"""What ``restore`` refuses, and what it says when it is stopped part-way.

A restore replaces a database, so it only starts from a source this tool recorded as a complete,
verified backup (``backup/manifest.py``), unless ``force``; it never starts from an interrupted
backup (one still holding ``__backup_state``), whatever ``force`` says; and it never empties a
database holding documents from a source holding none unless ``force``. Each refusal changes
nothing (ConfigurationError, exit code 3).

Stopped part-way (Ctrl-C, a lost server), it says exactly where things are: before the swap the
database is untouched and the rebuild database is removed; during the swap some collections
already hold the backup; after it the database holds the backup but was not verified. The
messages are built here from values (``SwapProgress``), so they are tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analytiq_data.backup.manifest import Manifest
from analytiq_data.errors import AnalytiqError, ConfigurationError, ExitCode, Interrupted


class RestoreInterrupted(Interrupted):
    """Ctrl-C (or a cancellation) stopped the restore; the message says what state the database is in."""


class RestoreIncomplete(AnalytiqError):
    """The restore failed during the swap: part of the database holds the backup (exit code 6)."""

    exit_code = ExitCode.MIGRATION


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
    exc: BaseException, *, db: str, tmp: str, backup: str, swap: SwapProgress, tmp_removed: bool
) -> AnalytiqError | None:
    """Return the error describing where a stopped restore left things, or None to let ``exc`` through as is.

    ``exc`` is what stopped it: a cancellation (Ctrl-C) or an error.
    """
    cancelled = not isinstance(exc, Exception)  # CancelledError, KeyboardInterrupt
    again = f"run the same restore again: it rebuilds {tmp} from backup {backup!r} (untouched) and swaps it all in"
    if not swap.started:
        if not cancelled:
            return None  # the error says what failed; the database was not touched
        left = f"{tmp!r} was removed" if tmp_removed else f"drop {tmp!r} (a partial rebuild) or run the restore again"
        return RestoreInterrupted(
            f"restore interrupted before the swap: database {db!r} is unchanged; {left}",
            hint=None if tmp_removed else again,
        )
    if swap.swapped:
        if not cancelled:
            return None  # the verification's own error says what differs
        return RestoreInterrupted(
            f"restore interrupted after the swap: database {db!r} now holds backup {backup!r} "
            f"({len(swap.moved)} collections swapped in) but the final verification did not run",
            hint=f"check it with analytiq-db backup --verify-only --src {backup} --dest {db} "
            "(with --src-uri/--dest-uri), or run the same restore again",
        )
    moved = set(swap.moved)
    pending = [n for n in swap.planned if n not in moved]
    state = (
        f"{len(swap.moved)} of {len(swap.planned)} collections of {db!r} already hold the backup"
        f"{_names(swap.moved)}, {len(pending)} still hold the old data{_names(pending)}, its views were dropped; "
        f"the rest of the rebuilt backup is in {tmp!r}"
    )
    if cancelled:
        return RestoreInterrupted(f"restore interrupted during the swap: {state}", hint=again)
    reason = exc.user_line() if isinstance(exc, AnalytiqError) else " ".join(str(exc).split())[:200]
    return RestoreIncomplete(f"restore failed during the swap ({reason}): {state}", hint=again)


def _names(names: list[str], limit: int = 5) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return f" ({shown})"
