"""Migrations killed half way resume and end with the same data as an uninterrupted run.

A subprocess runs one migration with tiny batches; a change stream on the bookkeeping collection
tells us when it has committed a batch (no sleeps), and we SIGKILL it there. Running the migration
again must finish the job, and the result must equal a run that was never interrupted on the same
sample, and down must still give back the original exactly.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.analytiq.journal import JOURNAL_PREFIX, JournaledMigration, UndoJournal
from analytiq_data.migrations.batch import CHECKPOINTS, read_checkpoint
from analytiq_data.migrations.migration import MIGRATIONS, LlmResultFieldsMigration
from analytiq_data.migrations.sample import generate_sample
from tests.server.test_analytiq_support import assert_same, snapshot_all

RUNNER = """
import asyncio, sys
from pymongo import AsyncMongoClient
from analytiq_data.migrations.migration import MIGRATIONS

async def main(uri, name, version, direction, batch):
    client = AsyncMongoClient(uri, tz_aware=True)
    step = type(MIGRATIONS[version - 1])(batch_size=batch)
    await getattr(step, direction)(client[name])
    await client.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])))
"""

DOCS = 240
# batch sizes giving each walk dozens of batches on the sample
TINY_BATCH = {1: 4, 2: 4, 3: 1, 4: 1}


def step(version: int, batch_size: int | None = None) -> JournaledMigration:
    cls = type(MIGRATIONS[version - 1])
    assert issubclass(cls, JournaledMigration)
    return cls(batch_size=batch_size)


async def sample_at(db: AsyncDatabase[Any], version: int) -> None:
    await generate_sample(db, docs=DOCS, seed=21)
    for v in range(1, version + 1):
        await step(v).up(db)


async def kill_when(
    watched: AsyncCollection[Any], operations: Sequence[str], uri: str, db_name: str, version: int, direction: str
) -> None:
    """Run ``direction`` of migration ``version`` in a subprocess; SIGKILL it at the first ``operations`` event."""
    pipeline = [{"$match": {"operationType": {"$in": list(operations)}}}]
    async with await watched.watch(pipeline, max_await_time_ms=100) as stream:
        args = [uri, db_name, str(version), direction, str(TINY_BATCH[version])]
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", RUNNER, *args, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if await stream.try_next() is not None:
                    return
                if proc.returncode is not None:
                    err = (await proc.stderr.read()).decode() if proc.stderr else ""
                    pytest.fail(f"the migration ended (code {proc.returncode}) before it could be killed: {err}")
            pytest.fail("no progress within 60 s")
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


@pytest.mark.parametrize("version", [1, 2, 3, 4])
async def test_a_killed_up_resumes_and_ends_like_an_uninterrupted_run(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str, version: int
) -> None:
    killed, reference = client[f"{db_name}_killed"], client[f"{db_name}_reference"]
    await sample_at(killed, version - 1)
    await sample_at(reference, version - 1)
    original = await snapshot_all(killed)
    await step(version).up(reference)

    await kill_when(killed[CHECKPOINTS], ["insert", "replace", "update"], mongo_uri, killed.name, version, "up")
    checkpoint = await read_checkpoint(killed, f"{MIGRATIONS[version - 1].name}.up")
    assert checkpoint is not None and checkpoint["seen"] > 0, "killed half way: a checkpoint is left"
    target = MIGRATIONS[version - 1]
    assert isinstance(target, JournaledMigration)
    assert await killed[target.collection_name].count_documents(target.old_shape) > 0, "work was left"

    assert await step(version).up(killed) is True
    assert await read_checkpoint(killed, f"{target.name}.up") is None
    assert_same(await snapshot_all(reference), await snapshot_all(killed))

    await step(version).down(killed)
    assert_same(original, await snapshot_all(killed))


async def test_a_killed_down_resumes_and_gives_back_the_original(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    db = client[db_name]
    await sample_at(db, 1)
    original = await snapshot_all(db)
    await step(2, batch_size=4).up(db)  # many small journal records
    journal = db[JOURNAL_PREFIX + "LlmResultFieldsMigration"]
    await kill_when(journal, ["delete"], mongo_uri, db.name, 2, "down")
    assert await journal.count_documents({}) > 0, "killed half way: records are left"
    await step(2).down(db)
    assert_same(original, await snapshot_all(db))
    assert JOURNAL_PREFIX + "LlmResultFieldsMigration" not in await db.list_collection_names()


class DiesAfterJournaling(UndoJournal):
    """A journal whose third record is written and then the process "dies" before the batch's updates."""

    calls = 0

    async def record(self, entries: Sequence[Mapping[str, Any]]) -> None:
        await super().record(entries)
        type(self).calls += 1
        if type(self).calls == 3:
            raise KeyboardInterrupt("died between the journal and the write")


class FlakyLlm(LlmResultFieldsMigration):
    @property
    def name(self) -> str:
        return "LlmResultFieldsMigration"  # same journal and checkpoint as the real one

    def journal(self, db: AsyncDatabase[Any]) -> UndoJournal:
        return DiesAfterJournaling(db, self.name)


async def test_death_between_journal_and_write_is_recovered(client: AsyncMongoClient[Any], db_name: str) -> None:
    broken, reference = client[f"{db_name}_broken"], client[f"{db_name}_reference"]
    await sample_at(broken, 1)
    await sample_at(reference, 1)
    original = await snapshot_all(broken)
    await step(2).up(reference)

    DiesAfterJournaling.calls = 0
    with pytest.raises(KeyboardInterrupt):
        await FlakyLlm(batch_size=10).up(broken)
    journal = broken[JOURNAL_PREFIX + "LlmResultFieldsMigration"]
    entries = [e for record in await journal.find().sort("_id", 1).to_list() for e in record["entries"]]
    runs = {r["_id"]: r for r in await broken["llm.runs"].find({"_id": {"$in": [e["_id"] for e in entries]}}).to_list()}
    unwritten = [e["_id"] for e in entries if any(name not in runs[e["_id"]] for name in e["wrote"])]
    assert len(entries) == 30 and unwritten == [e["_id"] for e in entries[20:]], "batch 3 journaled, not written"

    await step(2).up(broken)
    assert_same(await snapshot_all(reference), await snapshot_all(broken))
    await step(2).down(broken)  # the duplicate journal entries of the dead batch do no harm
    assert_same(original, await snapshot_all(broken))
