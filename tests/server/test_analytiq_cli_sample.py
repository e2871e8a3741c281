"""``analytiq-db sample``: the verb's handler run through the real entry point (exit codes, one-line errors)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import pytest
from pymongo import MongoClient

from analytiq_data.cli import sample_cmds
from analytiq_data.cli.entry import run_entry
from analytiq_data.cli.options import common_parent


def run_cli(argv: list[str]) -> int:
    """Parse ``argv`` as ``analytiq-db`` would with the sample verb registered, and run it."""
    parser = argparse.ArgumentParser(prog="analytiq-db")
    sub = parser.add_subparsers(dest="command", required=True)
    sample_cmds.register(sub, common_parent())
    args = parser.parse_args(argv)
    return run_entry("analytiq-db", lambda: asyncio.run(args.handler(args)))


def test_sample_writes_and_reports_counts(mongo_uri: str, db_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["sample", "--uri", mongo_uri, "--db", db_name, "--docs", "40", "--seed", "3", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["db"] == db_name and report["seed"] == 3
    assert report["counts"]["documents"] == 40 and report["counts"]["schemas"] == 10
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        assert client[db_name]["llm.runs"].count_documents({}) == report["counts"]["llm.runs"]


def test_sample_table_output(mongo_uri: str, db_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sample", "--uri", mongo_uri, "--db", db_name, "--docs", "12"]) == 0
    out = capsys.readouterr().out
    assert "ocr.files" in out and "llm.runs" in out and "version 0" in out


def test_a_non_empty_database_is_refused_in_one_line(
    mongo_uri: str, db_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["sample", "--uri", mongo_uri, "--db", db_name, "--docs", "10"]) == 0
    capsys.readouterr()
    code = run_cli(["sample", "--uri", mongo_uri, "--db", db_name, "--docs", "10"])
    err = capsys.readouterr().err
    assert code == 3
    header, error = err.splitlines()  # where it connects, then one error line
    assert header.startswith(f"target: database {db_name} (from --db) on ")
    assert f"database '{db_name}' is not empty" in error and "--drop" in error
    assert run_cli(["sample", "--uri", mongo_uri, "--db", db_name, "--docs", "10", "--drop", "--json"]) == 0


def test_bad_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run_cli(["sample", "--docs", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
