"""What only a real deployment exercises: snapshot reads at T, the path through mongos, writers in parallel.

These run on the real clusters of docs/how-to/real-clusters.md (deploy/compose.yaml, the CI workflow
``real-mongodb.yml``), not on the test servers: SecantusDB answers a snapshot read at any
``atClusterTime`` with its current data (so a consistent copy is checked there as "copy plus replayed
events"), has no mongos, and runs writes one at a time (parallel writers interleave only on mongod).
They have not run on the project's machines, which have no mongod.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson.timestamp import Timestamp

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.consistent.catchup import PAUSE_ENV
from analytiq_data.backup.consistent.point import SNAPSHOT
from tests.server.test_backup_consistent import (
    COLLS,
    INITIAL,
    ROOT,
    WRITER,
    await_file,
    await_file_count,
    contents,
    expected_at,
    logged,
    seed,
    source_writes,
    sync,
)

WRITERS = 3


@pytest.fixture
def writers(mongo_uri: str, db_name: str, tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    """Three writer processes on the seeded source, each on its own documents, stopped by PID afterwards."""
    seed(mongo_uri, db_name)
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for k in range(WRITERS):
            log = tmp_path / f"writes-{k}.jsonl"
            args = [mongo_uri, db_name, str(log), str(COLLS), str(INITIAL), str(k), str(WRITERS)]
            started.append((subprocess.Popen([sys.executable, str(WRITER), *args], cwd=ROOT), log))
        yield started
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def merged(logs: list[Path], into: Path) -> Path:
    """Write the writers' logs as one, in the server's order (operation times)."""
    entries = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    entries.sort(key=lambda e: tuple(e["t"]))
    into.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return into


async def consistent_copy(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, hook: Path, during: Any
) -> Any:
    """Run a --consistent backup, calling ``during()`` while it is paused between the copy and T."""
    await asyncio.to_thread(hook.mkdir)
    options = BackupOptions(
        src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2, consistent=True, batch_size=200
    )
    run = asyncio.ensure_future(backup(options))
    await await_file(hook / "paused-0", "the catch-up to begin")
    await during()
    (hook / "go-0").touch()
    return await run


@pytest.mark.needs_real_mongod
async def test_parallel_writers_and_the_check_against_the_source_read_at_T(
    mongo_uri: str,
    mongo_uri_2: str,
    db_name: str,
    db_name_2: str,
    tmp_path: Path,
    writers: list[tuple[subprocess.Popen[bytes], Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mongod interleaves the writers' writes; the copy equals the source at T, checked by reading the source at T."""
    logs = [log for _, log in writers]
    monkeypatch.setenv(PAUSE_ENV, f"0:{tmp_path / 'hook'}")
    for log in logs:
        await await_file_count(log, 10)

    async def more_writes() -> None:
        for log in logs:
            await await_file_count(log, logged(log) + 10)

    result = await consistent_copy(mongo_uri, mongo_uri_2, db_name, db_name_2, tmp_path / "hook", more_writes)
    for log in logs:
        await await_file_count(log, logged(log) + 5)  # writes after T too
    for proc, _ in writers:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

    point = result.point_in_time
    assert result.verified is True and point is not None
    assert point.verified_by == SNAPSHOT, "mongod reads the source as of T"
    state, applied = expected_at(merged(logs, tmp_path / "all.jsonl"), point.at)
    assert 0 < applied < sum(logged(log) for log in logs), "writes before and after T"
    assert contents(mongo_uri_2, db_name_2) == state
    assert contents(mongo_uri, db_name) != state, "the source moved on after T: the check read it at T"


@pytest.mark.needs_mongos
async def test_a_consistent_copy_of_a_sharded_collection_through_mongos(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plan, copy, change stream, cluster time and snapshot check all go through mongos; events carry the shard key."""
    seed(mongo_uri, db_name)
    with sync(mongo_uri) as client:
        client.admin.command("enableSharding", db_name)
        client[db_name].c0.create_index([("tag", "hashed")])
        client.admin.command("shardCollection", f"{db_name}.c0", key={"tag": "hashed"})
    monkeypatch.setenv(PAUSE_ENV, f"0:{tmp_path / 'hook'}")

    async def writes() -> None:
        await asyncio.to_thread(source_writes, mongo_uri, db_name, 60)

    result = await consistent_copy(mongo_uri, mongo_uri_2, db_name, db_name_2, tmp_path / "hook", writes)

    point = result.point_in_time
    assert result.verified is True and point is not None and point.events == 60
    assert point.verified_by == SNAPSHOT
    assert isinstance(point.at, Timestamp)
    assert contents(mongo_uri_2, db_name_2) == contents(mongo_uri, db_name)
