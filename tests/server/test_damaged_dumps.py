"""Every damaged dump is refused with exit code 3 and one line naming the file, the target untouched
(issue 17 §2: a gzip archive cut 1–10 bytes short, a flipped byte in the gzip trailer, or mid-stream
in a ``.bson.gz`` ended in "internal error: EOFError…", "BadGzipFile: CRC check failed" or "invalid
distance too far back", exit code 70).

The damage is made on a real dump of the fixture; where a flipped byte is needed that makes zlib
fail (or the gzip CRC fail), the test picks the first position of the file that does, checking with
``zlib``/``gzip`` themselves, so the case is the same on every run.
"""

from __future__ import annotations

import gzip
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.errors import ExitCode
from analytiq_data.restore_mark import is_restore_namespace
from analytiq_data.safety.restore_lock import lock_db_name
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import build_dump_fixture, state


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (the test looks at its exit code and stderr)."""
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)


def first_flip(data: bytes, fails: type[BaseException], start: int) -> int:
    """Return the first position from ``start`` where flipping one bit makes gunzipping raise ``fails``."""
    for i in range(start, len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x10
        try:
            gzip.decompress(bytes(damaged))
        except fails:
            return i
        except (EOFError, OSError, zlib.error):
            continue
    raise AssertionError(f"no single flip of the file raises {fails.__name__}")


def cut(n: int) -> Callable[[bytes], bytes]:
    return lambda data: data[:-n]


def flip_at(position: Callable[[bytes], int]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        out = bytearray(data)
        out[position(data)] ^= 0x10
        return bytes(out)

    return damage


MID = 200  # past the gzip header and the first deflate block header
CASES: dict[str, tuple[str, str, Callable[[bytes], bytes], str]] = {
    # name: (format, file damaged, damage, what the line says)
    "archive-cut-1": ("archive", "a.archive", cut(1), "is cut short"),
    "archive-cut-5": ("archive", "a.archive", cut(5), "is cut short"),
    "archive-cut-10": ("archive", "a.archive", cut(10), "is cut short"),
    "archive-trailer-crc": ("archive", "a.archive", flip_at(lambda d: len(d) - 6), "CRC check failed"),
    "archive-trailer-length": ("archive", "a.archive", flip_at(lambda d: len(d) - 2), "Incorrect length"),
    "bson-gz-invalid-data": ("dir", "users.bson.gz", flip_at(lambda d: first_flip(d, zlib.error, MID)), "damaged"),
    "bson-gz-crc": ("dir", "users.bson.gz", flip_at(lambda d: first_flip(d, gzip.BadGzipFile, MID)), "CRC check"),
    "bson-gz-cut": ("dir", "orders.bson.gz", cut(3), "is cut short"),
    "metadata-gz-cut": ("dir", "users.metadata.json.gz", cut(1), "is cut short"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_damaged_gzip_dump_is_refused_in_one_line_and_the_target_untouched(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, case: str
) -> None:
    kind, name, damage, says = CASES[case]
    await build_dump_fixture(db, users=400)
    where = tmp_path / ("a.archive" if kind == "archive" else "dump")
    archive, out = (str(where), None) if kind == "archive" else (None, str(where))
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=archive, out=out, gzip=True))
    path = where if kind == "archive" else where / db_name / name
    path.write_bytes(damage(path.read_bytes()))
    target = db.client[f"{db_name}_live"]
    await target.keep.insert_many([{"_id": i} for i in range(10)])
    before = await state(target)

    flag = "--archive" if kind == "archive" else "--dir"
    done = run(CLI, "restore", "--uri", mongo_uri, "--db", target.name, flag, str(where), "--yes")
    assert done.returncode == ExitCode.CONFIGURATION, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"analytiq-db: error: {path} is corrupt: "), done.stderr
    assert says in errors[0] and errors[0].endswith("— the file is damaged or incomplete; use another copy")
    assert await state(target) == before
    assert lock_db_name(target.name) not in await db.client.list_database_names()  # nor the restore's lock
    assert [n for n in await target.list_collection_names() if is_restore_namespace(n)] == []  # nor a partial load
