"""Backups as files on a real server: dump (archive or directory, gzip or not), read back, restore safely.

The interop with the real mongodump/mongorestore is in ``tests/interop``; here this tool talks to itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files import DumpFileError, DumpOptions, dump
from analytiq_data.backup.files.dump import _read_back
from analytiq_data.backup.files.load import Loaded, check_counts
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.source import open_source
from analytiq_data.backup.identity import ServerIdentity
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import NAMES, build_dump_fixture, state
from tests.server.test_rehearse_support import databases

KINDS = [("archive", False), ("archive", True), ("out", False), ("out", True)]


class Recorder:
    """Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.documents = 0
        self.notes: list[str] = []

    def start(self, task: str, total: int | None = None, unit: str = "docs", **event: Any) -> None:
        self.started.append(task)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        self.documents += amount

    def finish(self, task: str, message: str | None = None, **event: Any) -> None:
        return None

    def note(self, message: str) -> None:
        self.notes.append(message)


def partial_files(path: Path) -> list[Path]:
    return [*path.glob("*.partial"), *path.glob("dump/.*")]


def files_in(path: Path) -> list[Path]:
    return list(path.iterdir())


def dump_options(mongo_uri: str, db_name: str, tmp_path: Path, kind: str, gz: bool, **kw: Any) -> DumpOptions:
    if kind == "archive":
        return DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(tmp_path / "a.archive"), gzip=gz, **kw)
    return DumpOptions(src_uri=mongo_uri, src_db=db_name, out=str(tmp_path / "dump"), gzip=gz, **kw)


def restore_options(mongo_uri: str, target: str, tmp_path: Path, kind: str) -> FileRestoreOptions:
    if kind == "archive":
        return FileRestoreOptions(uri=mongo_uri, db=target, archive=str(tmp_path / "a.archive"))
    return FileRestoreOptions(uri=mongo_uri, db=target, directory=str(tmp_path / "dump"))


@pytest.mark.parametrize(("kind", "gz"), KINDS)
async def test_dump_then_restore_gives_back_the_same_database(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, kind: str, gz: bool
) -> None:
    await build_dump_fixture(db, users=1500)
    progress = Recorder()
    result = await dump(dump_options(mongo_uri, db_name, tmp_path, kind, gz, parallel=3, batch_size=200), progress)
    assert result.verified is True
    assert {r.name for r in result.reports} == NAMES
    assert result.documents == progress.documents == 1500 + 500 + 300 + 200 + 4 + 1 + 1 + 2  # a file in 2 GridFS chunks
    assert set(progress.started) == NAMES
    assert not partial_files(tmp_path)

    target = f"{db_name}_restored"
    restored = await restore_files(restore_options(mongo_uri, target, tmp_path, kind))
    assert restored.verified and restored.documents == result.documents
    assert set(restored.views) == {"adults"}
    assert await state(db.client[target]) == await state(db)
    assert f"{target}__restore" not in await db.client.list_database_names()  # the lock's database is gone


