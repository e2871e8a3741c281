"""Breaking another client's transaction: killSessions (and endSessions) with that session's lsid.

This is how the migration lock breaks a dead holder's transaction on mongod: the holder records
its lsid; a successor kills that session, after which the holder's writes are gone and
conflicting writes proceed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout, OperationFailure

from analytiq_data.client import server_kind
from tests.servers import using_real_server

WAIT_MS = 300


async def _open_transaction(client: AsyncMongoClient[Any], db: AsyncDatabase[Any]) -> AsyncClientSession:
    """Leave a transaction open on ``client`` that has changed doc 1 and inserted doc 2."""
    if not server_kind(await client.admin.command("hello")).supports_transactions:
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions to kill")
    await db.locked.insert_one({"_id": 1, "v": "committed"})
    session = client.start_session()
    await session.start_transaction()
    await db.locked.update_one({"_id": 1}, {"$set": {"v": "holder"}}, session=session)
    await db.locked.insert_one({"_id": 2}, session=session)
    return session


async def _update_with_time_limit(db: AsyncDatabase[Any], value: str) -> dict[str, Any]:
    """Update doc 1 outside any transaction, giving up on the server after WAIT_MS."""
    reply: dict[str, Any] = await db.command(
        "update", "locked", updates=[{"q": {"_id": 1}, "u": {"$set": {"v": value}}}], maxTimeMS=WAIT_MS
    )
    return reply


async def test_conflicting_write_waits_for_an_open_transaction(
    client: AsyncMongoClient[Any], other_client: AsyncMongoClient[Any], db_name: str
) -> None:
    """On both servers a write to a document an open transaction changed waits, here until maxTimeMS (code 50)."""
    session = await _open_transaction(client, client[db_name])
    try:
        started = time.monotonic()
        with pytest.raises(ExecutionTimeout) as info:
            await _update_with_time_limit(other_client[db_name], "intruder")
        assert info.value.code == 50
        assert time.monotonic() - started >= WAIT_MS / 1000
        assert await other_client[db_name].locked.find_one({"_id": 1}) == {"_id": 1, "v": "committed"}
    finally:
        await session.abort_transaction()
        await session.end_session()


async def test_insert_of_a_key_an_open_transaction_inserted_waits_for_it(
    client: AsyncMongoClient[Any], other_client: AsyncMongoClient[Any], db_name: str
) -> None:
    """On mongod: the insert waits, then fails at maxTimeMS (code 50). On SecantusDB: it ignores
    maxTimeMS and waits until the transaction ends (here: aborted, so the insert then succeeds).

    An insert or upsert racing a dead holder's open transaction on the same _id will hang on
    SecantusDB, however short its maxTimeMS: break the holder's session (killSessions) first.
    """
    session = await _open_transaction(client, client[db_name])
    try:
        insert = asyncio.ensure_future(
            other_client[db_name].command("insert", "locked", documents=[{"_id": 2}], maxTimeMS=WAIT_MS)
        )
        done, _ = await asyncio.wait({insert}, timeout=5 * WAIT_MS / 1000)
        if using_real_server():
            assert done
            with pytest.raises(ExecutionTimeout):
                insert.result()
        else:
            assert not done
            await session.abort_transaction()
            assert (await asyncio.wait_for(insert, 10))["n"] == 1
    finally:
        if session.in_transaction:
            await session.abort_transaction()
        await session.end_session()


async def test_kill_sessions_from_another_client_ends_the_transaction(
    client: AsyncMongoClient[Any], other_client: AsyncMongoClient[Any], db_name: str
) -> None:
    session = await _open_transaction(client, client[db_name])
    try:
        reply = await other_client.admin.command("killSessions", [session.session_id])
        assert reply["ok"] == 1
        assert (await _update_with_time_limit(other_client[db_name], "successor"))["nModified"] == 1
        with pytest.raises(OperationFailure) as info:
            await session.commit_transaction()
        if not using_real_server():
            assert info.value.code == 251  # NoSuchTransaction, labelled TransientTransactionError
            assert info.value.has_error_label("TransientTransactionError")
        docs = await other_client[db_name].locked.find({}).to_list()
        assert docs == [{"_id": 1, "v": "successor"}]  # the holder's insert of doc 2 is gone
    finally:
        await session.end_session()


async def test_kill_sessions_accepts_an_unknown_session(other_client: AsyncMongoClient[Any]) -> None:
    """Killing a session that no longer exists (holder long gone) is not an error."""
    async with other_client.start_session() as session:
        lsid = session.session_id
    assert (await other_client.admin.command("killSessions", [lsid]))["ok"] == 1


async def test_end_sessions_from_another_client(
    client: AsyncMongoClient[Any], other_client: AsyncMongoClient[Any], db_name: str
) -> None:
    """On SecantusDB: endSessions aborts the transaction at once. On mongod: it only marks the session
    for the next session-cache refresh, so use killSessions to break a holder's transaction."""
    session = await _open_transaction(client, client[db_name])
    try:
        assert (await other_client.admin.command("endSessions", [session.session_id]))["ok"] == 1
        if not using_real_server():
            assert (await _update_with_time_limit(other_client[db_name], "successor"))["nModified"] == 1
            with pytest.raises(OperationFailure) as info:
                await session.commit_transaction()
            assert info.value.code == 251
    finally:
        if session.in_transaction:
            await session.abort_transaction()
        await session.end_session()
