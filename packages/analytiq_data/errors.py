"""Errors a user can act on, each with an exit code and a one-line message.

Engines raise these (wrapping driver errors with ``raise ... from exc``); the command line turns
them into one line on stderr and the exit code below. Tracebacks go to the log, not the screen.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit statuses of ``analytiq-db`` and ``backup_db.py`` (the one place they are defined)."""

    #: Success. ``up``/``down`` also exit 0 when they warn on stderr (and in ``--json``'s ``warnings``)
    #: that an applied migration's code changed since it ran: they did what was asked; ``status`` and
    #: ``check`` exit 1 for it.
    OK = 0
    #: A check found a problem (the ``check`` gate, ``status`` needing a person, a rehearsal failure).
    FAILURE = 1
    #: Bad command-line arguments (argparse's own code).
    USAGE = 2
    #: Bad input: URI, unknown version, unsafe source/destination, a migration list naming one class
    #: twice, ``stamp`` below the current version without ``--yes``, …
    CONFIGURATION = 3
    #: Server unreachable, authentication failed.
    CONNECTION = 4
    #: Another runner holds the migration or restore lock past ``--lock-wait`` (a holder whose process
    #: is gone from this host is taken over at once instead), or this runner lost its lease; or another
    #: client wrote to a database being restored (the message says whether the restore took effect).
    LOCK = 5
    #: A migration step failed — it raised, returned something other than True, tried to end the
    #: process (``sys.exit(0)`` included), ran past its time limit, or started a migration run of its
    #: own (a nested run) — or the recorded state needs a person. A restore exits 6 too when it failed
    #: during its swap (part of the database holds the backup: run the same restore again to finish it)
    #: or could not remove its partial load; its message says which state the database is in.
    MIGRATION = 6
    #: A copy or a comparison did not verify.
    VERIFICATION = 7
    #: Reading or writing a local file failed in the middle of the work: the disk is full
    #: (ENOSPC), a quota or file-size limit was hit, the device failed (EIO), a pipe closed.
    #: Nothing half-written is left under the file's name; free space (or fix the device) and rerun.
    #: A path that is wrong from the start (missing, not writable) is bad input (3), not this.
    IO = 74
    #: A bug: "internal error … run with --traceback".
    INTERNAL = 70
    #: Ctrl-C / SIGTERM.
    INTERRUPTED = 130


class AnalytiqError(Exception):
    """Base of every error meant for a user: a message saying what failed and what to try."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_line(self) -> str:
        """Return the single line shown to the user (message, then the hint if any), without raw server replies."""
        text = one_line(self.message)
        if self.hint:
            text = f"{text} — {one_line(self.hint)}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Return the error as the JSON object ``--json`` prints on failure: code, name, message, hint."""
        code = ExitCode(self.exit_code)
        return {
            "error": {
                "code": int(code),
                "name": code.name.lower(),
                "message": one_line(self.message),
                "hint": one_line(self.hint) if self.hint else None,
            }
        }


# Where a driver's message turns into a dump of the server's reply or of the topology.
_RAW_TAILS = re.compile(r",? *(full error:|Topology Description:|\(configured timeouts:).*", re.DOTALL)


def one_line(text: str) -> str:
    """Return ``text`` on one line, cut before any raw server reply (``full error: {...$clusterTime...}``),
    topology dump or driver timeout list: those go to the log, never into the user's line."""
    return " ".join(_RAW_TAILS.sub("", text).split())


class ConfigurationError(AnalytiqError):
    """The input is wrong: a bad URI, an unknown version, an unsafe destination."""

    exit_code = ExitCode.CONFIGURATION


class DatabaseConnectionError(AnalytiqError):
    """The server could not be reached or refused the credentials."""

    exit_code = ExitCode.CONNECTION


class LockError(AnalytiqError):
    """Another runner holds the migration lock, or this runner lost it."""

    exit_code = ExitCode.LOCK


class MigrationError(AnalytiqError):
    """A migration step failed, or the recorded state needs a person before anything runs."""

    exit_code = ExitCode.MIGRATION


class VerificationError(AnalytiqError):
    """A copy or a comparison found a difference."""

    exit_code = ExitCode.VERIFICATION


class FileIOError(AnalytiqError):
    """A local file could not be written or read mid-way (disk full, quota, file-size limit, device error)."""

    exit_code = ExitCode.IO


class CheckFailed(AnalytiqError):
    """A gate (``check``, ``rehearse``) found something a person must look at."""

    exit_code = ExitCode.FAILURE


class Interrupted(AnalytiqError):
    """The user or the system asked us to stop; work stopped at a safe point."""

    exit_code = ExitCode.INTERRUPTED
