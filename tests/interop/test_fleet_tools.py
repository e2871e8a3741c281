"""Archives of several databases and the real mongo-tools, both ways: ours restore with mongorestore,
mongodump's (several databases, ``--nsInclude``) restore tenant by tenant with ``restore --db GLOB``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from tests.interop.conftest import Tool
from tests.interop.test_mongo_tools import run
from tests.migrations_fixtures.helpers import CLI
from tests.server.dump_fixture import state
from tests.server.test_fleet_run import make_tenants


async def test_our_archive_of_several_databases_restores_with_mongorestore(
    tool: Tool, tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 2)
    archive = tmp_path / "tenants.archive"
    done = run(CLI, "backup", "--src-uri", mongo_uri, "--src", f"{db_name}_t*", "--archive", str(archive), "--gzip")
    assert done.returncode == 0, done.stderr
    for name in names:  # each tenant out of the one archive, under another name
        copy = f"{name}_mr"
        ns = ("--nsInclude", f"{name}.*", "--nsFrom", f"{name}.*", "--nsTo", f"{copy}.*")
        tool("mongorestore", "--uri", mongo_uri, f"--archive={archive}", "--gzip", *ns)
        assert await state(client[copy]) == await state(client[name])


async def test_a_mongodump_archive_of_several_databases_restores_tenant_by_tenant(
    tool: Tool, tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 3)
    archive = tmp_path / "mongodump.archive"
    tool("mongodump", "--uri", mongo_uri, f"--archive={archive}")  # every database of the server in one archive
    dumped = {n: await state(client[n]) for n in names}
    for name in names:
        await client[name].users.insert_one({"_id": 99, "email": "after@dump.org"})
    done = run(CLI, "restore", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--archive", str(archive), "--yes")
    assert done.returncode == 0, done.stderr
    for name in names:
        assert await state(client[name]) == dumped[name]
