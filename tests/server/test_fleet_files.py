"""Backups, restores and rehearsals of many tenant databases, on the test servers, through the command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.backup.files.source import databases, open_source
from analytiq_data.migrations.engine.lock import MigrationLock, read_lock
from analytiq_data.safety.restore_lock import lock_db_name
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import state
from tests.server.test_fleet_run import make_tenants

REHEARSED = "tests.migrations_fixtures.tenants:REHEARSED"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


async def test_one_archive_holds_every_tenant_and_restores_one_or_several(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 3)
    await client[names[2]].orders.create_index("sku", unique=True)
    await client[names[2]].orders.insert_many([{"sku": f"s{i}"} for i in range(5)])
    archive = tmp_path / "tenants.archive"
    done = run_cli("backup", "--src-uri", mongo_uri, "--src", f"{db_name}_t*", "--archive", str(archive), "--json")
    assert done.returncode == 0, done.stderr
    assert [d["outcome"] for d in json.loads(done.stdout)["databases"]] == ["ok"] * 3
    source = open_source(archive=str(archive))
    try:
        assert databases(source.namespaces) == names  # mongodump's layout: one archive, several databases
    finally:
        source.close()
    originals = {n: await state(client[n]) for n in names}

    # one tenant out of it, into a database of another name
    copy = f"{db_name}_copy"
    one = run_cli("restore", "--uri", mongo_uri, "--db", copy, "--archive", str(archive), "--from-db", names[2])
    assert one.returncode == 0, one.stderr
    assert await state(client[copy]) == originals[names[2]]

    # two tenants back in place, each under its own lock; the third left alone
    for n in names:
        await client[n].users.delete_many({})
    several = run_cli(
        "restore", "--uri", mongo_uri, "--db", f"{db_name}_t0[01]", "--archive", str(archive), "--yes", "--json"
    )
    assert several.returncode == 0, several.stderr
    assert [d["database"] for d in json.loads(several.stdout)["databases"]] == names[:2]
    for n in names[:2]:
        assert await state(client[n]) == originals[n]
    assert await client[names[2]].users.count_documents({}) == 0

    refused = run_cli("restore", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--archive", str(archive))
    assert refused.returncode == 3 and "pass --yes" in refused.stderr


async def test_a_directory_per_tenant_and_a_busy_tenant_fails_alone(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 3)
    busy = MigrationLock(client[names[1]], lease_s=60)  # a migration running there: its dump is refused
    assert (await busy.acquire(0)).outcome == "held"
    try:
        out = tmp_path / "dump"
        common = ("backup", "--src-uri", mongo_uri, "--src", f"{db_name}_t*", "--keep-going", "--jobs", "2")
        done = run_cli(*common, "--out", str(out))
        archive = run_cli(*common, "--archive", str(tmp_path / "all.archive"))
    finally:
        await busy.release()
    assert done.returncode == 5, done.stderr  # the worst outcome: the lock held on one tenant
    assert sorted(p.name for p in out.iterdir()) == [names[0], names[2]]  # the others complete, nothing partial
    assert f"✗ {names[1]}: failed: " in done.stderr
    assert archive.returncode == 5  # one archive holds all the databases or none
    assert sorted(os.listdir(tmp_path)) == ["dump"]  # no archive, nothing partial
    assert "the archive was not written" in archive.stdout


async def test_rehearse_on_the_tenants_whose_data_differ_most(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 4)
    await client[names[2]].users.insert_one({"_id": 9, "email": ["two", "addresses"], "flags": {"vip": True}})
    done = run_cli(
        "rehearse", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", REHEARSED, "--sample-dbs", "2",
        "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # a check failed: on the tenant whose data differ
    found = json.loads(done.stdout)
    assert found["notes"][0].startswith(f"{names[2]}: chosen for ")  # the odd one first: the most shapes
    records = {d["database"]: d for d in found["databases"]}
    assert sorted(records) == sorted([names[2], names[0]])  # then the first of the equal ones
    assert records[names[0]]["outcome"] == "ok" and records[names[0]]["result"]["passed"]
    assert records[names[2]]["outcome"] == "failed"
    assert "has an email that is not text: ['two', 'addresses']" in records[names[2]]["error"]
    assert [await client[n].users.count_documents({"plan": {"$exists": True}}) for n in names] == [0] * 4
    scratch = [n for n in await client.list_database_names() if re.search(r"_rehearse_[0-9a-f]{6}", n)]
    assert scratch == []  # the scratch copies were dropped


async def test_restoring_tenants_comes_back_only_to_one_whose_migration_lock_is_held(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    """A restore's own lock held by another restore is that tenant's failure; a migration running on a
    tenant defers it once, naming its holder. Every LockError used to defer the tenant, the holder cut
    out of the message's text ("its migration lock is held by another restore of database …")."""
    names = await make_tenants(client, db_name, 4)
    out = tmp_path / "dump"
    assert run_cli("backup", "--src-uri", mongo_uri, "--src", f"{db_name}_t*", "--out", str(out)).returncode == 0
    restoring = MigrationLock(client[lock_db_name(names[2])], lease_s=60)  # another restore of tenant 2
    migrating = MigrationLock(client[names[1]], lease_s=60)  # a migration run on tenant 1
    assert (await restoring.acquire(0)).outcome == "held" and (await migrating.acquire(0)).outcome == "held"
    try:
        done = run_cli(
            "restore", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--dir", str(out), "--yes", "--keep-going",
            "--jobs", "1", "--lock-wait", "0.2",
        )  # fmt: skip
        holder = await read_lock(client[names[1]])
    finally:
        await restoring.release()
        await migrating.release()
    assert done.returncode == 5, done.stderr
    assert holder is not None
    deferred = [line for line in done.stderr.splitlines() if "coming back to it" in line]
    assert deferred == [
        f"{names[1]}: its migration lock is held by {holder.describe()}: coming back to it after the others"
    ]
    assert f"✗ {names[2]}: failed: another restore of database {names[2]!r} is running" in done.stderr
    restored = done.stderr.index(f"✓ {names[3]}: restored")
    waited = done.stderr.index(f"✗ {names[1]}: failed: a migration run holds the migration lock of {names[1]!r}")
    assert restored < waited  # tenant 1 came back after the others, and waited as one restore does
