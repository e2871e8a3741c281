"""``analytiq-db check`` and ``analytiq-db lock`` end to end: exit codes, the lines CI logs show, JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests.migrations_fixtures.helpers import CLI, ROOT
from tools.testserver import free_port

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
REORDERED = "tests.migrations_fixtures.basic:REORDERED"
CHANGED = "tests.migrations_fixtures.changed:MIGRATIONS"
NOT_IDEMPOTENT = "tests.migrations_fixtures.failing:NOT_IDEMPOTENT"
NOT_APPLIED = "not applied yet — run analytiq-db up (or run_migrations at start-up)"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``analytiq-db ARGS`` in ``cwd`` (the test fixtures importable from anywhere)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANALYTIQ_DB_LOG": os.devnull}
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, "--uri", mongo_uri, "--db", db_name)

    return call


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Return the one error line on stderr (after the ``target:`` header, when the verb got as far as saying it)."""
    lines = result.stderr.splitlines()
    assert len(lines) in (1, 2) and lines[-1].startswith("analytiq-db: error: "), result.stderr
    assert len(lines) == 1 or lines[0].startswith("target: database "), result.stderr
    return lines[-1]


def test_clean_database_passes_and_pending_fails_only_on_request(cli: Any, db_name: str) -> None:
    result = cli("check", "--migrations", BASIC)
    assert result.returncode == 0 and result.stderr.startswith(f"target: database {db_name} (from --db) on ")
    assert result.stderr.count("\n") == 1, result.stderr  # the header alone
    assert result.stdout.splitlines() == [
        f"pending: version 1 (SeedUsersMigration): {NOT_APPLIED}",
        f"pending: version 2 (RenameNameMigration): {NOT_APPLIED}",
        f"pending: version 3 (AddActiveMigration): {NOT_APPLIED}",
        f"ok: database {db_name} is at version 0; the code's newest is 3 (3 pending)",
    ]
    strict = cli("check", "--migrations", BASIC, "--fail-on-pending")
    assert strict.returncode == 1
    assert error_line(strict) == (
        f"analytiq-db: error: check failed for database {db_name}: version 1 (SeedUsersMigration): not applied yet "
        "(and 2 more) — run analytiq-db up (or run_migrations at start-up)"
    )
    assert strict.stdout.splitlines()[-1] == f"3 problems: database {db_name} is at version 0; the code's newest is 3"

    assert cli("up", "--migrations", BASIC).returncode == 0
    result = cli("check", "--migrations", BASIC, "--fail-on-pending")
    assert result.returncode == 0 and result.stderr.count("\n") == 1
    assert result.stdout == f"ok: database {db_name} is at version 3; the code's newest is 3\n"


def test_changed_code_and_reordered_list_fail_with_one_line_each(cli: Any, db_name: str) -> None:
    assert cli("up", "--migrations", BASIC).returncode == 0
    result = cli("check", "--migrations", CHANGED)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "problem: version 2 (RenameNameMigration): code changed since it was applied — revert the edit and put the "
        "change in a new migration; if the data already matches the new code, record that with analytiq-db stamp 3",
        f"1 problem: database {db_name} is at version 3; the code's newest is 3",
    ]
    assert error_line(result).startswith(
        f"analytiq-db: error: check failed for database {db_name}: version 2 (RenameNameMigration): code changed "
        "since it was applied — revert the edit"
    )

    result = cli("check", "--migrations", REORDERED, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["problems"] == 2 and data["source"] == "database"
    assert [(f["kind"], f["version"], f["class"]) for f in data["findings"]] == [
        ("class_mismatch", 2, "AddActiveMigration"),
        ("class_mismatch", 3, "RenameNameMigration"),
    ]
    assert "version 2 (AddActiveMigration): the database applied RenameNameMigration" in error_line(result)


def test_database_newer_than_the_code_and_dirty_database_fail(cli: Any, sdb: Database[Any]) -> None:
    assert cli("up", "--migrations", BASIC).returncode == 0
    sdb.migrations.update_one({"_id": "schema_version"}, {"$set": {"version": 4}})  # as newer code would leave it
    result = cli("check", "--migrations", BASIC)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "problem: version 4: applied to the database (no history record names it) but not in this code — deploy "
        "the code that wrote it; this code will not run or undo migrations it does not have"
    )

    sdb.migrations.delete_many({})
    sdb.migration_history.delete_many({})
    sdb.flags.insert_one({"_id": "fail"})
    assert cli("up", "--migrations", NOT_IDEMPOTENT).returncode == 6
    result = cli("check", "--migrations", NOT_IDEMPOTENT)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith(
        "problem: version 2 (NotIdempotentMigration): the database is dirty: this step (idempotent = False) "
        "failed going up outside a transaction at "
    )
    assert error_line(result).endswith(
        "— check its data, then record what is true with analytiq-db resolve --version 2 --mark applied "
        "(or --mark reverted)"
    )