async def test_restore_replaces_a_database_and_drops_what_the_dump_lacks(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    await build_dump_fixture(db, users=100)
    await dump(dump_options(mongo_uri, db_name, tmp_path, "archive", True))
    target = db.client[f"{db_name}_live"]
    await target.extra.insert_one({"_id": 1})
    await target.users.insert_one({"_id": "not in the dump"})
    options = restore_options(mongo_uri, target.name, tmp_path, "archive")
    result = await restore_files(replace(options, batch_size=7))  # many batches, two writers
    assert result.dropped == ("extra",)
    assert await state(target) == await state(db)
    natural = [doc["line"] async for doc in target.log.find().hint([("$natural", 1)])]
    assert natural == list(range(200))  # the capped collection keeps its insertion order


@pytest.mark.parametrize("damage", ["flip", "truncate"])
async def test_a_damaged_archive_is_refused_and_the_target_is_untouched(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, damage: str
) -> None:
    await build_dump_fixture(db, users=300)
    await dump(dump_options(mongo_uri, db_name, tmp_path, "archive", False))
    path = tmp_path / "a.archive"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[data.index(b"u150@example.com")] ^= 0x20
    else:
        del data[len(data) * 3 // 4 :]
    path.write_bytes(bytes(data))
    target = db.client[f"{db_name}_live"]
    await target.keep.insert_many([{"_id": i} for i in range(10)])
    before = await state(target)
    with pytest.raises(DumpFileError, match="fails its CRC-64 check" if damage == "flip" else "truncated"):
        await restore_files(restore_options(mongo_uri, target.name, tmp_path, "archive"))
    assert await state(target) == before
    assert f"{target.name}__restore" not in await db.client.list_database_names()  # nor the lock's database
    assert [n for n in await target.list_collection_names() if n.startswith("__restore")] == []


async def test_the_read_back_catches_a_file_changed_after_writing(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    await build_dump_fixture(db, users=50)
    options = dump_options(mongo_uri, db_name, tmp_path, "out", False)
    result = await dump(options)
    bson_file = tmp_path / "dump" / db_name / "users.bson"
    data = bytearray(bson_file.read_bytes())
    data[data.index(b"u7@example.com")] ^= 0x01
    bson_file.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match=r"users\.bson fails its SHA-256 check"):
        _read_back(options, tmp_path / "dump" / db_name, {}, result.reports)
    (tmp_path / "dump" / db_name / "SHA256SUMS").unlink()  # without it, the content hashes still catch it
    source = open_source(directory=str(tmp_path / "dump"), db=db_name)
    metas = {m.collection: m for m in source.namespaces}
    checked = _read_back(options, tmp_path / "dump" / db_name, metas, result.reports)
    bad = {r.name: r.differences for r in checked if not r.verified}
    assert list(bad) == ["users"] and "document contents differ" in bad["users"][0]


async def test_a_dump_never_overwrites_without_drop(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    await build_dump_fixture(db, users=10)
    (tmp_path / "a.archive").write_bytes(b"precious")
    with pytest.raises(ConfigurationError, match="already exists"):
        await dump(dump_options(mongo_uri, db_name, tmp_path, "archive", False))
    assert (tmp_path / "a.archive").read_bytes() == b"precious"
    result = await dump(dump_options(mongo_uri, db_name, tmp_path, "archive", False, drop=True))
    assert result.verified and (tmp_path / "a.archive").read_bytes()[:4] == bytes.fromhex("6de29981")


@pytest.mark.parametrize("kind", ["archive", "dir"])
async def test_a_missing_source_database_is_refused(mongo_uri: str, db_name: str, tmp_path: Path, kind: str) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        await dump(dump_options(mongo_uri, db_name, tmp_path, kind, False))
    assert not files_in(tmp_path)  # not even the empty --out directory


async def test_a_refused_dump_leaves_what_existed_before(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    (tmp_path / "dump").mkdir()
    with pytest.raises(ConfigurationError, match="does not exist"):
        await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, out=str(tmp_path / "dump" / "deeper" / "still")))
    assert files_in(tmp_path) == [tmp_path / "dump"]  # it existed: kept; what the run created: removed
    assert not files_in(tmp_path / "dump")


def run_python(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, timeout=120)


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, input=stdin, timeout=120)


async def test_cli_archive_to_stdout_and_back_from_stdin(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    await build_dump_fixture(db, users=200)
    dumped = run("backup", "--src-uri", mongo_uri, "--src", db_name, "--archive", "-", "--gzip")
    assert dumped.returncode == 0, dumped.stderr
    assert dumped.stdout[:2] == b"\x1f\x8b"  # only the archive on stdout
    assert b"Dump completed successfully!" in dumped.stderr
    target = f"{db_name}_copy"
    restored = run("restore", "--uri", mongo_uri, "--db", target, "--archive", "-", stdin=dumped.stdout)
    assert restored.returncode == 0, restored.stderr
    assert await state(db.client[target]) == await state(db)
    again = run("restore", "--uri", mongo_uri, "--db", target, "--archive", "-", stdin=dumped.stdout)
    assert again.returncode == 3
    assert again.stderr.decode().strip().splitlines()[-1] == (
        f"analytiq-db: error: restore replaces database {target!r}, which holds data, with standard input: "
        "nothing changed — pass --yes to confirm (there is no terminal to ask on)"
    )
    assert await databases(db) == [target]


async def test_cli_refuses_a_file_that_is_not_a_dump(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not an archive")
    result = run("restore", "--uri", mongo_uri, "--db", db_name, "--archive", str(bogus), "--yes")
    assert result.returncode == 3
    assert result.stderr.decode().strip().splitlines()[1:] == [  # after the target: header, one error line
        f"analytiq-db: error: {bogus} is not a mongodump archive (it does not start with the archive magic number)"
        " — give a file written by mongodump --archive or analytiq-db backup --archive (or use --dir)"
    ]
    both = run("backup", "--src-uri", mongo_uri, "--src", db_name, "--archive", "x", "--dest", "y")
    assert both.returncode == 3 and b"--dest cannot be used with --archive/--out" in both.stderr


async def test_backup_db_py_writes_a_gzipped_directory_with_a_json_report(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    await build_dump_fixture(db, users=20)
    out = str(tmp_path / "dump")
    result = run_python("backup_db.py", "--src-uri", mongo_uri, "--src", db_name, "--out", out, "--gzip", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "directory" and report["verified"] is True
    assert {c["name"] for c in report["collections"] + report["views"]} == NAMES
    assert gz_names(tmp_path / "dump" / db_name) >= {"users.bson.gz", "adults.metadata.json.gz", "prelude.json.gz"}


def gz_names(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()}


async def test_a_restore_checks_counts_against_the_files_without_reading_the_data_back(
    db: AsyncDatabase[Any], db_name: str
) -> None:
    await db.c.insert_many([{"_id": i} for i in range(3)])
    side = Side("destination", "here", db, ServerIdentity("standalone"))
    metas = [Metadata(db_name, "c"), Metadata(db_name, "v", "view", {"viewOn": "c", "pipeline": []})]
    assert await check_counts(side, metas, {"c": Loaded(3, 30, 3)}) == {}
    assert await check_counts(side, metas, {"c": Loaded(4, 40, 3)}) == {
        "c": ["4 documents in the files, 3 acknowledged by the server", "4 documents in the files, 3 in the database"]
    }
    assert await check_counts(side, metas, {"c": Loaded(4, 40, 3)}, skip=frozenset({"c"})) == {}
