"""Exit codes and output CI can trust (issue 22 §3): a step that ends the process, a step that runs
migrations itself, changed code under ``up``, ``print()`` under ``--json``, a class listed twice."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from pymongo.database import Database

from tests.migrations_fixtures.helpers import CLI, ROOT

FIXTURES = "tests.migrations_fixtures.misbehaving"


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [CLI, *args, "--uri", mongo_uri, "--db", db_name]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=90)

    return run


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert lines, result
    return lines[-1]


def _effects(sdb: Database[Any]) -> dict[str, int]:
    return {doc["_id"]: doc["n"] for doc in sdb.effects.find()}


def _outcomes(sdb: Database[Any]) -> list[tuple[int, str]]:
    return [(d["version"], d["outcome"]) for d in sdb.migration_history.find().sort("_id", 1)]


@pytest.mark.parametrize(("spec", "call"), [("EXITS_0", "sys.exit(0)"), ("EXITS_1", "sys.exit(1)")])
def test_a_step_that_calls_sys_exit_is_a_failed_step(cli: Any, sdb: Database[Any], spec: str, call: str) -> None:
    result = cli("up", "--migrations", f"{FIXTURES}:{spec}")
    assert result.returncode == 6, result.stderr
    code = call[len("sys.exit(") : -1]
    assert last_line(result) == (
        f"analytiq-db: error: version 2 (Exits{'Zero' if code == '0' else 'One'}Migration) failed (up): the step "
        f"tried to end the process (SystemExit: {code}) — the database is at version 1; its writes were rolled "
        "back; a step must return True or raise an exception; the traceback is in analytiq-db history"
    )
    assert (sdb.migrations.find_one({"_id": "schema_version"}) or {})["version"] == 1
    assert _effects(sdb) == {"1:up": 1}  # its write rolled back with its transaction
    assert _outcomes(sdb) == [(1, "applied"), (2, "failed")]
    assert sdb.migration_lock.count_documents({}) == 0


def test_keyboard_interrupt_raised_by_a_step_is_a_failed_step_not_an_interrupt(cli: Any, sdb: Database[Any]) -> None:
    # In the command line Ctrl-C and SIGTERM arrive as stop requests, never as KeyboardInterrupt inside a
    # step: a KeyboardInterrupt there was raised by the step's own code.
    result = cli("up", "--migrations", f"{FIXTURES}:KEYBOARD")
    assert result.returncode == 6, result.stderr
    assert last_line(result).startswith(
        "analytiq-db: error: version 2 (RaisesKeyboardInterruptMigration) failed (up): the step tried to end the "
        "process (KeyboardInterrupt) — the database is at version 1; its writes were rolled back"
    )
    assert _outcomes(sdb) == [(1, "applied"), (2, "failed")]


APP = """
import asyncio, sys
from pymongo import AsyncMongoClient
import analytiq_data as ad
from analytiq_data.migrations.engine.target import Target
from tests.migrations_fixtures import misbehaving

async def main(uri, name):
    client = AsyncMongoClient(uri)
    try:
        await ad.migrations.run_migrations(Target(client, name, uri), migrations=misbehaving.KEYBOARD)
    finally:
        await client.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_from_python_a_keyboard_interrupt_in_a_step_ends_the_app_as_ctrl_c_does(
    mongo_uri: str, db_name: str, sdb: Database[Any]
) -> None:
    # An application's own process: the engine cannot tell the step's KeyboardInterrupt from a person's.
    result = subprocess.run(
        [sys.executable, "-c", APP, mongo_uri, db_name], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert result.returncode != 0 and result.stderr.rstrip().endswith("KeyboardInterrupt"), result.stderr
    assert _outcomes(sdb) == [(1, "applied"), (2, "interrupted")]
    assert _effects(sdb) == {"1:up": 1}  # rolled back
    assert sdb.migration_lock.count_documents({}) == 0


def test_a_step_that_runs_migrations_itself_fails_at_once_with_exit_6(cli: Any, sdb: Database[Any]) -> None:
    result = cli("up", "--migrations", f"{FIXTURES}:NESTED", "--lock-wait", "60")
    assert result.returncode == 6, result.stderr
    assert last_line(result).startswith(
        "analytiq-db: error: version 2 (RunsMigrationsMigration) failed (up): the step started a migration run "
        f"of its own on database {sdb.name}, whose migration lock this run holds (it would wait for itself) — "
        "the database is at version 1; its writes were rolled back; a step must not run migrations"
    )
    assert "waiting up to 60s" not in result.stderr
    assert _outcomes(sdb) == [(1, "applied"), (2, "failed")]
    assert _effects(sdb) == {"1:up": 1}  # tried once, in its transaction, rolled back
    assert sdb.migration_lock.count_documents({}) == 0


def test_up_says_when_applied_code_changed_and_still_exits_0(cli: Any, sdb: Database[Any]) -> None:
    assert cli("up", "--migrations", "tests.migrations_fixtures.basic:MIGRATIONS").returncode == 0
    warning = (
        "warning: version 2 (RenameNameMigration) changed since it was applied (its code's checksum differs); "
        "status and check exit 1 for it"
    )
    result = cli("up", "--migrations", "tests.migrations_fixtures.changed:MIGRATIONS")
    assert result.returncode == 0, result.stderr
    assert "is at version 3: nothing to do" in result.stdout
    assert warning in result.stderr

    result = cli("up", "--migrations", "tests.migrations_fixtures.changed:MIGRATIONS", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["nothing_to_do"] is True and data["changed"] == [2] and data["warnings"] == [warning]
    assert cli("status", "--migrations", "tests.migrations_fixtures.changed:MIGRATIONS").returncode == 1


def test_print_in_a_step_goes_to_stderr_under_json(cli: Any, sdb: Database[Any]) -> None:
    sdb.users.insert_many([{"_id": 8, "name": "Ed"}, {"_id": 9, "name": "Flo"}])
    result = cli("rehearse", "--migrations", f"{FIXTURES}:PRINTS_ONLY", "--json")  # steps run on a scratch copy
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passed"] is True
    assert "hello from a step: 2 users seen" in result.stderr
    sdb.users.delete_many({})

    result = cli("up", "--migrations", f"{FIXTURES}:PRINTS", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # the whole of stdout is the one JSON document
    assert data["to_version"] == 2
    assert "hello from a step: 2 users seen" in result.stderr

    result = cli("down", "--to", "0", "--migrations", f"{FIXTURES}:PRINTS")
    assert result.returncode == 0
    result = cli("up", "--migrations", f"{FIXTURES}:PRINTS")  # without --json a print stays on stdout
    assert "hello from a step: 2 users seen" in result.stdout


def test_the_same_class_listed_twice_is_refused(cli: Any, sdb: Database[Any]) -> None:
    result = cli("up", "--migrations", "tests.migrations_fixtures.misbehaving:TWICE")
    assert result.returncode == 3
    assert last_line(result) == (
        "analytiq-db: error: SeedUsersMigration is listed twice in the migration list (positions 1 and 3) — "
        "each version needs its own class (the history records versions by class name); to repeat a change, "
        "subclass it: class SeedUsersMigrationAgain(SeedUsersMigration): pass"
    )
    assert sdb.migrations.find_one({}) is None
