"""Ctrl-C (or SIGKILL) at several points of a real ``backup_db.py`` run, then ONE ``--resume`` finishes it, verified.

The issue's case: the first resume after Ctrl-C failed with E11000 (duplicate key in ``ocr.chunks``)
because batches still in flight when the tool stopped landed after the resume had cleared their
range. Each case waits for an observable state of the destination (its resume state, its
documents), never for a fixed time, then signals the process. Default ``--parallel`` (4 ranges,
2 writers each): many batches are in flight at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable
from subprocess import PIPE
from typing import Any

import pytest
from bson import Binary, ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.manifest import read_manifest
from analytiq_data.backup.plan import STATE_COLLECTION
from tests.server.test_backup_resume import ROOT, cli, raw_sorted, wait_until

BIG = 8_000
RANGE_DOCS = 1_000  # 8 ranges of 4 batches
CHUNKS = 400


async def seed(db: AsyncDatabase[Any]) -> None:
    """``big`` (split into ranges), ``ocr.chunks`` (GridFS-like binary chunks) and ``small``."""
    docs = [{"_id": ObjectId(), "i": i, "pad": "x" * (i % 300)} for i in range(BIG)]
    for start in range(0, BIG, 4000):
        await db.big.insert_many(docs[start : start + 4000])
    chunks = [
        {"_id": ObjectId(), "files_id": i // 4, "n": i % 4, "data": Binary(bytes([i % 256]) * 4096)}
        for i in range(CHUNKS)
    ]
    await db["ocr.chunks"].insert_many(chunks)
    await db["ocr.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
    await db.small.insert_many([{"_id": i} for i in range(300)])


def planned(dst: AsyncDatabase[Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await dst[STATE_COLLECTION].find_one({"_id": "header"}) is not None

    return check


def copying(dst: AsyncDatabase[Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        done = await dst[STATE_COLLECTION].count_documents({"_id.range": {"$exists": True}})
        return done >= 1 and await dst.big.estimated_document_count() > 0

    return check


def one_collection_done(dst: AsyncDatabase[Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await dst[STATE_COLLECTION].find_one({"_id.done": {"$exists": True}}) is not None

    return check


CASES = {
    "sigint-after-planning": (planned, signal.SIGINT),
    "sigint-mid-copy": (copying, signal.SIGINT),
    "sigint-after-a-collection-verified": (one_collection_done, signal.SIGINT),
    "sigkill-mid-copy": (copying, signal.SIGKILL),
    "sigterm-mid-copy": (copying, signal.SIGTERM),  # as Ctrl-C: the same one line, no asyncio traceback
}


@pytest.mark.parametrize("case", list(CASES))
async def test_interrupted_then_one_resume_finishes_verified(
    case: str, mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    when, sig = CASES[case]
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    args = ["--src-uri", mongo_uri, "--dest-uri", mongo_uri_2, "--src", db_name, "--dest", db_name_2]
    args += ["--range-docs", str(RANGE_DOCS), "--batch-size", "250"]
    try:
        await seed(src)
        proc = await asyncio.create_subprocess_exec(*cli(*args), cwd=ROOT, stdout=PIPE, stderr=PIPE)
        try:
            await wait_until(when(dst))
            assert proc.returncode is None, "the copy finished before it could be interrupted"
            proc.send_signal(sig)
            _, err = await asyncio.wait_for(proc.communicate(), 120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if sig in (signal.SIGINT, signal.SIGTERM):
            assert proc.returncode == 130, err.decode()
            assert err.decode().strip().endswith("run the same command with --resume to finish it")
            assert "Traceback" not in err.decode()
        assert await dst[STATE_COLLECTION].find_one({"_id": "header"}) is not None
        assert await read_manifest(dst) is None  # not complete: nothing claims otherwise

        resumed = await asyncio.create_subprocess_exec(
            *cli(*args, "--resume", "--json"), cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        out, err = await asyncio.wait_for(resumed.communicate(), 300)

        assert resumed.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["resumed"] is True and report["verified"] is True
        for name in ("big", "ocr.chunks", "small"):
            assert await raw_sorted(dst, name) == await raw_sorted(src, name), name  # nothing lost, no duplicates
        assert STATE_COLLECTION not in await dst.list_collection_names()
        manifest = await read_manifest(dst)
        assert manifest is not None and manifest.verified is True and manifest.resumed is True
        assert manifest.documents == BIG + CHUNKS + 300
    finally:
        await src_client.close()
        await dst_client.close()
