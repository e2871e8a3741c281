"""Writes of a killed ``backup --consistent`` that land after ``--resume`` restarted their range (issue 17 §4).

The issue: killed with kill -9 under a live writer, the resumed copy ended with more documents than
``_id``s in a collection the writer never touched, exit 7, and the resume state gone. The cause: a
resume cleared a whole-collection range by dropping and recreating the collection, and the killed
run's insert batches, still on their way (in a server's queue, a proxy, a mongos: a server also
finishes a write whose client died), landed around that drop. On SecantusDB an insert straddling
the drop leaves documents outside the recreated collection's ``_id`` index (62,000 documents for
60,000 ``_id``s); on mongod and SecantusDB alike, a batch landing between the drop and the
``create`` recreates the collection without its options, and the ``create`` is refused.

Each run reaches the destination through its own TCP relay (``HoldingRelay``) that can hold what it
sends, so the order is made on demand, never by sleeping: the killed run's relay holds its batches;
the resume's relay lets its first write to ``big`` through and holds what follows; the killed run's
batches are then delivered and answered; then the resume goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from subprocess import PIPE
from typing import Any
from urllib.parse import urlsplit

from bson.timestamp import Timestamp
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.plan import STATE_COLLECTION
from tests.cli.test_backup_late_batches import HoldingRelay, command_of, reached
from tests.server.consistent_writer import initial_doc
from tests.server.test_backup_consistent import COLLS, INITIAL, WRITER, await_file_count, contents, expected_at
from tests.server.test_backup_resume import ROOT, cli, raw_sorted, wait_until

BIG = 6_000
COLLATION = {"locale": "en", "strength": 2}
LARGE, LATE_BATCH = 30_000, 10_000  # batches the server executes in parts (SecantusDB: 1,000 at a time)
#: Commands that change a collection (the resume's first one naming ``big`` restarts its range).
WRITES = frozenset({"insert", "update", "delete", "drop", "create", "createIndexes", "collMod", "findAndModify"})


def first_write_to(name: str) -> Callable[[bytes], bool]:
    def match(message: bytes) -> bool:
        command = command_of(message)
        return command is not None and command[0] in WRITES and command[1] == name

    return match


async def seed(src: AsyncDatabase[Any]) -> None:
    """``big``: one range, a collation (an option an implicit re-creation would lose); ``c0..c2``: the writer's."""
    await src.create_collection("big", collation=COLLATION)
    await src.big.insert_many([{"_id": i, "name": f"doc {i}", "pad": "x" * (i % 100)} for i in range(BIG)])
    for c in range(COLLS):
        await src[f"c{c}"].insert_many([initial_doc(c, i) for i in range(INITIAL)])


