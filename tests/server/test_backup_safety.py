"""A backup never damages anything: it refuses unsafe requests and never writes to the source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient

from analytiq_data.backup import BackupOptions, CopyMismatch, backup, verify
from analytiq_data.errors import ConfigurationError, ExitCode


@pytest.fixture
async def src_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def dst_client(mongo_uri_2: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2, tz_aware=True)
    yield client
    await client.close()


async def fill(client: AsyncMongoClient[Any], db: str) -> None:
    await client[db].users.insert_many([{"_id": i, "name": f"u{i}"} for i in range(300)])
    await client[db].users.create_index("name", unique=True)
    await client[db].logs_2024.insert_many([{"n": i} for i in range(50)])
    await client[db].logs_old.insert_one({"n": 0})
    await client[db].create_collection("active", viewOn="users", pipeline=[{"$match": {"_id": {"$lt": 10}}}])


def spellings(uri: str, set_name: str | None) -> list[str]:
    """Return other ways to write a URI reaching the same server (another host name, other options)."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    out = [urlunsplit(parts._replace(query=(parts.query + "&" if parts.query else "") + "appname=other&w=1"))]
    twin = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host)
    if twin:
        out.append(urlunsplit(parts._replace(netloc=parts.netloc.replace(host + port, twin + port))))
    if set_name and "directConnection=true" in parts.query:
        # Replica-set discovery instead of a direct connection: the driver finds the primary itself.
        query = parts.query.replace("directConnection=true", f"replicaSet={set_name}")
        out.append(urlunsplit(parts._replace(query=query)))
    else:
        out.append(
            urlunsplit(parts._replace(query=(parts.query + "&" if parts.query else "") + "connectTimeoutMS=3000"))
        )
    return out


async def test_same_database_is_refused_however_the_uri_is_spelled(
    mongo_uri: str, src_client: AsyncMongoClient[Any], db_name: str
) -> None:
    await fill(src_client, db_name)
    hello = await src_client.admin.command("hello")
    variants = spellings(mongo_uri, hello.get("setName"))
    assert len(variants) >= 3
    before = sorted(await src_client[db_name].list_collection_names())
    for dest_uri in [None, *variants]:
        for dest_db in (db_name, db_name.upper()):
            with pytest.raises(ConfigurationError, match="source and destination are the same database") as err:
                await backup(
                    BackupOptions(src_uri=mongo_uri, dest_uri=dest_uri, src_db=db_name, dest_db=dest_db, drop=True)
                )
            assert err.value.exit_code == ExitCode.CONFIGURATION
            assert "--dest" in (err.value.hint or "")
    assert sorted(await src_client[db_name].list_collection_names()) == before  # --drop dropped nothing
    assert await src_client[db_name].users.count_documents({}) == 300


async def test_another_database_on_the_same_server_is_allowed(
    mongo_uri: str, src_client: AsyncMongoClient[Any], db_name: str
) -> None:
    await fill(src_client, db_name)
    copy = f"{db_name}_copy"
    result = await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=copy))
    assert result.verified is True
    assert await src_client[copy].users.count_documents({}) == 300
    views = [c async for c in await src_client[copy].list_collections(filter={"type": "view"})]
    assert [v["name"] for v in views] == ["active"]


async def test_non_empty_destination_is_refused_then_replaced_with_drop(
    mongo_uri: str,
    mongo_uri_2: str,
    src_client: AsyncMongoClient[Any],
    dst_client: AsyncMongoClient[Any],
    db_name: str,
    db_name_2: str,
) -> None:
    await fill(src_client, db_name)
    await dst_client[db_name_2].stale.insert_one({"keep": "me?"})
    options: dict[str, Any] = {"src_uri": mongo_uri, "dest_uri": mongo_uri_2, "src_db": db_name, "dest_db": db_name_2}
    with pytest.raises(ConfigurationError, match="is not empty") as err:
        await backup(BackupOptions(**options))
    assert "--drop" in (err.value.hint or "") and "--resume" in (err.value.hint or "")
    assert await dst_client[db_name_2].stale.count_documents({}) == 1
    with pytest.raises(ConfigurationError, match="holds no interrupted backup"):
        await backup(BackupOptions(**options, resume=True))

    result = await backup(BackupOptions(**options, drop=True))

    assert result.verified is True
    assert sorted(await dst_client[db_name_2].list_collection_names()) == [
        "__backup_manifest",  # the record of a complete backup
        "active",
        "logs_2024",
        "logs_old",
        "users",
    ]


