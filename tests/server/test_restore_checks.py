"""What a restore from files checks, per format, said in the summary and ``--json`` (issue 17 §2: a flipped
byte inside a value of a directory dump restored with exit 0 and the word "verified").

An archive carries a CRC-64 per collection; a directory written by this tool carries ``SHA256SUMS``;
a directory written by mongodump carries nothing that covers the documents' bytes, so only counts,
indexes and options are checked there — and the summary says so instead of "verified".
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.errors import ExitCode
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import build_dump_fixture, state


def restore(uri: str, db: str, *where: str, as_json: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``analytiq-db restore`` to its end (the test looks at its exit code and output)."""
    cmd = [CLI, "restore", "--uri", uri, "--db", db, *where, "--yes", *(["--json"] if as_json else [])]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)


def flip(path: Path, marker: bytes) -> None:
    """Change one bit inside a document value: the file stays valid BSON."""
    data = bytearray(path.read_bytes())
    data[data.index(marker)] ^= 0x01
    path.write_bytes(bytes(data))


async def test_a_flipped_value_in_our_directory_is_refused_by_its_checksums(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    await build_dump_fixture(db, users=200)
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, out=str(tmp_path / "dump")))
    flip(tmp_path / "dump" / db_name / "users.bson", b"u42@example.com")
    target = db.client[f"{db_name}_live"]
    await target.keep.insert_one({"_id": 1})
    before = await state(target)
    done = restore(mongo_uri, target.name, "--dir", str(tmp_path / "dump"))
    assert done.returncode == ExitCode.CONFIGURATION, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"analytiq-db: error: {tmp_path / 'dump' / db_name / 'users.bson'} fails its SHA-256 check (SHA256SUMS): "
        "its bytes changed after the dump was written — the file is damaged; use another copy"
    )
    assert await state(target) == before


@pytest.mark.parametrize("kind", ["archive", "ours", "mongodump-dir"])
async def test_the_summary_says_what_was_checked_for_each_format(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, kind: str
) -> None:
    await build_dump_fixture(db, users=100)
    archive = str(tmp_path / "a.archive") if kind == "archive" else None
    out = None if archive else str(tmp_path / "dump")
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=archive, out=out))
    if kind == "mongodump-dir":  # the same layout without this tool's checksum file: as mongodump writes it
        (tmp_path / "dump" / db_name / "SHA256SUMS").unlink()
        flip(tmp_path / "dump" / db_name / "users.bson", b"u42@example.com")  # goes unnoticed: nothing covers it
    target = f"{db_name}_copy"
    where = ["--archive", archive] if archive else ["--dir", str(out)]
    done = restore(mongo_uri, target, *where)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    checksum = {
        "archive": ["CRC-64 of each collection's documents"],
        "ours": ["SHA-256 of every file (SHA256SUMS)"],
        "mongodump-dir": [],
    }[kind]
    assert report["checks"] == ["document counts", *checksum, "indexes and options"]
    unchecked = ["the documents' bytes (a mongodump directory has no checksum)"] if kind == "mongodump-dir" else []
    assert report["unchecked"] == unchecked
    assert report["assumed"] == []

    text = restore(mongo_uri, target, *where, as_json=False)
    assert text.returncode == 0, text.stderr
    line = text.stdout.strip().splitlines()[-1]
    if kind == "mongodump-dir":
        assert "verified" not in line
        assert "; checked: document counts, indexes and options; not checked: the documents' bytes" in line
    else:
        assert f"; verified: document counts, {checksum[0]}, indexes and options (" in line
