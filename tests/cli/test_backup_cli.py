"""``backup_db.py`` and ``analytiq-db backup`` as a person or a script uses them: lines, codes, JSON, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tools.testserver import free_port

ROOT = Path(__file__).resolve().parents[2]
BACKUP_DB = [sys.executable, str(ROOT / "backup_db.py")]
ANALYTIQ_DB = [str(Path(sys.executable).parent / "analytiq-db"), "backup"]


def sync(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri)


def run(cmd: list[str], *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=full_env)


@pytest.fixture
def source(mongo_uri: str, db_name: str) -> Iterator[str]:
    """A small source database: two collections and a view."""
    with sync(mongo_uri) as client:
        db = client[db_name]
        db.users.insert_many([{"_id": i, "name": f"user {i}"} for i in range(300)])
        db.users.create_index("name", unique=True)
        db.documents.insert_many([{"n": i} for i in range(40)])
        db.create_collection("first_users", viewOn="users", pipeline=[{"$limit": 5}])
    yield db_name


def pair(mongo_uri: str, mongo_uri_2: str, src: str, dest: str) -> list[str]:
    return ["--src-uri", mongo_uri, "--dest-uri", mongo_uri_2, "--src", src, "--dest", dest]


def test_the_guides_command_prints_the_guides_lines(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str
) -> None:
    result = run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"Starting backup from '{source}' to '{db_name_2}'",
        f"Source URI: {mongo_uri}",
        f"Destination URI: {mongo_uri_2}",
    ]
    assert "Found 3 collections to backup" in lines
    for name in ("users", "documents"):
        assert f"Backing up collection: {name}" in lines
    assert any(line.startswith("✓ Copied 300 documents (users") for line in lines)
    assert any(line.startswith("✓ Copied 40 documents (documents") for line in lines)
    assert lines.index("Backing up collection: users") < lines.index(next(x for x in lines if "(users" in x))
    summary = next(line for line in lines if line.startswith("Copied 340 documents in "))
    assert summary.endswith(", at most 8)") and "1 write in flight (mean 1.0" in summary  # 2 batches: no trial yet
    assert lines[-1] == "Backup completed successfully!"
    assert result.stderr == ""


def test_analytiq_db_backup_is_the_same_command_with_json(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str
) -> None:
    result = run(ANALYTIQ_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "copy" and report["verified"] is True and report["ok"] is True
    assert {c["name"]: c["documents"] for c in report["collections"]} == {"users": 300, "documents": 40}
    assert [v["name"] for v in report["views"]] == ["first_users"]
    users = next(c for c in report["collections"] if c["name"] == "users")
    assert users["source"] == users["destination"] and users["indexes"] == 1
    assert report["concurrency"]["ceiling"] == 8 and report["concurrency"]["batches"] == 2

    again = run(ANALYTIQ_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), "--verify-only", "--json")
    assert again.returncode == 0, again.stderr
    compared = json.loads(again.stdout)
    assert compared["mode"] == "verify-only"
    # the comparison reports the same collections as the copy, indexes counted the same way
    assert {c["name"]: (c["documents"], c["indexes"]) for c in compared["collections"]} == {
        c["name"]: (c["documents"], c["indexes"]) for c in report["collections"]
    }


def test_dry_run_lists_counts_and_sizes_and_writes_nothing(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str
) -> None:
    result = run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "nothing will be written" in result.stdout
    assert "users" in result.stdout and "300" in result.stdout
    assert "Would copy 3 collections and views, 340 documents" in result.stdout
    as_json = json.loads(run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), "--dry-run", "--json").stdout)
    assert {c["name"]: c["documents"] for c in as_json["collections"]} == {"users": 300, "documents": 40}
    assert all(c["bytes"] > 0 for c in as_json["collections"])
    with sync(mongo_uri_2) as client:
        assert db_name_2 not in client.list_database_names()


def test_uris_from_the_environment_and_files(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str, tmp_path: Path
) -> None:
    uri_file = tmp_path / "dest-uri"
    uri_file.write_text(mongo_uri_2 + "\n")
    result = run(
        BACKUP_DB,
        *["--src", source, "--dest", db_name_2, "--dest-uri", f"file:{uri_file}"],
        env={"BACKUP_SRC_URI": mongo_uri},
    )
    assert result.returncode == 0, result.stderr
    again = run(
        BACKUP_DB,
        *["--src-uri", "env:MY_SRC", "--src", source, "--dest", db_name_2, "--verify-only"],
        env={"MY_SRC": mongo_uri, "BACKUP_DEST_URI": mongo_uri_2},
    )
    assert again.returncode == 0, again.stderr
    assert "Verification passed" in again.stdout


def test_drop_and_its_old_name_force_replace_the_destination(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str
) -> None:
    with sync(mongo_uri_2) as client:
        client[db_name_2].leftover.insert_one({})
    refused = run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2))
    assert refused.returncode == 3
    for flag in ("--drop", "--force"):
        result = run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), flag)
        assert result.returncode == 0, result.stderr
        assert f"Dropped destination database '{db_name_2}'" in result.stdout
    with sync(mongo_uri_2) as client:
        assert sorted(client[db_name_2].list_collection_names()) == [
            "__backup_manifest",
            "documents",
            "first_users",
            "users",
        ]


@pytest.fixture
def user(mongo_uri: str, mongo_uri_2: str) -> Iterator[tuple[str, str]]:
    """A user with a password on both servers (removed afterwards)."""
    name, password = f"bk_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    for uri in (mongo_uri, mongo_uri_2):
        with sync(uri) as client:
            client.admin.command("createUser", name, pwd=password, roles=["root"])
    yield name, password
    for uri in (mongo_uri, mongo_uri_2):
        with sync(uri) as client:
            client.admin.command("dropUser", name)


def with_user(uri: str, name: str, password: str) -> str:
    return uri.replace("mongodb://", f"mongodb://{name}:{password}@", 1)


def test_passwords_never_appear_in_output_or_logs(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str, user: tuple[str, str], tmp_path: Path
) -> None:
    name, password = user
    log = tmp_path / "backup.log"
    src, dst = with_user(mongo_uri, name, password), with_user(mongo_uri_2, name, password)
    result = run(BACKUP_DB, *pair(src, dst, source, db_name_2), "-vv", env={"ANALYTIQ_DB_LOG": str(log)})
    as_json = run(BACKUP_DB, *pair(src, dst, source, db_name_2), "--verify-only", "--json")

    assert result.returncode == 0, result.stderr
    assert f"Source URI: mongodb://{name}:***@" in result.stdout
    for text in (result.stdout, result.stderr, as_json.stdout, as_json.stderr, log.read_text()):
        assert password not in text
    assert json.loads(as_json.stdout)["source"]["uri"].startswith(f"mongodb://{name}:***@")


def errors_cases(mongo_uri: str, mongo_uri_2: str, src: str, dest: str) -> list[tuple[list[str], int, str]]:
    dead = f"mongodb://admin:hunter2@127.0.0.1:{free_port()}/?directConnection=true"
    return [
        (["--src-uri", "mongodb://admin:hunter2@/nohost", "--src", src, "--dest", dest], 3, "invalid MongoDB URI"),
        (["--src-uri", "http://example", "--src", src, "--dest", dest], 3, "must start with mongodb://"),
        (["--src-uri", dead, "--src", src, "--dest", dest, "--timeout", "1"], 4, "cannot reach MongoDB at 127.0.0.1:"),
        (["--src-uri", mongo_uri, "--src", src, "--dest", src], 3, "same database"),
        (pair(mongo_uri, mongo_uri_2, src + "_nothing", dest), 3, "does not exist"),
        ([*pair(mongo_uri, mongo_uri_2, src, dest), "--drop", "--resume"], 3, "--drop and --resume contradict"),
        (["--src", src, "--dest", dest], 3, "no source URI"),
        ([*pair(mongo_uri, mongo_uri_2, src, dest), "--verify-only"], 7, "verification failed"),
    ]


def test_errors_are_one_line_with_their_exit_code(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str
) -> None:
    env = {"BACKUP_SRC_URI": "", "BACKUP_DEST_URI": ""}
    for args, code, text in errors_cases(mongo_uri, mongo_uri_2, source, db_name_2):
        started = time.monotonic()
        result = run(BACKUP_DB, *args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("backup_db.py: error: ") and text in result.stderr, result.stderr
        assert "hunter2" not in result.stdout + result.stderr
        assert time.monotonic() - started < 30


def test_non_empty_destination_names_the_fix(mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str) -> None:
    with sync(mongo_uri_2) as client:
        client[db_name_2].other.insert_one({})
    result = run(ANALYTIQ_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2))
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert "is not empty" in result.stderr and "--drop" in result.stderr and "--resume" in result.stderr


def test_missing_arguments_are_usage_errors() -> None:
    result = run(BACKUP_DB, "--src-uri", "mongodb://localhost")
    assert result.returncode == 2
    assert "--src" in result.stderr and "--dest" in result.stderr


def test_verification_failure_prints_the_summary_then_one_error_line(
    mongo_uri: str, mongo_uri_2: str, source: str, db_name_2: str
) -> None:
    assert run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2)).returncode == 0
    with sync(mongo_uri_2) as client:
        client[db_name_2].users.update_one({"_id": 3}, {"$set": {"name": "someone else"}})
    result = run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), "--verify-only")
    assert result.returncode == 7
    assert "✗ Verified users" in result.stdout
    assert "document contents differ" in result.stderr
    report: dict[str, Any] = json.loads(
        run(BACKUP_DB, *pair(mongo_uri, mongo_uri_2, source, db_name_2), "--verify-only", "--json").stdout
    )
    assert report["ok"] is False and report["differences"][0].startswith("users: document contents differ")


def test_ctrl_c_stops_with_a_resume_hint_and_resume_finishes(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    with sync(mongo_uri) as client:
        client[db_name].big.insert_many([{"i": i, "pad": "x" * 300} for i in range(20_000)])
    args = [*pair(mongo_uri, mongo_uri_2, db_name, db_name_2), "--batch-size", "500"]
    proc = subprocess.Popen([*BACKUP_DB, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        with sync(mongo_uri_2) as dst:
            while dst[db_name_2].big.estimated_document_count() < 2_000:  # wait until the copy is under way
                assert time.monotonic() < deadline and proc.poll() is None, "the copy never got going"
                time.sleep(0.02)  # pacing between polls
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.count("\n") == 1 and "interrupted" in err and "--resume" in err

    resumed = run(BACKUP_DB, *args, "--resume")

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1] == "Backup completed successfully!"
    with sync(mongo_uri_2) as dst:
        assert dst[db_name_2].big.count_documents({}) == 20_000
