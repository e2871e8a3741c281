"""kill -9 and Ctrl-C of ``analytiq-db restore`` (real subprocesses) in the middle of its swap, and kill -9 during its
load (issue 18): until the next restore, every verb reading the database says it is mid-restore (``status`` exits 1,
``up`` refuses to migrate it, ``backup`` refuses to copy it); the next restore says what it found and finishes the
swap (or removes the partial load), leaving the backup in place and nothing of the tool behind.

The process is stopped at a known point with the file handshake ``ANALYTIQ_TEST_RESTORE_PAUSE``: never a sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.safety.restore_run import PAUSE_ENV
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import build_dump_fixture, state
from tests.server.test_backup_consistent import await_file
from tests.server.test_rehearse_support import databases

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(CLI, *args, cwd=ROOT, stdout=PIPE, stderr=PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _prepared(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> tuple[str, dict[str, Any]]:
    """Return a backup of the fixture and its state; the database itself then damaged (every collection replaced)."""
    await build_dump_fixture(db, users=300)
    expected = await state(db)
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await db.users.update_many({}, {"$inc": {"age": 1}})
    await db.drop_collection("adults")
    await db.extra.insert_one({"_id": "left over"})
    return bk, expected


async def _stopped_at(point: str, command: list[str], tmp_path: Path, how: signal.Signals) -> tuple[int, str]:
    """Run ``command`` until it pauses at ``point``, then send it ``how``; return its exit code and stderr."""
    env = {**os.environ, PAUSE_ENV: f"{point}:{tmp_path}"}
    proc = await asyncio.create_subprocess_exec(CLI, *command, cwd=ROOT, stdout=PIPE, stderr=PIPE, env=env)
    try:
        await await_file(tmp_path / f"paused-{point}", f"the restore to pause at {point}")
        proc.send_signal(how)
        _, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def _verbs_say_it_is_unfinished(mongo_uri: str, db_name: str, words: str) -> None:
    """status exits 1 naming the unfinished restore; up refuses to migrate; backup refuses to copy."""
    code, out, _ = await _run("status", "--uri", mongo_uri, "--db", db_name, "--migrations", BASIC)
    assert code == 1 and words in out, out
    code, _, err = await _run("up", "--uri", mongo_uri, "--db", db_name, "--migrations", BASIC)
    assert code == 6 and "not migrating: " in err and words in err, err
    copy = f"{db_name}_copy"
    code, _, err = await _run("backup", "--src-uri", mongo_uri, "--src", db_name, "--dest", copy)
    assert code == 5 and "an unfinished restore ('__restore')" in err, err


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "Ctrl-C"])
async def test_a_restore_stopped_in_the_middle_of_its_swap_is_finished_by_the_next_one(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, how: signal.Signals
) -> None:
    bk, expected = await _prepared(mongo_uri, db_name, db)
    command = ["restore", "--uri", mongo_uri, "--db", db_name, "--from", bk, "--yes", "--lease", "1"]
    code, err = await _stopped_at("swap-1", command, tmp_path, how)
    if how == signal.SIGINT:
        assert code == 130, err
        last = err.splitlines()[-1]
        assert last.startswith("analytiq-db: error: restore interrupted during the swap: 1 of 9 collections of ")
        assert last.endswith(
            "— run the same restore again: it finishes the swap (the rest of the backup is loaded and checked)"
        )
    else:
        assert code == -signal.SIGKILL
    assert await state(db) != expected  # half swapped
    await _verbs_say_it_is_unfinished(mongo_uri, db_name, "is in the middle of a restore's swap")

    code, out, err = await _run(*command)
    assert code == 0, err
    assert f"found a half-done swap of an earlier restore from backup {bk!r}" in err
    assert (
        out.splitlines()[0]
        == f"finished the half-done swap of an earlier restore from backup {bk!r} on "
        + (mongo_uri.split("//")[1].split("/")[0])
    )
    assert out.splitlines()[1].startswith(f"restored database {db_name} from backup {bk}")
    assert await state(db) == expected
    assert [n for n in await db.list_collection_names() if n.startswith("__restore")] == []
    assert await databases(db) == [bk]  # the lock's database is gone
    code, out, _ = await _run("status", "--uri", mongo_uri, "--db", db_name, "--migrations", BASIC)
    assert code == 0 and "! " not in out, out


async def test_a_restore_killed_while_loading_leaves_the_database_whole_and_the_next_one_cleans_up(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    bk, expected = await _prepared(mongo_uri, db_name, db)
    before = await state(db)
    command = ["restore", "--uri", mongo_uri, "--db", db_name, "--from", bk, "--yes", "--lease", "1"]
    code, _ = await _stopped_at("loaded", command, tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert "__restore.users" in await db.list_collection_names()  # the partial load, beside
    assert {k: v for k, v in (await state(db)).items() if not k.startswith("__restore")} == before
    await _verbs_say_it_is_unfinished(mongo_uri, db_name, f"a restore into {db_name!r}")

    code, _, err = await _run(*command)
    assert code == 0, err
    assert (
        f"an earlier restore from backup {bk!r}" in err
        and "stopped while loading" in err
        and "removing its load" in err
    )
    assert await state(db) == expected
    assert await databases(db) == [bk]
