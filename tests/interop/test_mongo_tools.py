"""Interop with the real mongo-tools: our files restore with mongorestore, mongodump's restore with us.

Each direction is checked for the archive and the directory layout, gzip and not, on a database
with unique/compound/partial/TTL indexes, a validator, a capped collection, a collation, a view and
a GridFS bucket; "equal" means the same documents byte for byte, indexes and collection options.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files
from tests.interop.conftest import Tool
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import NAMES, build_dump_fixture, state

KINDS = [("archive", False), ("archive", True), ("dir", False), ("dir", True)]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    """Run a command that may fail (the test looks at its exit code and stderr)."""
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)


def tool_args(kind: str, gz: bool, tmp_path: Path) -> list[str]:
    where = [f"--archive={tmp_path / 'a.archive'}"] if kind == "archive" else ["--dir", str(tmp_path / "dump")]
    return [*where, *(["--gzip"] if gz else [])]


@pytest.mark.parametrize(("kind", "gz"), KINDS)
async def test_our_dump_restores_with_mongorestore(
    tool: Tool, mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, kind: str, gz: bool
) -> None:
    await build_dump_fixture(db)
    archive = str(tmp_path / "a.archive") if kind == "archive" else None
    out = str(tmp_path / "dump") if kind == "dir" else None
    result = await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=archive, out=out, gzip=gz))
    assert result.verified is True
    target = f"{db_name}_mr"
    args = tool_args(kind, gz, tmp_path)
    done = tool("mongorestore", "--uri", mongo_uri, *args, "--nsFrom", f"{db_name}.*", "--nsTo", f"{target}.*")
    if kind == "dir":  # our checksum file: mongorestore skips it (one log line) and restores the rest
        sums = tmp_path / "dump" / db_name / "SHA256SUMS"
        assert sums.is_file()
        assert f"don't know what to do with file `{sums}`, skipping..." in done.stderr
        assert "error" not in done.stderr.lower() and "0 document(s) failed to restore" in done.stderr
    restored = await state(db.client[target])
    assert set(restored) == NAMES
    assert restored == await state(db)


@pytest.mark.parametrize(("kind", "gz"), KINDS)
async def test_mongodumps_files_restore_with_us(
    tool: Tool, mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, kind: str, gz: bool
) -> None:
    await build_dump_fixture(db)
    out = [f"--archive={tmp_path / 'a.archive'}"] if kind == "archive" else ["--out", str(tmp_path / "dump")]
    tool("mongodump", "--uri", mongo_uri, "--db", db_name, *out, *(["--gzip"] if gz else []))
    target = f"{db_name}_ours"
    options = (
        FileRestoreOptions(uri=mongo_uri, db=target, archive=str(tmp_path / "a.archive"))
        if kind == "archive"
        else FileRestoreOptions(uri=mongo_uri, db=target, directory=str(tmp_path / "dump"))
    )
    result = await restore_files(options)  # each collection's CRC checked at its EOF header
    assert result.verified and set(result.collections) | set(result.views) == NAMES
    assert await state(db.client[target]) == await state(db)


async def test_mongorestore_checks_the_crc_we_write(
    tools_dir: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    """A restore of our archive passing says little unless mongorestore rejects a wrong CRC: show it does."""
    await build_dump_fixture(db, users=300)
    path = tmp_path / "a.archive"
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(path)))
    data = bytearray(path.read_bytes())
    data[data.index(b"u42@example.com")] ^= 0x01
    path.write_bytes(bytes(data))
    result = run(
        str(tools_dir / "mongorestore"),
        *("--uri", mongo_uri, f"--archive={path}", "--nsFrom", f"{db_name}.*", "--nsTo", f"{db_name}_bad.*"),
    )
    assert result.returncode != 0
    assert f"CRC mismatch for namespace `{db_name}.users`" in result.stderr


@pytest.mark.parametrize("damage", ["flip", "truncate"])
async def test_a_damaged_mongodump_archive_is_refused_and_the_target_untouched(
    tool: Tool, mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, damage: str
) -> None:
    await build_dump_fixture(db, users=500)
    path = tmp_path / "a.archive"
    tool("mongodump", "--uri", mongo_uri, "--db", db_name, f"--archive={path}")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[data.index(b"u250@example.com")] ^= 0x01
    else:
        del data[len(data) // 2 :]
    path.write_bytes(bytes(data))
    before = await state(db)
    result = run(CLI, "restore", "--uri", mongo_uri, "--db", db_name, "--archive", str(path), "--yes")
    assert result.returncode == 3
    line = result.stderr.strip().splitlines()[-1]
    if damage == "flip":
        assert f"is corrupt: {db_name}.users fails its CRC-64 check" in line
    else:
        assert "is truncated" in line
    assert await state(db) == before
    assert f"{db_name}__restore" not in await db.client.list_database_names()  # the lock's database is gone