def test_unreachable_server_is_exit_4_not_a_pass() -> None:
    uri = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    result = run("check", "--migrations", BASIC, "--uri", uri, "--db", "x", "--timeout", "0.5")
    assert result.returncode == 4 and result.stdout == ""
    assert error_line(result).startswith("analytiq-db: error: ")


def test_lock_then_check_the_lockfile_without_a_database(tmp_path: Path) -> None:
    nowhere = ("--uri", f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", "--timeout", "0.5")
    result = run("lock", "--migrations", BASIC, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "wrote migrations.lock.json: 3 versions\n", result.stderr
    lockfile = tmp_path / "migrations.lock.json"
    text = lockfile.read_text()
    assert [e["class"] for e in json.loads(text)["migrations"]] == [
        "SeedUsersMigration",
        "RenameNameMigration",
        "AddActiveMigration",
    ]
    again = run("lock", "--migrations", BASIC, cwd=tmp_path)
    assert again.stdout == "migrations.lock.json is up to date: 3 versions\n" and lockfile.read_text() == text

    clean = run("check", "--lockfile", "migrations.lock.json", "--migrations", BASIC, *nowhere, cwd=tmp_path)
    assert clean.returncode == 0 and clean.stderr == ""  # no server was needed
    assert clean.stdout == "ok: lockfile migrations.lock.json locks versions 1–3; the code's newest is 3\n"

    changed = run("check", "--lockfile", str(lockfile), "--migrations", CHANGED, *nowhere)
    assert changed.returncode == 1
    assert changed.stdout.splitlines()[0].startswith(
        "problem: version 2 (RenameNameMigration): code changed since it was locked (checksum "
    )

    reordered = run("check", "--lockfile", str(lockfile), "--migrations", REORDERED, "--json")
    assert reordered.returncode == 1
    assert [f["kind"] for f in json.loads(reordered.stdout)["findings"]] == ["class_mismatch", "class_mismatch"]

    # A lockfile written by newer code (one more version) checked against this code.
    doc = json.loads(text)
    doc["migrations"].append({"version": 4, "class": "DropLegacyMigration", "description": "", "checksum": None})
    lockfile.write_text(json.dumps(doc))
    newer = run("check", "--lockfile", str(lockfile), "--migrations", BASIC)
    assert newer.returncode == 1
    assert newer.stdout.splitlines()[0].startswith(
        "problem: version 4 (DropLegacyMigration): locked but not in the code (the lockfile is newer than the code: "
        "a migration was removed) — restore it as version 4"
    )


def test_lock_refuses_to_rewrite_a_locked_version_without_force(tmp_path: Path) -> None:
    lockfile = tmp_path / "ci" / "lock.json"
    lockfile.parent.mkdir()
    assert run("lock", "-o", str(lockfile), "--migrations", BASIC).returncode == 0
    text = lockfile.read_text()
    refused = run("lock", "-o", str(lockfile), "--migrations", CHANGED)
    assert refused.returncode == 1 and refused.stdout == ""
    locked = json.loads(text)["migrations"][1]["checksum"][:12]
    line = error_line(refused)
    assert line.startswith(
        f"analytiq-db: error: refusing to rewrite {lockfile}: version 2 (RenameNameMigration): code changed since "
        f"it was locked (checksum {locked} locked, "
    )
    assert line.endswith(
        " now) — put changes in new migrations appended at the end; if the locked versions were never applied "
        f"to any database, rewrite the lockfile with analytiq-db lock --output {lockfile} --force"
    )
    assert lockfile.read_text() == text

    forced = run("lock", "-o", str(lockfile), "--migrations", CHANGED, "--force", "--json")
    assert forced.returncode == 0
    assert forced.stderr.startswith("overridden: version 2 (RenameNameMigration): code changed since it was locked")
    data = json.loads(forced.stdout)
    assert data["changed"] is True and data["versions"] == 3 and data["overridden"][0]["kind"] == "code_changed"
    assert run("check", "--lockfile", str(lockfile), "--migrations", CHANGED).returncode == 0


def test_missing_or_broken_lockfile_is_a_configuration_error(tmp_path: Path) -> None:
    missing = run("check", "--lockfile", str(tmp_path / "none.json"), "--migrations", BASIC)
    assert missing.returncode == 3 and missing.stdout == ""
    assert error_line(missing) == (
        f"analytiq-db: error: no lockfile at {tmp_path / 'none.json'} — create it with analytiq-db lock --output "
        f"{tmp_path / 'none.json'} and commit it"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"format_version": 1, "migrations": [')
    result = run("check", "--lockfile", str(broken), "--migrations", BASIC)
    assert result.returncode == 3
    assert error_line(result).startswith(f"analytiq-db: error: lockfile {broken} is not valid JSON (line 1: ")