def has_documents(dst: AsyncDatabase[Any], name: str, at_least: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await dst[name].estimated_document_count() >= at_least

    return check


async def kill_with_batches_held(args: list[str], relay: HoldingRelay, dst: AsyncDatabase[Any]) -> None:
    """Run the copy through ``relay``; once ``big`` is partly written, hold a batch of it in flight and kill -9."""
    proc = await asyncio.create_subprocess_exec(*cli(*args), cwd=ROOT, stdout=PIPE, stderr=PIPE)
    try:
        await wait_until(has_documents(dst, "big", 1_000))
        relay.hold()
        await wait_until(reached(lambda: relay.held_into["big"] >= 1))
        assert proc.returncode is None, "the copy finished before it could be interrupted"
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()  # SIGKILL: what it sent is still on its way
        await proc.wait()


async def test_late_batches_of_a_killed_consistent_copy_are_harmless_to_the_resume(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, tmp_path: Path
) -> None:
    parts = urlsplit(mongo_uri_2)
    host, port = parts.hostname or "127.0.0.1", parts.port or 27017
    first, second = HoldingRelay(host, port), HoldingRelay(host, port, hold_after=first_write_to("big"))
    first_uri, second_uri = await first.start(), await second.start()
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    args = ["--src-uri", mongo_uri, "--src", db_name, "--dest", db_name_2, "--consistent", "--batch-size", "250"]
    log = tmp_path / "writes.jsonl"
    writer = None
    try:
        await seed(src)
        writer = await asyncio.create_subprocess_exec(
            sys.executable, str(WRITER), mongo_uri, db_name, str(log), str(COLLS), str(INITIAL), cwd=ROOT
        )
        await await_file_count(log, 20)  # a live writer on c0..c2 (never on big)
        await kill_with_batches_held([*args, "--dest-uri", first_uri], first, dst)
        assert await dst[STATE_COLLECTION].count_documents({"_id.done": "big"}) == 0

        resumed = await asyncio.create_subprocess_exec(
            *cli(*args, "--dest-uri", second_uri, "--resume", "--json"), cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        try:
            await wait_until(reached(lambda: second.holding))  # the resume restarted big, and waits
            first.release()  # the killed run's batches reach the server now ...
            await wait_until(reached(lambda: first.answered >= first.released))  # ... and are done
        finally:
            second.release()
        out, err = await asyncio.wait_for(resumed.communicate(), 240)
        writer.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(writer.wait(), 30) == 0

        assert first.held_into["big"] >= 1 and first.released == first.held
        assert resumed.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["resumed"] is True and report["verified"] is True
        ids = await dst.big.distinct("_id")
        assert await dst.big.count_documents({}) == len(ids) == BIG, "as many documents as _ids"
        assert await raw_sorted(dst, "big") == await raw_sorted(src, "big")
        options = [c["options"] async for c in await dst.list_collections(filter={"name": "big"})]
        assert options[0].get("collation", {}).get("locale") == "en", "the collection kept its options"
        at = Timestamp(report["point_in_time"]["cluster_time"]["t"], report["point_in_time"]["cluster_time"]["i"])
        state, _ = expected_at(log, at)
        assert contents(mongo_uri_2, db_name_2) == state
    finally:
        if writer is not None and writer.returncode is None:
            writer.kill()
            await writer.wait()
        await first.close()
        await second.close()
        await src_client.close()
        await dst_client.close()


async def test_a_late_batch_still_executing_when_the_resume_restarts_its_range_leaves_no_duplicates(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    """The issue's count: the killed run's big batch is executing on the server when the resume's first write
    to the collection arrives (old code: a drop; SecantusDB then kept documents outside the new ``_id`` index)."""
    parts = urlsplit(mongo_uri_2)
    host, port = parts.hostname or "127.0.0.1", parts.port or 27017
    first, second = HoldingRelay(host, port), HoldingRelay(host, port, hold_from=first_write_to("big"))
    first_uri, second_uri = await first.start(), await second.start()
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    args = ["--src-uri", mongo_uri, "--src", db_name, "--dest", db_name_2, "--batch-size", str(LATE_BATCH)]
    try:
        for start in range(0, LARGE, LATE_BATCH):
            await src.big.insert_many([{"_id": i, "pad": "x" * 100} for i in range(start, start + LATE_BATCH)])
        await kill_with_batches_held([*args, "--dest-uri", first_uri], first, dst)
        before = await dst.big.count_documents({})

        resumed = await asyncio.create_subprocess_exec(
            *cli(*args, "--dest-uri", second_uri, "--resume", "--json"), cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        try:
            await wait_until(reached(lambda: second.holding))  # the resume's first write to big waits
            first.release()  # the killed run's batch starts executing ...
            await wait_until(has_documents(dst, "big", before + 1))  # ... and is under way
        finally:
            second.release()  # the resume's first write to big arrives while it executes
        await wait_until(reached(lambda: first.answered >= first.released))
        out, err = await asyncio.wait_for(resumed.communicate(), 240)

        assert resumed.returncode == 0, err.decode()
        assert json.loads(out)["verified"] is True
        ids = await dst.big.distinct("_id")
        assert await dst.big.count_documents({}) == len(ids) == LARGE, "as many documents as _ids"
        assert await raw_sorted(dst, "big") == await raw_sorted(src, "big")
    finally:
        await first.close()
        await second.close()
        await src_client.close()
        await dst_client.close()
