"""The error wrapper: one line on stderr, the right exit code, tracebacks in the log only."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from analytiq_data.cli.entry import run_entry, setup_logging
from analytiq_data.errors import (
    ConfigurationError,
    DatabaseConnectionError,
    ExitCode,
    LockError,
    MigrationError,
    VerificationError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("bad"), ExitCode.CONFIGURATION),
        (DatabaseConnectionError("down"), ExitCode.CONNECTION),
        (LockError("held"), ExitCode.LOCK),
        (MigrationError("failed"), ExitCode.MIGRATION),
        (VerificationError("differs"), ExitCode.VERIFICATION),
    ],
)
def test_user_errors_become_one_line_and_their_code(
    error: Exception, code: ExitCode, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom() -> int:
        raise error

    assert run_entry("prog", boom) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("prog: error: ")


def test_hint_follows_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise ConfigurationError("unknown version 9", hint="the newest is 4")

    run_entry("prog", boom)
    assert capsys.readouterr().err == "prog: error: unknown version 9 — the newest is 4\n"


def test_keyboard_interrupt_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise KeyboardInterrupt

    assert run_entry("prog", boom) == 130
    assert capsys.readouterr().err == "prog: interrupted\n"


def test_sigterm_is_an_interrupt(capsys: pytest.CaptureFixture[str]) -> None:
    def terminate_self() -> int:
        signal.raise_signal(signal.SIGTERM)
        return 0

    assert run_entry("prog", terminate_self) == 130


def test_unexpected_error_is_internal_with_traceback_in_log_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "x.log"
    monkeypatch.setenv("ANALYTIQ_DB_LOG", str(log))
    import logging

    logger = logging.getLogger("analytiq_data")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_analytiq_configured", False, raising=False)
    setup_logging()

    def boom() -> int:
        raise ZeroDivisionError("mongodb://u:topsecret@h/ broke")

    assert run_entry("prog", boom) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "internal error: ZeroDivisionError" in err and "--traceback" in err
    assert "Traceback" not in err and "topsecret" not in err
    for handler in logger.handlers:
        handler.flush()
    text = log.read_text()
    assert "Traceback" in text and "topsecret" not in text and "u:***@h" in text


def test_traceback_flag_shows_it_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise RuntimeError("mongodb://u:topsecret@h/")

    assert run_entry("prog", boom, show_traceback=True) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and "topsecret" not in err
