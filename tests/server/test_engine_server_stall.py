"""A server slow to answer for longer than ``--timeout`` does not cancel the run's operations
(issue 10, point 6: ``down`` on the 100,000-document sample failed with "operation cancelled").

The cause, found with the driver's monitoring events on that sample: the client was built with
``connectTimeoutMS`` = ``--timeout`` (5 s). The driver's monitor waits for the server's streaming
heartbeat ``connectTimeoutMS + heartbeatFrequencyMS`` (15 s); a busy server (a long replay on a
loaded machine) answered it after 15.01 s, so the driver declared a network timeout, cleared the
pool and *interrupted every operation in flight*: the journal replay's write failed with
"operation cancelled" (and the retried inserts of ``sample`` with duplicate keys).

Here the stall is made on purpose, at small size: the test server is paused (SIGSTOP) while a
step has a query in flight, with ``heartbeatFrequencyMS=500`` and ``--timeout 1`` so the old
tolerance was 1.5 s. The pause lasts STALL_S: well past that, far below the 20 s the client now
allows (``connectTimeoutMS`` no longer follows ``--timeout``, which still bounds finding a server).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import Migration
from tools.testserver import TestServer

STALL_S = 4.0  # the length of the simulated stall (not a synchronisation): > 1.5 s, < 20 s


class QueriesThroughAStall(Migration):
    """Keep one query in flight until told the stall is over."""

    use_transaction = False

    def __init__(self, entered: asyncio.Event, resumed: asyncio.Event) -> None:
        super().__init__("query through a server stall")
        self.entered, self.resumed = entered, resumed

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        self.entered.set()
        queries = 0
        while not self.resumed.is_set():
            await db.things.find_one({"_id": queries})
            queries += 1
        await db.things.insert_one({"_id": "done", "queries": queries})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.things.delete_many({})
        return True


@pytest.mark.controls_server
async def test_a_step_rides_out_a_server_stall_longer_than_the_timeout(
    server_factory: Callable[..., TestServer],
) -> None:
    server = server_factory()
    client = AnalytiqClient(uri=server.uri + "&heartbeatFrequencyMS=500", env="stall", timeout_s=1)
    entered, resumed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        ad.migrations.run_migrations(client, migrations=[QueriesThroughAStall(entered, resumed)])
    )
    try:
        await asyncio.wait_for(entered.wait(), 60)
        os.killpg(server.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(STALL_S)
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        resumed.set()
        result = await asyncio.wait_for(task, 60)
    finally:
        resumed.set()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
    assert (result.from_version, result.to_version) == (0, 1)
    check = AnalytiqClient(uri=server.uri, env="stall")
    try:
        assert (await check.mongodb_async.stall.things.find_one({"_id": "done"}) or {}).get("queries", 0) >= 1
    finally:
        await check.close()
