"""Output piped into a reader that stops early (``analytiq-db status --json | head``): one line, exit 74."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [str(Path(sys.executable).parent / "analytiq-db")]


@pytest.mark.parametrize("output", [["--json"], []], ids=["json", "table"])
def test_a_reader_that_closed_the_pipe_is_one_line_not_an_internal_error(
    mongo_uri: str, db_name: str, output: list[str]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write to stdout fails (EPIPE)
    try:
        done = subprocess.run(
            [*CLI, "status", "--uri", mongo_uri, "--db", db_name, *output],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "internal error" not in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.returncode == 74
    lines = [line for line in done.stderr.splitlines() if not line.startswith("target: ")]
    assert lines == [
        "analytiq-db: error: standard output was closed before everything was written (the command reading it "
        "stopped early) — let it read the whole output, or write it to a file"
    ]


def test_a_table_to_a_closed_pipe_raises_broken_pipe_for_the_entry_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich's own handling would exit 1 in silence (status's "needs a person" code), bypassing the entry's line
    from analytiq_data.cli.render import print_table

    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = os.fdopen(write_end, "w")
    try:
        monkeypatch.setattr(sys, "stdout", closed)
        with pytest.raises(BrokenPipeError):
            print_table("t", ["a"], [["x" * 100]] * 1000)
    finally:
        monkeypatch.undo()
        with contextlib.suppress(BrokenPipeError):
            closed.close()
