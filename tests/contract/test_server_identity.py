"""Server facts the backup engine uses: opcounters, process identity, cross-database rename, durability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from analytiq_data.client import server_kind
from tests.servers import using_real_server
from tools.testserver import TestServer


async def test_server_status_counts_operations(client: AsyncMongoClient[Any], db: AsyncDatabase[Any]) -> None:
    """On mongod: opcounters.insert counts documents (+3 for one insert of 3). On SecantusDB: commands (+1)."""
    await db.create_collection("counted")
    before = (await client.admin.command("serverStatus"))["opcounters"]
    await db.counted.insert_many([{"i": i} for i in range(3)])
    await db.counted.find_one({"i": 1})
    after = (await client.admin.command("serverStatus"))["opcounters"]
    assert set(after) >= {"insert", "query", "update", "delete", "getmore", "command"}
    if using_real_server():
        assert after["insert"] - before["insert"] >= 3  # other clients may be writing too
        assert after["query"] - before["query"] >= 1
    else:
        assert after["insert"] - before["insert"] == 1
        assert after["query"] - before["query"] == 1


async def test_process_id_is_stable_per_process_and_differs_between_servers(
    client: AsyncMongoClient[Any], mongo_uri_2: str
) -> None:
    first = server_kind(await client.admin.command("hello")).process_id
    again = server_kind(await client.admin.command("hello")).process_id
    other: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2, serverSelectionTimeoutMS=5000)
    try:
        second = server_kind(await other.admin.command("hello")).process_id
    finally:
        await other.close()
    assert first is not None
    assert first == again
    assert second != first


async def test_rename_collection_across_databases(client: AsyncMongoClient[Any], db_name: str) -> None:
    """renameCollection moves a collection, with its indexes, to another database on the same server;
    an existing target is refused (code 48) unless dropTarget is set."""
    source, target = client[db_name], client[db_name + "_other"]
    await source.staged.insert_many([{"_id": i, "k": i} for i in range(5)])
    await source.staged.create_index("k", unique=True)
    await target.live.insert_one({"_id": "old"})
    with pytest.raises(OperationFailure) as info:
        await client.admin.command("renameCollection", f"{db_name}.staged", to=f"{target.name}.live")
    assert info.value.code == 48
    await client.admin.command("renameCollection", f"{db_name}.staged", to=f"{target.name}.live", dropTarget=True)
    assert await target.live.count_documents({}) == 5
    assert "k_1" in await target.live.index_information()
    assert "staged" not in await source.list_collection_names()


async def _process_id(uri: str) -> Any:
    c: AsyncMongoClient[Any] = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        return server_kind(await c.admin.command("hello")).process_id
    finally:
        await c.close()


@pytest.mark.controls_server
async def test_process_id_changes_when_the_server_restarts(server_factory: Callable[..., TestServer]) -> None:
    """topologyVersion.processId names a process, not its data: compare two servers only while both run."""
    server = server_factory()
    before = await _process_id(server.uri)
    server.kill()
    server.restart()
    after = await _process_id(server.uri)
    server.kill()  # no graceful shutdown needed: the storage is thrown away
    assert before is not None
    assert after != before


@pytest.mark.controls_server
async def test_journaled_writes_and_indexes_survive_sigkill(server_factory: Callable[..., TestServer]) -> None:
    """Writes acknowledged with j=True survive SIGKILL and a restart on the same storage.

    On SecantusDB only j=True makes the acknowledgement wait for the journal: with the default write
    concern, w=1 or even w="majority", the last writes before a SIGKILL (about the last 100 ms) can be
    lost. mongod journals w="majority" writes on a replica set before acknowledging them, but not w=1
    on a standalone. Checkpoints that a resume trusts must be written with j=True.
    """
    server = server_factory()
    c: AsyncMongoClient[Any] = AsyncMongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        docs = c.durable.get_collection("docs", write_concern=WriteConcern(w=1, j=True))
        await docs.create_index("k", unique=True)
        await docs.insert_many([{"_id": i, "k": i} for i in range(5000)])
        await docs.update_one({"_id": 0}, {"$set": {"touched": True}})
        await docs.delete_one({"_id": 1})
        await docs.insert_one({"_id": "last", "k": -1})
    finally:
        await c.close()
    server.kill()
    server.restart()
    c = AsyncMongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        docs = c.durable.docs
        assert await docs.count_documents({}) == 5000
        assert (await docs.find_one({"_id": 0}) or {}).get("touched") is True
        assert await docs.find_one({"_id": 1}) is None
        assert await docs.find_one({"_id": "last"}) == {"_id": "last", "k": -1}
        assert (await docs.index_information())["k_1"]["unique"] is True
        with pytest.raises(DuplicateKeyError):
            await docs.insert_one({"_id": "dup", "k": 2})
    finally:
        await c.close()
        server.kill()  # no graceful shutdown needed: the storage is thrown away
