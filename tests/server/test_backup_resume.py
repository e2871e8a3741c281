"""Killed at any point (the tool, or the destination server), ``--resume`` finishes to a verified copy.

Each test waits for an observable condition (a range recorded as finished in the destination's
resume state and more documents written after it), never for a fixed time, then interrupts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL, PIPE
from typing import Any

import pytest
from bson import CodecOptions, ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, CopyMismatch, backup
from analytiq_data.errors import DatabaseConnectionError, ExitCode
from tools.testserver import TestServer

ROOT = Path(__file__).resolve().parents[2]
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
BIG = 12_000
RANGE_DOCS = 2_000  # 6 ranges of 4 batches (batch size 500)
STATE = "__backup_state"


async def seed(db: AsyncDatabase[Any]) -> None:
    """Fill the source: ``big`` (split into ranges of RANGE_DOCS) and ``small`` (copied after ``big``)."""
    docs = [{"_id": ObjectId(), "i": i, "payload": "x" * (i % 200), "nested": {"i": [i, str(i)]}} for i in range(BIG)]
    for start in range(0, BIG, 4000):
        await db.big.insert_many(docs[start : start + 4000])
    await db.big.create_index("i", unique=True)
    await db.small.insert_many([{"_id": i} for i in range(300)])


async def progress_made(dst: AsyncDatabase[Any]) -> bool:
    """Return whether at least one range of ``big`` is recorded finished and more was written since."""
    done = [d async for d in dst[STATE].find({"_id.range": {"$exists": True}, "_id.c": "big"})]
    if not done:
        return False
    finished = sum(int(d["count"]) for d in done)
    return finished < BIG and await dst.big.count_documents({}) > finished


async def wait_until(check: Callable[[], Any], *, limit_s: float = 120.0) -> None:
    """Poll ``check`` (a coroutine function) until it returns True; fail after ``limit_s`` seconds."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the server may be busy or restarting
            if await check():
                return
        await asyncio.sleep(0.02)  # pacing between polls, not synchronisation
    pytest.fail(f"condition not reached within {limit_s}s")


async def finished_ranges(dst: AsyncDatabase[Any]) -> int:
    return await dst[STATE].count_documents({"_id.range": {"$exists": True}, "_id.c": "big"})


async def raw_sorted(db: AsyncDatabase[Any], name: str) -> list[bytes]:
    return sorted([bytes(d.raw) async for d in db.get_collection(name, codec_options=RAW).find()])


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "backup_db.py"), *args]


async def test_sigkill_of_the_tool_then_resume(mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str) -> None:
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    args = ["--src-uri", mongo_uri, "--dest-uri", mongo_uri_2, "--src", db_name, "--dest", db_name_2]
    args += ["--range-docs", str(RANGE_DOCS), "--parallel", "1", "--batch-size", "500"]
    try:
        await seed(src)
        proc = await asyncio.create_subprocess_exec(*cli(*args), cwd=ROOT, stdout=DEVNULL, stderr=DEVNULL)
        try:
            await wait_until(lambda: progress_made(dst))
            assert proc.returncode is None, "the copy finished before it could be interrupted"
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # SIGKILL: no cleanup of any kind
            await asyncio.wait_for(proc.wait(), 30)
        done = await finished_ranges(dst)
        assert 1 <= done < BIG // RANGE_DOCS

        resumed = await asyncio.create_subprocess_exec(
            *cli(*args, "--resume", "--json"), cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        out, err = await asyncio.wait_for(resumed.communicate(), 240)

        assert resumed.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["resumed"] is True and report["verified"] is True
        big = next(c for c in report["collections"] if c["name"] == "big")
        assert big["resumed_ranges"] == done
        assert big["documents"] == BIG
        assert await raw_sorted(dst, "big") == await raw_sorted(src, "big")  # no duplicates, nothing lost
        assert await dst.small.count_documents({}) == 300
        assert STATE not in await dst.list_collection_names()
    finally:
        await src_client.close()
        await dst_client.close()


async def test_resume_does_not_recopy_finished_ranges(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    options = BackupOptions(
        src_uri=mongo_uri,
        dest_uri=mongo_uri_2,
        src_db=db_name,
        dest_db=db_name_2,
        range_docs=RANGE_DOCS,
        parallel=1,
        batch_size=500,
    )
    try:
        await seed(src)
        task = asyncio.create_task(backup(options))
        await wait_until(lambda: progress_made(dst))
        task.cancel()  # as Ctrl-C would
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Ranges are copied in _id order with --parallel 1: the smallest _id lies in a finished range.
        first = await dst.big.find_one(sort=[("_id", 1)])
        assert first is not None
        await dst.big.update_one({"_id": first["_id"]}, {"$set": {"tampered": True}})

        with pytest.raises(CopyMismatch) as err:
            await backup(dataclasses.replace(options, resume=True))

        # Had the finished range been copied again, the tampered document would be fixed.
        assert [d.split(" (")[0] for d in err.value.result.differences] == ["big: document contents differ"]
        assert err.value.result.resumed is True

        # The failed verification keeps the resume state (issue 17 §4): the next resume copies big again, only big.
        assert await dst[STATE].find_one({"_id": "header"}) is not None, "the resume state was discarded"
        assert "--resume" in (err.value.hint or "") and "big" in (err.value.hint or "")
        again = await backup(dataclasses.replace(options, resume=True))
        assert again.verified is True and again.resumed is True
        assert next(r for r in again.collections if r.name == "big").resumed_ranges == 0, "big copied again"
        small = [next(r for r in run.collections if r.name == "small") for run in (again, err.value.result)]
        assert small[0] == small[1], "small was not copied again"
        assert await raw_sorted(dst, "big") == await raw_sorted(src, "big")
        assert STATE not in await dst.list_collection_names()
    finally:
        await src_client.close()
        await dst_client.close()


@pytest.mark.controls_server
async def test_destination_server_killed_then_resume(
    mongo_uri: str, db_name: str, server_factory: Callable[..., TestServer]
) -> None:
    server = server_factory()
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    watcher: AsyncMongoClient[Any] = AsyncMongoClient(server.uri, serverSelectionTimeoutMS=2000)
    src, dst = src_client[db_name], watcher["copy"]
    options = BackupOptions(
        src_uri=mongo_uri,
        dest_uri=server.uri,
        src_db=db_name,
        dest_db="copy",
        range_docs=RANGE_DOCS,
        parallel=1,
        batch_size=500,
        timeout_s=2,
    )
    try:
        await seed(src)
        task = asyncio.create_task(backup(options))
        await wait_until(lambda: progress_made(dst))
        server.kill()  # SIGKILL of the destination mid-copy
        with pytest.raises(DatabaseConnectionError) as err:
            await task
        assert err.value.exit_code == ExitCode.CONNECTION
        assert "lost the destination" in err.value.message and "--resume" in (err.value.hint or "")

        server.restart()  # same storage, same port
        result = await backup(dataclasses.replace(options, resume=True))

        assert result.verified is True and result.resumed is True
        big = next(r for r in result.collections if r.name == "big")
        assert big.resumed_ranges >= 1
        assert await raw_sorted(dst, "big") == await raw_sorted(src, "big")
        assert STATE not in await dst.list_collection_names()
    finally:
        await src_client.close()
        await watcher.close()