async def test_missing_source_database_is_refused(mongo_uri: str, mongo_uri_2: str, db_name: str) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        await backup(BackupOptions(src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db="x_nothing"))


async def test_the_source_is_never_written(
    mongo_uri: str, mongo_uri_2: str, src_client: AsyncMongoClient[Any], db_name: str, db_name_2: str
) -> None:
    await fill(src_client, db_name)
    before = (await src_client.admin.command("serverStatus"))["opcounters"]
    await backup(BackupOptions(src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2))
    after = (await src_client.admin.command("serverStatus"))["opcounters"]
    assert {k: after[k] - before[k] for k in ("insert", "update", "delete")} == {"insert": 0, "update": 0, "delete": 0}
    assert "__backup_state" not in await src_client[db_name].list_collection_names()


async def test_include_exclude_and_dry_run(
    mongo_uri: str,
    mongo_uri_2: str,
    src_client: AsyncMongoClient[Any],
    dst_client: AsyncMongoClient[Any],
    db_name: str,
    db_name_2: str,
) -> None:
    await fill(src_client, db_name)
    base: dict[str, Any] = {"src_uri": mongo_uri, "dest_uri": mongo_uri_2, "src_db": db_name, "dest_db": db_name_2}
    plan = await backup(BackupOptions(**base, dry_run=True, exclude=("logs_old",)))
    assert plan.mode == "dry-run"
    assert {r.name: r.documents for r in plan.collections} == {"users": 300, "logs_2024": 50}
    assert [r.name for r in plan.views] == ["active"]
    assert all(r.nbytes > 0 for r in plan.collections)
    assert db_name_2 not in await dst_client.list_database_names()  # a dry run writes nothing

    result = await backup(BackupOptions(**base, include=("logs_*", "users"), exclude=("logs_old",)))
    assert sorted(r.name for r in result.reports) == ["logs_2024", "users"]
    assert sorted(await dst_client[db_name_2].list_collection_names()) == ["__backup_manifest", "logs_2024", "users"]
    with pytest.raises(ConfigurationError, match="no collection"):
        await backup(BackupOptions(**base, drop=True, include=("nothing*",)))


async def test_verification_catches_every_kind_of_difference(
    mongo_uri: str,
    mongo_uri_2: str,
    src_client: AsyncMongoClient[Any],
    dst_client: AsyncMongoClient[Any],
    db_name: str,
    db_name_2: str,
) -> None:
    await fill(src_client, db_name)
    base: dict[str, Any] = {"src_uri": mongo_uri, "dest_uri": mongo_uri_2, "src_db": db_name, "dest_db": db_name_2}
    await backup(BackupOptions(**base))
    assert (await verify(BackupOptions(**base))).verified is True
    dst = dst_client[db_name_2]
    await dst.users.update_one({"_id": 5}, {"$set": {"name": "changed"}})
    await dst.logs_2024.delete_one({})
    await dst.users.drop_index("name_1")
    await dst.drop_collection("active")
    await dst.create_collection("active", viewOn="users", pipeline=[])
    await dst.extra.insert_one({})

    with pytest.raises(CopyMismatch) as err:
        await verify(BackupOptions(**base))

    assert err.value.exit_code == ExitCode.VERIFICATION
    diffs = err.value.result.differences
    assert any(d.startswith("users: document contents differ") for d in diffs)
    assert "users: index 'name_1' is missing on the destination" in diffs
    assert "logs_2024: 50 documents in the source, 49 in the destination" in diffs
    assert any(d.startswith("active: option 'pipeline' differs") for d in diffs)
    assert "extra: exists only in the destination" in diffs
    assert not any(d.startswith("logs_old") for d in diffs)
