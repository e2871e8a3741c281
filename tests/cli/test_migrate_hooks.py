"""``analytiq-db up/down --hooks MODULE:ATTRIBUTE``: the application's run hooks from the command line."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from pymongo.database import Database

from tests.migrations_fixtures.helpers import CLI, ROOT

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
HOOKS = "tests.migrations_fixtures.run_hooks:"


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [CLI, *args, "--migrations", BASIC, "--uri", mongo_uri, "--db", db_name]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)

    return run


def _counts(sdb: Database[Any]) -> dict[str, int]:
    return {d["_id"]: d["n"] for d in sdb.housekeeping.find()}


def test_hooks_run_on_every_cli_run_and_a_failing_one_exits_6_with_one_line(cli: Any, sdb: Database[Any]) -> None:
    assert cli("up", "--hooks", HOOKS + "HOOKS").returncode == 0
    assert cli("up", "--hooks", HOOKS + "HOOKS").returncode == 0  # nothing pending: the hooks still run
    assert cli("down", "--hooks", HOOKS + "HOOKS").returncode == 0
    assert cli("up", "--dry-run", "--hooks", HOOKS + "HOOKS").returncode == 0  # a plan is not a run
    assert _counts(sdb) == {"before": 3, "after": 3}

    failed = cli("up", "--hooks", HOOKS + "FAILING")
    assert failed.returncode == 6
    assert failed.stderr.splitlines()[-1] == (
        "analytiq-db: error: the before hook refuse failed: RuntimeError: the work queue is unreachable; "
        "no step ran, the database is at version 2 — fix the hook's cause, then run again (the hooks run on "
        "every run)"
    )
    assert (sdb.migrations.find_one({"_id": "schema_version"}) or {})["version"] == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (HOOKS + "NOT_HOOKS", "tests.migrations_fixtures.run_hooks:NOT_HOOKS is a list, not a RunHooks object"),
        (HOOKS + "MISSING", "tests.migrations_fixtures.run_hooks:MISSING is nothing, not a RunHooks object"),
        ("tests.migrations_fixtures.run_hooks", "bad hooks name 'tests.migrations_fixtures.run_hooks': no attribute"),
    ],
)
def test_a_bad_hooks_name_exits_3_before_connecting(cli: Any, spec: str, message: str) -> None:
    result = cli("up", "--hooks", spec)
    assert result.returncode == 3
    assert result.stderr.splitlines()[-1].startswith(f"analytiq-db: error: {message} — give --hooks ")
