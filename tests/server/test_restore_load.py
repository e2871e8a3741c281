"""Loading a dump as mongorestore does (issue 18): inserts in flight chosen while loading up to ``--parallel``, each
collection's indexes in one ``createIndexes`` once its documents are in; and the watch on other clients' writes
(issue 17 §3): through the change stream where ``top`` is not available, and ``restore --check`` before a restore."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.backup.files.load import create_namespaces, finish_collection, load_documents
from analytiq_data.backup.files.source import open_source
from analytiq_data.backup.identity import ServerIdentity
from analytiq_data.progress import NULL_PROGRESS
from analytiq_data.safety.activity import WriteWatch
from analytiq_data.safety.restore_check import check_target
from analytiq_data.safety.staging import Staging
from tests.migrations_fixtures.helpers import CLI, ROOT


class InFlight(monitoring.CommandListener):
    """Inserts in flight (the most at once) and the order of inserts and index builds, per collection."""

    def __init__(self, db: str) -> None:
        self.db, self.now, self.most = db, 0, 0
        self.events: list[tuple[str, str]] = []
        self.open: set[int] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.db or event.command_name not in ("insert", "createIndexes"):
            return
        self.events.append((event.command_name, str(event.command[event.command_name])))
        if event.command_name == "insert":
            self.open.add(event.request_id)
            self.now += 1
            self.most = max(self.most, self.now)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._end(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._end(event.request_id)

    def _end(self, request_id: int) -> None:
        if request_id in self.open:
            self.open.discard(request_id)
            self.now -= 1


async def _load(mongo_uri: str, target: str, path: Path, db_name: str, parallel: int) -> InFlight:
    listener = InFlight(target)
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, event_listeners=[listener])
    try:
        side = Side("destination", "here", client[target], ServerIdentity("replicaset"))
        source = open_source(archive=str(path))
        try:
            metas = [m for m in source.namespaces if m.db == db_name]
            by_name = {m.collection: m for m in metas}
            await create_namespaces(side, metas)

            async def finish(name: str, _: Any) -> None:
                await finish_collection(side, by_name[name])

            loaded = await load_documents(
                side, source, metas, batch_size=50, parallel=parallel, progress=NULL_PROGRESS, on_loaded=finish
            )
        finally:
            source.close()
        assert {n: c.count for n, c in loaded.items()} == {"a": 600, "b": 400}
    finally:
        await client.close()
    return listener


@pytest.mark.parametrize("parallel", [1, 4])
async def test_inserts_in_flight_stay_within_parallel_and_indexes_follow_each_collections_data(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, parallel: int
) -> None:
    """The old loader kept two inserts in flight whatever ``--parallel`` said, and built indexes after everything."""
    await db.a.insert_many([{"_id": i, "k": i % 7} for i in range(600)])
    await db.a.create_index("k")
    await db.b.insert_many([{"_id": i, "k": -i} for i in range(400)])
    await db.b.create_index([("k", -1)], unique=True)
    path = tmp_path / "a.archive"
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(path)))
    listener = await _load(mongo_uri, f"{db_name}_p{parallel}", path, db_name, parallel)
    assert 1 <= listener.most <= parallel
    builds = [i for i, e in enumerate(listener.events) if e[0] == "createIndexes"]
    assert sorted(listener.events[i][1] for i in builds) == ["a", "b"]  # one createIndexes per collection
    for i in builds:
        name = listener.events[i][1]
        assert ("insert", name) not in listener.events[i:]  # after that collection's data


async def test_the_change_stream_sees_other_clients_writes_up_to_the_restores_own_marker(
    db: AsyncDatabase[Any],
) -> None:
    """Where ``top`` is not available (mongos, no privilege), a replica set's change stream tells the writes."""
    await db.users.insert_one({"_id": 1})
    staging = await Staging.of(db)
    await staging.begin(source="a test", lock_db=f"{db.name}__restore", staged=[], created=["mine"])
    watch = await WriteWatch.start(db, prefer_top=False)
    assert watch.by == "change stream"
    await db.users.update_one({"_id": 1}, {"$set": {"x": 1}})  # another client
    await db.mine.insert_one({"_id": 1})  # the restore's own
    await db["__restore.users"].insert_one({"_id": 1})  # the restore's own
    writes = await watch.writes(lambda name: name == "mine", staging.probe)
    assert (writes.by, dict(writes.counts)) == ("change stream", {"users": 1})
    await staging.finish()


async def test_check_says_ready_for_a_quiet_database_and_not_while_a_client_writes(db: AsyncDatabase[Any]) -> None:
    await db.users.insert_many([{"_id": i} for i in range(5)])
    quiet = await check_target(db, window_s=0.3)
    assert quiet.ready and quiet.lines()[-1] == "ready: nothing was seen using the database"
    assert quiet.lines()[0] == f"database {db.name}: 1 collection(s), about 5 documents"

    stop = asyncio.Event()

    async def application() -> None:
        n = 100
        while not stop.is_set():
            await db.users.insert_one({"_id": n})
            n += 1

    writer = asyncio.create_task(application())
    try:
        busy = await check_target(db, window_s=0.3)
    finally:
        stop.set()
        await writer
    assert not busy.ready
    assert any(p.startswith("clients are writing to the database (users: ") for p in busy.problems), busy.problems


async def test_cli_check_changes_nothing_and_exits_0_when_ready(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.users.insert_one({"_id": 1})
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=f"{db_name}_bk"))
    names = await db.client.list_database_names()
    proc = await asyncio.create_subprocess_exec(
        CLI, "restore", "--uri", mongo_uri, "--db", db_name, "--from", f"{db_name}_bk", "--check",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith(f"backup {db_name}_bk on ") and lines[0].endswith("can be restored")
    assert lines[-1] == "ready: nothing was seen using the database"
    assert await db.client.list_database_names() == names and await db.list_collection_names() == ["users"]
