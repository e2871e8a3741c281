"""Transactions: commit, abort, topology detection from hello, and SecantusDB's standalone difference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from analytiq_data.client import server_kind
from tests.servers import using_real_server
from tools.testserver import TestServer


async def _supports_transactions(client: AsyncMongoClient[Any]) -> bool:
    return server_kind(await client.admin.command("hello")).supports_transactions


async def test_with_transaction_commits_every_write(client: AsyncMongoClient[Any], db: AsyncDatabase[Any]) -> None:
    if not await _supports_transactions(client):
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions there (asserted below)")
    await db.create_collection("migrations")
    await db.create_collection("runs")

    async def step(session: AsyncClientSession) -> None:
        await db.runs.insert_one({"_id": 1}, session=session)
        await db.migrations.update_one(
            {"_id": "schema_version"}, {"$set": {"version": 2}}, upsert=True, session=session
        )

    async with client.start_session() as session:
        await session.with_transaction(step)
    assert await db.runs.count_documents({}) == 1
    assert await db.migrations.find_one({"_id": "schema_version"}) == {"_id": "schema_version", "version": 2}


async def test_with_transaction_rolls_back_when_the_callback_raises(
    client: AsyncMongoClient[Any], db: AsyncDatabase[Any]
) -> None:
    if not await _supports_transactions(client):
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions there (asserted below)")
    await db.runs.insert_one({"_id": 0, "v": "before"})

    async def step(session: AsyncClientSession) -> None:
        await db.runs.update_one({"_id": 0}, {"$set": {"v": "during"}}, session=session)
        await db.runs.insert_one({"_id": 1}, session=session)
        raise RuntimeError("migration step failed")

    async with client.start_session() as session:
        with pytest.raises(RuntimeError, match="migration step failed"):
            await session.with_transaction(step)
    assert await db.runs.find({}).to_list() == [{"_id": 0, "v": "before"}]


async def test_explicit_abort_discards_writes_and_hides_them_meanwhile(
    client: AsyncMongoClient[Any], db: AsyncDatabase[Any]
) -> None:
    if not await _supports_transactions(client):
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions there (asserted below)")
    await db.create_collection("runs")
    async with client.start_session() as session:
        await session.start_transaction()
        await db.runs.insert_one({"_id": 1}, session=session)
        assert await db.runs.count_documents({}, session=session) == 1
        assert await db.runs.count_documents({}) == 0  # not visible outside before commit
        await session.abort_transaction()
    assert await db.runs.count_documents({}) == 0


async def test_hello_tells_whether_transactions_are_available(
    client: AsyncMongoClient[Any], db: AsyncDatabase[Any]
) -> None:
    """The default test server is a one-node replica set; a standalone mongod refuses transactions (code 20)."""
    kind = server_kind(await client.admin.command("hello"))
    if not using_real_server():
        assert (kind.topology, kind.supports_transactions) == ("replicaset", True)
        assert kind.set_name
    await db.create_collection("runs")
    async with client.start_session() as session:
        await session.start_transaction()
        if kind.supports_transactions:
            await db.runs.insert_one({"_id": 1}, session=session)
            await session.commit_transaction()
            assert await db.runs.count_documents({}) == 1
        else:
            with pytest.raises(OperationFailure) as info:
                await db.runs.insert_one({"_id": 1}, session=session)
            assert info.value.code == 20  # IllegalOperation: "Transaction numbers are only allowed on ..."


@pytest.mark.controls_server
async def test_standalone_server_is_detected_yet_accepts_transactions(
    server_factory: Callable[..., TestServer],
) -> None:
    """On SecantusDB --standalone: hello says standalone, yet a transaction commits. mongod refuses (code 20).

    So code must decide "transactions available?" from hello (server_kind), never by trying one.
    """
    server = server_factory(standalone=True)
    c: AsyncMongoClient[Any] = AsyncMongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        kind = server_kind(await c.admin.command("hello"))
        assert (kind.topology, kind.set_name, kind.supports_transactions) == ("standalone", None, False)
        db = c.contract
        await db.create_collection("runs")
        async with c.start_session() as session:
            await session.start_transaction()
            await db.runs.insert_one({"_id": 1}, session=session)
            await session.abort_transaction()
        assert await db.runs.count_documents({}) == 0  # the abort took effect: it was a real transaction
    finally:
        await c.close()
        server.kill()  # no graceful shutdown needed: the storage is thrown away
