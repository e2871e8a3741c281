"""``analytiq-db rehearse``, ``restore`` and ``up --backup`` end to end: exit codes, one-line errors, tables, JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.migrations.sample import generate_sample
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.test_rehearse_support import databases, raw_state

BROKEN = "tests.migrations_fixtures.broken_migrations"
BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    def run(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
        cmd = [CLI, *args, "--uri", mongo_uri, "--db", db_name]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=stdin)

    return run


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert lines, result
    return lines[-1]


async def test_rehearse_prints_a_row_per_migration_and_keeps_the_scratch_when_asked(
    cli: Any, db: AsyncDatabase[Any]
) -> None:
    await generate_sample(db, docs=40, seed=5)
    result = cli("rehearse", "--sample", "10", "--keep")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"rehearsal of {db.name}: version 0 → 4 on a scratch copy (")
    for name in ("OcrKeyMigration", "LlmResultFieldsMigration", "SchemaJsonSchemaMigration"):
        row = next(line for line in lines if name in line)
        assert row.count("passed") == 4, row
    kept = next(line for line in lines if line.startswith("scratch database kept: "))
    assert await databases(db) == [kept.removeprefix("scratch database kept: ")]
    assert lines[-1].startswith("all 4 migrations passed")
    assert "rehearsing version 4 (RenameJsonSchemaToResponseFormat)" in result.stderr


async def test_a_failed_rehearsal_shows_the_difference_and_exits_1(cli: Any, db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=20, seed=5)
    before = await raw_state(db)
    result = cli("rehearse", "--migrations", f"{BROKEN}:DOWN_LOSES_FIELD")
    assert result.returncode == 1, result.stderr
    assert last_line(result) == (
        "analytiq-db: error: rehearsal failed: version 1 (DownLosesField): down restores failed — "
        "see the difference shown above; fix the migration and rehearse again"
    )
    assert "version 1 (DownLosesField): down restores failed: the data after down differs" in result.stdout
    assert "documents: document changed, _id ObjectId(" in result.stdout
    assert "    state: '" in result.stdout and "(string) → (absent)" in result.stdout

    result = cli("rehearse", "--json", "--migrations", f"{BROKEN}:NOT_IDEMPOTENT")
    assert result.returncode == 1
    assert last_line(result) == (  # the difference is in the JSON, not shown above
        "analytiq-db: error: rehearsal failed: version 1 (IncrementsEachUp): idempotent failed — "
        "see migrations[0].diff in the JSON output; fix the migration and rehearse again"
    )
    data = json.loads(result.stdout)
    (row,) = data["migrations"]
    assert data["passed"] is False and row["checks"]["idempotent"]["status"] == "failed"
    assert row["checks"]["down restores"]["status"] == "not run"
    assert {"path": "review_count", "before": "1 (int)", "after": "2 (int)"} in row["diff"]["fields"]
    assert await raw_state(db) == before and await databases(db) == []


def test_rehearse_refuses_bad_input_in_one_line(cli: Any) -> None:
    result = cli("rehearse", "--sample", "0")  # a bad number on the command line is a usage error (exit 2)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "analytiq-db rehearse: error: argument --sample: must be more than 0: '0'"


async def test_up_backup_names_its_copy_and_records_it(cli: Any, db: AsyncDatabase[Any], db_name: str) -> None:
    await db.users.insert_one({"_id": 0, "name": "Ada"})
    result = cli("up", "--backup-db", f"{db_name}_bk", "--migrations", BASIC)
    assert result.returncode == 3
    assert last_line(result) == "analytiq-db: error: --backup-uri and --backup-db need --backup — add --backup"
    assert await db.migrations.count_documents({}) == 0

    result = cli("up", "--backup", "--backup-db", f"{db_name}_bk", "--migrations", BASIC)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        f"database {db_name}: version 0 → 3 (3 steps applied)",
        f"backup: {db_name}_bk (verified)",
    ]
    assert f"backing up {db_name} (version 0) to {db_name}_bk on 127.0.0.1:" in result.stderr
    assert await db.client[f"{db_name}_bk"].users.count_documents({}) == 1
    history = cli("history", "--json")
    (record,) = [r for r in json.loads(history.stdout)["records"] if r["direction"] == "backup"]
    assert (record["name"], record["outcome"]) == (f"{db_name}_bk", "verified")


async def test_restore_asks_on_a_terminal_and_needs_yes_elsewhere(
    cli: Any, mongo_uri: str, db: AsyncDatabase[Any], db_name: str
) -> None:
    await db.users.insert_many([{"_id": 1, "name": "Ada"}, {"_id": 2, "name": "Grace"}])
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=f"{db_name}_bk"))
    await db.users.update_one({"_id": 1}, {"$set": {"name": "changed"}})
    changed = await raw_state(db)

    result = cli("restore", "--from", f"{db_name}_bk")
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"target: database {db_name} (from --db) on {mongo_uri} (from --uri)",
        f"analytiq-db: error: restore replaces database {db_name!r}, which holds data, with '{db_name}_bk': "
        "nothing changed — pass --yes to confirm (there is no terminal to ask on)",
    ]
    result = cli("restore", "--from", f"{db_name}_missing", "--yes")
    assert result.returncode == 3 and "does not exist" in last_line(result)
    assert await raw_state(db) == changed
    # A new database replaces nothing: no confirmation, as restoring files into one needs none.
    fresh = f"{db_name}_new"
    command = [CLI, "restore", "--from", f"{db_name}_bk", "--uri", mongo_uri, "--db", fresh]
    result = await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    assert await db.client[fresh].users.count_documents({}) == 2

    typed = _on_terminal(cli, "not the name\n", "restore", "--from", f"{db_name}_bk")
    assert typed.returncode == 3 and "is not the database name" in last_line(typed)
    assert await raw_state(db) == changed
    typed = _on_terminal(cli, f"{db_name}\n", "restore", "--from", f"{db_name}_bk")
    assert typed.returncode == 0, typed.stderr
    assert f"Type the database name ({db_name}) to confirm:" in typed.stderr
    assert typed.stdout.startswith(
        f"restored database {db_name} from backup {db_name}_bk at version 0: 1 collection, 2 documents; verified"
    )
    assert await db.users.find_one({"_id": 1}) == {"_id": 1, "name": "Ada"}

    result = cli("restore", "--from", f"{db_name}_bk", "--yes", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["verified"] is True
    assert json.loads(result.stdout)["connection"]["database_from"] == "--db"


def _on_terminal(cli: Any, answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a terminal as its stdin, the answer already typed."""
    primary, secondary = os.openpty()
    try:
        os.write(primary, answer.encode())
        result: subprocess.CompletedProcess[str] = cli(*args, stdin=secondary)
        return result
    finally:
        os.close(primary)
        os.close(secondary)
