"""``analytiq-db`` migrate verbs end to end: exit codes, the exact one-line errors, JSON output."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from tests.migrations_fixtures.helpers import CLI, ROOT

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
REORDERED = "tests.migrations_fixtures.basic:REORDERED"
RAISES = "tests.migrations_fixtures.failing:RAISES"


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [CLI, *args, "--uri", mongo_uri, "--db", db_name]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)

    return run


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("analytiq-db: error: "), result.stderr
    return lines[-1]


def test_up_status_down_history_in_text_and_json(cli: Any, sdb: Database[Any]) -> None:
    result = cli("status", "--migrations", BASIC)
    assert result.returncode == 0 and "version 0 of 3" in result.stdout and result.stdout.count("pending") == 3

    result = cli("up", "--migrations", BASIC)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("version 0 → 3 (3 steps applied)")
    assert "version 1 (SeedUsersMigration) up: started" in result.stderr
    assert "version 3 (AddActiveMigration) up: applied in a transaction" in result.stderr

    result = cli("down", "--migrations", BASIC)  # one step by default
    assert result.returncode == 0 and "version 3 → 2 (1 step reverted)" in result.stdout

    status = json.loads(cli("status", "--migrations", BASIC, "--json").stdout)
    assert status["current"] == 2 and status["pending"] == [3] and status["problems"] == []

    result = cli("down", "--steps", "2", "--migrations", BASIC, "--json")
    data = json.loads(result.stdout)
    assert (data["from_version"], data["to_version"], [s["version"] for s in data["steps"]]) == (2, 0, [2, 1])

    history = json.loads(cli("history", "--json", "--limit", "0").stdout)
    assert [(r["version"], r["direction"]) for r in history["records"]] == [
        (1, "down"),
        (2, "down"),
        (3, "down"),
        (3, "up"),
        (2, "up"),
        (1, "up"),
    ]
    assert cli("history", "--limit", "2").stdout.count("applied") == 2
    assert (sdb.migrations.find_one({"_id": "schema_version"}) or {}).get("version") == 0


def test_dry_run_shows_the_plan_and_changes_nothing(cli: Any, sdb: Database[Any]) -> None:
    result = cli("up", "--dry-run", "--migrations", BASIC)
    assert result.returncode == 0
    assert "plan for database" in result.stdout and "up from version 0 to 3 (transactions available)" in result.stdout
    assert "RenameNameMigration" in result.stdout
    data = json.loads(cli("up", "--dry-run", "--to", "2", "--migrations", BASIC, "--json").stdout)
    assert data["dry_run"] and [(s["version"], s["transactional"]) for s in data["steps"]] == [(1, True), (2, True)]
    assert sdb.migrations.count_documents({}) == 0 and sdb.migration_history.count_documents({}) == 0


def test_unknown_version_exits_3_with_one_line(cli: Any) -> None:
    result = cli("up", "--to", "9", "--migrations", BASIC)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.splitlines()[1:] == [
        "analytiq-db: error: unknown target version 9: valid versions are 0–3 — 0 means no migration applied"
    ]
    result = cli("stamp", "4", "--migrations", BASIC)
    assert result.returncode == 3 and "unknown target version 4: valid versions are 0–3" in result.stderr


def test_reordered_list_exits_6_naming_versions_and_classes(cli: Any) -> None:
    assert cli("up", "--migrations", BASIC).returncode == 0
    result = cli("up", "--migrations", REORDERED)
    assert result.returncode == 6
    assert result.stderr.splitlines()[1:] == [
        "analytiq-db: error: the migration list does not match the database: version 2 was applied as "
        "RenameNameMigration but the list has AddActiveMigration there (and 1 more) — restore the list's order "
        "(append new migrations at the end, never insert or reorder)"
    ]
    status = cli("status", "--migrations", REORDERED)
    assert status.returncode == 1 and "applied as" in status.stdout  # status exits 1 when it flags a problem
    assert "! the migration list does not match the database" in status.stdout


def test_lock_held_exits_5_naming_the_holder(cli: Any, sdb: Database[Any]) -> None:
    locked_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    expires = datetime.now(UTC) + timedelta(seconds=300)
    sdb.migration_lock.insert_one(
        {"_id": "migration_lock", "holder": "pod-a", "pid": 7, "locked_at": locked_at, "expires_at": expires}
    )
    result = cli("up", "--lock-wait", "0", "--migrations", BASIC)
    assert result.returncode == 5
    line = one_error_line(result)
    assert line.startswith(
        "analytiq-db: error: migration lock held by pod-a (pid 7) since 2030-01-02 03:04:05 UTC (waited 0s); "
        "its lease ends at "
    )
    assert line.endswith(
        "wait for it to finish or raise --lock-wait; if that runner is dead on another host, analytiq-db unlock "
        "clears the lock once its lease has expired"
    )
    result = cli("unlock")
    assert result.returncode == 5
    assert one_error_line(result).startswith(
        "analytiq-db: error: the migration lock is live: held by pod-a (pid 7) since 2030-01-02 03:04:05 UTC"
    )
    result = cli("unlock", "--force")
    assert result.returncode == 0
    assert "cleared the migration lock (live) held by pod-a (pid 7) since 2030-01-02 03:04:05 UTC" in result.stdout
    assert cli("unlock").stdout.strip().endswith("no migration lock")


def test_failed_step_exits_6_with_one_line(cli: Any, sdb: Database[Any]) -> None:
    sdb.flags.insert_one({"_id": "fail"})
    result = cli("up", "--migrations", RAISES)
    assert result.returncode == 6
    assert one_error_line(result) == (
        "analytiq-db: error: version 2 (RaisesMigration) failed (up): ValueError: boom: the data is not what this "
        "step expects — the database is at version 1; its writes were rolled back; the traceback is in "
        "analytiq-db history"
    )
    assert "Traceback" not in result.stderr
    history = json.loads(cli("history", "--json", "--version", "2").stdout)
    assert "ValueError: boom" in history["records"][0]["traceback"]


def test_stamp_and_bad_migrations_names(cli: Any, sdb: Database[Any]) -> None:
    result = cli("stamp", "2", "--migrations", BASIC)
    assert result.returncode == 0 and "recorded version 2 (was 0); no step ran" in result.stdout
    assert (sdb.migrations.find_one({"_id": "schema_version"}) or {}).get("version") == 2

    result = cli("status", "--migrations", "tests.migrations_fixtures.nope:MIGRATIONS")
    assert result.returncode == 3
    assert "cannot import migrations module 'tests.migrations_fixtures.nope'" in one_error_line(result)
    result = cli("status", "--migrations", "tests.migrations_fixtures.basic:NOPE")
    assert result.returncode == 3
    assert one_error_line(result).startswith(
        "analytiq-db: error: module 'tests.migrations_fixtures.basic' has no attribute 'NOPE'"
    )


def test_resolve_without_a_dirty_step_is_refused(cli: Any) -> None:
    result = cli("resolve", "--mark", "applied", "--migrations", BASIC)
    assert result.returncode == 3
    assert one_error_line(result) == (
        "analytiq-db: error: nothing to resolve: the database is not dirty — see analytiq-db status"
    )


def test_down_help_says_one_step_by_default() -> None:
    result = subprocess.run([CLI, "down", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "goes down ONE step" in result.stdout
