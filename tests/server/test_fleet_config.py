"""Which databases, from the configuration and from the server: an application's tenant catalog,
``--all-databases`` on a server of our own (system databases and our backups left out, a password
in the URI never shown), ``status`` over many, and the verbs that work on one database."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from analytiq_data.backup import BackupOptions, backup
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.test_fleet_run import make_tenants
from tools.testserver import TestServer

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
OURS = ("MONGODB_URI", "ENV", "ANALYTIQ_DB_URI", "ANALYTIQ_DB_DATABASE", "ANALYTIQ_DB_DATABASES")

CATALOG_MODULE = '''
async def list_tenant_dbs(client):
    """The application's catalog: one document per tenant, naming its database."""
    return [t["db"] async for t in client[CATALOG]["tenants"].find({"active": True})]
'''


def run_in(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean["PYTHONPATH"] = f"{cwd}{os.pathsep}{ROOT}"
    return subprocess.run([CLI, *args], cwd=cwd, env=clean | env, capture_output=True, text=True, timeout=300)


async def test_the_tenant_list_comes_from_the_applications_catalog(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 3)
    catalog = f"{db_name}_catalog"
    await client[catalog].tenants.insert_many(
        [{"db": names[0], "active": True}, {"db": names[2], "active": True}, {"db": names[1], "active": False}]
    )
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tenants.py").write_text(f"CATALOG = {catalog!r}\n{CATALOG_MODULE}")
    table = f'[tool.analytiq-db]\nmigrations = "{BASIC}"\ndatabases = "myapp.tenants:list_tenant_dbs"\n'
    (tmp_path / "pyproject.toml").write_text(table)
    done = run_in(tmp_path, "up", "--uri", mongo_uri, "--json", ENV="prod")  # a stray ENV is passed over
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [d["database"] for d in found["databases"]] == [names[0], names[2]]
    assert found["connection"]["ignored"] == ["ENV"]
    assert found["selection"].startswith("2 databases: myapp.tenants:list_tenant_dbs (from ")
    one = run_in(tmp_path, "unlock", "--uri", mongo_uri)  # a verb on one database refuses several
    assert one.returncode == 3
    assert one.stderr.strip().endswith("selects several — give one --db NAME")
    assert run_in(tmp_path, "unlock", "--uri", mongo_uri, "--db", names[0]).returncode == 0
    listed = tmp_path / "tenants.txt"
    listed.write_text(f"{names[1]}\n")
    from_file = run_in(tmp_path, "status", "--uri", mongo_uri, ANALYTIQ_DB_DATABASES=f"file:{listed}")
    assert from_file.returncode == 0, from_file.stderr
    assert f"0 (3 steps pending) │ 1         │ {names[1]}" in from_file.stdout


async def test_status_over_many_counts_versions_and_names_who_needs_a_person(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 4)
    up = run_in(ROOT, "up", "--uri", mongo_uri, "--db", f"{db_name}_t0[012]", "--migrations", BASIC)
    assert up.returncode == 0, up.stderr
    await client[names[1]].migrations.update_one({"_id": "schema_version"}, {"$set": {"version": 5}})
    done = run_in(ROOT, "status", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", BASIC)
    assert done.returncode == 1, done.stderr  # one database needs a person: as status on one exits
    lines = done.stdout.splitlines()
    assert lines[0] == "4 databases against 3 migrations"
    table = "\n".join(lines)
    assert f"5 (ahead of the code) │ 1         │ {names[1]}" in table
    assert f"3 (the newest)        │ 2         │ {names[0]}, {names[2]}" in table
    assert f"0 (3 steps pending)   │ 1         │ {names[3]}" in table
    assert f"! {names[1]}: the database is at version 5, newer than this code's newest migration (3)" in lines
    assert lines[-1] == "status: 4 databases read, 1 behind the code, 1 needing a person"


@pytest.mark.controls_server
async def test_all_databases_leaves_out_system_and_backup_databases_and_never_shows_the_password(
    tmp_path: Path, server_factory: Callable[..., TestServer]
) -> None:
    server = server_factory()
    admin: AsyncMongoClient[Any] = AsyncMongoClient(server.uri)
    try:
        await admin.admin.command("createUser", "fleet", pwd="hunter2", roles=["root"])
        names = await make_tenants(admin, "shop", 2)
        await backup(BackupOptions(src_uri=server.uri, src_db=names[0], dest_db="archived_copy"))  # a manifest
        await admin["shop_t00_backup_v0_20240601120000"].x.insert_one({})  # named as up --backup names them
    finally:
        await admin.close()
    secret = server.uri.replace("mongodb://", "mongodb://fleet:hunter2@")
    log = tmp_path / "fleet.log"
    runs = [
        run_in(ROOT, "up", "--uri", secret, "--all-databases", "--migrations", BASIC, *extra, ANALYTIQ_DB_LOG=str(log))
        for extra in ((), ("--json",))
    ]
    for done in runs:
        assert done.returncode == 0, done.stderr
        shown = done.stdout + done.stderr + log.read_text()
        assert "hunter2" not in shown and "fleet:***@" in shown
    found = json.loads(runs[1].stdout)
    assert [d["database"] for d in found["databases"]] == names
    assert found["selection"] == (
        "2 databases: all databases (from --all-databases); 2 of this tool's backup/scratch databases left out"
    )
    wrong = run_in(ROOT, "up", "--uri", secret.replace("hunter2", "hunter3"), "--all-databases", "--migrations", BASIC)
    assert wrong.returncode == 4 and "hunter3" not in wrong.stdout + wrong.stderr
    assert wrong.stderr.strip().splitlines()[-1].startswith("analytiq-db: error: authentication failed on ")


async def test_stamp_down_and_history_over_many(client: AsyncMongoClient[Any], mongo_uri: str, db_name: str) -> None:
    names = await make_tenants(client, db_name, 3)
    glob = ("--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", BASIC)
    stamped = run_in(ROOT, "stamp", "2", *glob, "--json")
    assert stamped.returncode == 0, stamped.stderr
    assert {d["database"]: (d["from_version"], d["version"]) for d in json.loads(stamped.stdout)["databases"]} == {
        n: (0, 2) for n in names
    }
    assert run_in(ROOT, "up", *glob).returncode == 0
    down = run_in(ROOT, "down", "--to", "1", *glob, "--jobs", "3", "--json")
    assert down.returncode == 0, down.stderr
    records = json.loads(down.stdout)["databases"]
    assert [(d["from_version"], d["version"], d["steps"]) for d in records] == [(3, 1, 2)] * 3
    history = run_in(ROOT, "history", *glob, "--limit", "1", "--json")
    assert history.returncode == 0, history.stderr
    newest = {d["database"]: d["result"]["records"][0] for d in json.loads(history.stdout)["databases"]}
    assert {n: (r["version"], r["direction"]) for n, r in newest.items()} == {n: (2, "down") for n in names}
    from analytiq_data.migrations import status_many

    read = await status_many(client, databases=[f"{db_name}_t*"], migrations=list(_basic()))
    assert [(r.database, r.detail.current) for r in read.databases] == [(n, 1) for n in names]


def _basic() -> Any:
    from tests.migrations_fixtures import basic

    return basic.MIGRATIONS


async def test_an_apps_motor_client_and_its_own_function(mongo_uri: str, db_name: str) -> None:
    from motor.motor_asyncio import AsyncIOMotorClient

    from analytiq_data.migrations import run_migrations_many

    motor: Any = AsyncIOMotorClient(mongo_uri, tz_aware=True)
    try:
        names = await make_tenants(motor, db_name, 2)

        def tenants(client: Any) -> list[str]:
            assert client is motor  # the application's own client is given to its function
            return names

        result = await run_migrations_many(motor, databases=tenants, migrations=_basic(), jobs=2)
        assert [(r.database, r.version) for r in result.databases] == [(n, 3) for n in names]
        assert result.selection.startswith("2 databases: ")
    finally:
        motor.close()
