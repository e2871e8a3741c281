"""A lock holder killed on this host (issue 22 §4, issue 17 §3): ``status`` says its process is gone,
``unlock`` clears it without ``--force``, and the next runner — or restore — takes over at once
instead of waiting out the lease. The guards: a reused pid, another boot (a container on another
kernel with the same host name), another PID namespace, another host, a live holder: all waited out.

The lock documents in the guard tests are written by hand from ``/proc`` (the fields a holder
records), so these tests need Linux.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.backup import BackupOptions, backup
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import LockError
from tests.migrations_fixtures import basic
from tests.migrations_fixtures.helpers import (
    CLI,
    ROOT,
    CliProcess,
    effects,
    history_docs,
    start_cli,
    version_doc,
    wait_until,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="judging a process gone needs /proc")

BLOCKING = "tests.migrations_fixtures.blocking:MIGRATIONS"
GONE = "a process that no longer exists on this host"


def _cli(uri: str, db_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args, "--uri", uri, "--db", db_name], cwd=ROOT, capture_output=True, text=True, timeout=90
    )


async def _killed_holder(tmp_path: Path, uri: str, db_name: str, db: AsyncDatabase[Any]) -> CliProcess:
    """Start a runner (default 30 s lease), wait until it is inside step 2, kill -9 it."""
    first = start_cli(tmp_path, "first", "up", "--uri", uri, "--db", db_name, "--migrations", BLOCKING)
    try:

        async def entered() -> bool:
            return await db.signals.find_one({"_id": "entered"}) is not None

        await wait_until(entered, "the first runner inside step 2")
        first.proc.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        first.stop()
    return first


async def test_a_runner_killed_on_this_host_is_taken_over_at_once(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    first = await _killed_holder(tmp_path, mongo_uri, db_name, db)
    lock = await db.migration_lock.find_one({"_id": "migration_lock"})
    assert lock is not None and lock["expires_at"].replace(tzinfo=UTC) > datetime.now(UTC)  # the lease is live

    status = _cli(mongo_uri, db_name, "status", "--migrations", BLOCKING)
    assert status.returncode == 0, status.stderr
    assert f"! the lock is held by {socket.gethostname()} (pid {first.proc.pid}) since " in status.stdout
    assert f"{GONE}: the next runner takes it over at once (or clear it with analytiq-db unlock)" in status.stdout
    assert "a migration is running" not in status.stdout

    await db.signals.insert_one({"_id": "go"})
    second = _cli(mongo_uri, db_name, "up", "--migrations", BLOCKING, "--lock-wait", "0")
    assert second.returncode == 0, second.stderr
    assert f"took over the migration lock of {socket.gethostname()} (pid {first.proc.pid}) since " in second.stderr
    assert "that process no longer exists on this host" in second.stderr
    assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}  # the dead runner's transaction never landed
    assert (await version_doc(db) or {})["version"] == 3
    assert [(d["version"], d["outcome"]) for d in await history_docs(db)] == [
        (1, "applied"),
        (2, "interrupted"),
        (2, "applied"),
        (3, "applied"),
    ]
    assert await db.migration_lock.count_documents({}) == 0


async def test_unlock_clears_a_dead_holders_lock_without_force(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    first = await _killed_holder(tmp_path, mongo_uri, db_name, db)
    result = _cli(mongo_uri, db_name, "unlock")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"database {db_name}: cleared the migration lock (its process was gone) held by {socket.gethostname()} "
        f"(pid {first.proc.pid}) since "
        + result.stdout.strip().split(" since ", 1)[1]
    )
    assert await db.migration_lock.count_documents({}) == 0


# --- the guards, on lock documents written from /proc ---


def _me() -> dict[str, Any]:
    """The identity fields a holder records, for this test process (alive)."""
    stat = Path("/proc/self/stat").read_text()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
        "pid_ns": os.readlink("/proc/self/ns/pid"),
        "pid_start": int(stat.rsplit(")", 1)[1].split()[19]),
    }


async def _write_lock(db: AsyncDatabase[Any], **identity: Any) -> None:
    now = datetime.now(UTC)
    await db.migration_lock.insert_one(
        {
            "_id": "migration_lock",
            "holder": identity["host"],
            "token": "t-" + os.urandom(4).hex(),
            "locked_at": now,
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=300),
            "lease_s": 300.0,
            **identity,
        }
    )


async def test_a_reused_pid_is_a_gone_holder(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    me = _me()
    await _write_lock(db, **{**me, "pid_start": me["pid_start"] - 1})  # same pid, another process's start
    result = await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, lock_wait_s=0)
    assert result.to_version == 3


async def test_a_pid_that_no_longer_exists_is_a_gone_holder(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()  # reaped: its pid names no process
    await _write_lock(db, **{**_me(), "pid": child.pid})
    status = await ad.migrations.status(aclient, migrations=basic.MIGRATIONS)
    assert status.lock is not None and status.lock.holder_gone and not status.lock.live
    assert status.problems[-1].endswith(f"(pid {child.pid}) since " + status.problems[-1].split(" since ")[1])
    assert GONE in status.problems[-1]
    assert (await ad.migrations.unlock(aclient)).cleared


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("boot_id", "00000000-0000-0000-0000-000000000000"),  # same host name, another kernel (a container elsewhere)
        ("pid_ns", "pid:[1]"),  # same host and kernel, another PID namespace (another container)
        ("host", "another-host"),
        ("pid_start", None),  # written by a system that could not say (no /proc)
    ],
)
async def test_a_holder_not_known_to_share_this_pid_space_is_waited_out(
    aclient: AnalytiqClient, db: AsyncDatabase[Any], field: str, other: Any
) -> None:
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()
    await _write_lock(db, **{**_me(), "pid": child.pid, field: other})  # gone, were it judged here
    with pytest.raises(LockError, match="migration lock held by"):
        await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, lock_wait_s=0)
    status = await ad.migrations.status(aclient, migrations=basic.MIGRATIONS)
    assert status.lock is not None and status.lock.live and not status.lock.holder_gone


async def test_a_live_holder_on_this_host_is_waited_out(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await _write_lock(db, **_me())  # this very process, alive
    with pytest.raises(LockError, match="migration lock held by"):
        await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, lock_wait_s=0)
    with pytest.raises(LockError, match="the migration lock is live"):
        await ad.migrations.unlock(aclient)


# --- restore's lock is the same lock ---

DOCS = 10_000


async def test_restore_after_kill_9_takes_the_dead_restores_lock_at_once(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.big.insert_many([{"_id": i, "pad": "p" * 200} for i in range(DOCS)])
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await db.big.update_many({"_id": {"$lt": 100}}, {"$set": {"changed": True}})
    tmp = db.client[f"{db_name}__restore_tmp"]
    command = [CLI, "restore", "--uri", mongo_uri, "--db", db_name, "--from", bk, "--yes"]
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=PIPE, stderr=PIPE)
    try:

        async def rebuilding() -> bool:
            return await tmp.big.estimated_document_count() > 0

        await wait_until(rebuilding, "the restore to rebuild the backup")
        assert proc.returncode is None, "the restore finished before it could be killed"
        proc.kill()
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert await db.migration_lock.count_documents({}) == 1  # its lease, left behind live

    rerun = await asyncio.create_subprocess_exec(
        *command, "--lock-wait", "0", cwd=ROOT, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(rerun.communicate(), 300)
    assert rerun.returncode == 0, err.decode()
    said = err.decode()
    assert f"took over the migration lock of {socket.gethostname()} (pid {proc.pid}) since " in said
    assert "that process no longer exists on this host" in said
    assert "waiting for it" not in said  # the dead restore's phase no longer holds the next one back
    assert out.decode().startswith(f"restored database {db_name} from backup {bk}")
    assert await db.big.count_documents({"changed": True}) == 0 and await db.big.count_documents({}) == DOCS
