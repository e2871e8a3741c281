"""Many tenant databases at once, on the test servers: the Python API and the command line.

Each tenant is ``<db_name>_tNN`` (dropped with the test's database). Runs are synchronised on what
the databases show (a step's ``entered`` signal, a ``go`` document the test writes), never on time.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

import analytiq_data as ad
from analytiq_data.fleet import Outcome
from tests.migrations_fixtures import basic
from tests.migrations_fixtures.helpers import CLI, ROOT, effects, history_docs, start_cli, version_doc, wait_until

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
TENANTS = "tests.migrations_fixtures.tenants:MIGRATIONS"
BLOCKING = "tests.migrations_fixtures.blocking:MIGRATIONS"


async def make_tenants(client: AsyncMongoClient[Any], prefix: str, count: int) -> list[str]:
    """Create ``count`` small tenant databases (two users each) and return their names."""
    names = [f"{prefix}_t{i:02d}" for i in range(count)]
    for name in names:
        await client[name].users.insert_many([{"_id": 1, "email": "Ada@Example.com"}, {"_id": 2, "email": "G@X.org"}])
    return names


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


async def test_fifty_tenants_reach_the_target_each_as_one_run_would_and_a_rerun_changes_nothing(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 52)
    app = ad.AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        result = await ad.migrations.run_migrations_many(
            app, databases=f"{db_name}_t*", migrations=basic.MIGRATIONS, jobs=4
        )
        again = await ad.migrations.run_migrations_many(
            app, databases=[f"{db_name}_t*"], migrations=basic.MIGRATIONS, jobs=4
        )
    finally:
        await app.close()
    assert [r.database for r in result.databases] == names
    assert {(r.outcome, r.from_version, r.version, r.steps) for r in result.databases} == {(Outcome.OK, 0, 3, 3)}
    assert result.ok and result.exit_code == 0 and result.jobs == 4
    for name in (names[0], names[-1]):  # each database's own state, history and lock, as one run leaves them
        db = client[name]
        assert (await version_doc(db) or {})["version"] == 3
        history = [(h["version"], h["outcome"]) for h in await history_docs(db)]
        assert history == [(1, "applied"), (2, "applied"), (3, "applied")]
        assert await db.migration_lock.count_documents({}) == 0
        assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}  # the rerun ran no step
    assert {(r.outcome, r.steps) for r in again.databases} == {(Outcome.OK, 0)}


async def test_a_tenant_whose_data_fails_a_step(client: AsyncMongoClient[Any], mongo_uri: str, db_name: str) -> None:
    names = await make_tenants(client, db_name, 5)
    bad = names[1]
    await client[bad].users.insert_one({"_id": 3, "email": 42})
    common = ("--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", TENANTS, "--jobs", "1")

    stopped = run_cli("up", *common)  # default: after the failure, start no new database
    assert stopped.returncode == 6, stopped.stderr
    assert (
        f"✗ {bad}: failed at version 1: version 2 (LowercaseEmailMigration) failed (up): ValueError: user 3 has an "
        "email that is not text: 42 — the database is at version 1; its writes were rolled back"
    ) in stopped.stderr
    assert [(await version_doc(client[n]) or {}).get("version") for n in names] == [3, 1, None, None, None]
    assert f"not started: {bad} failed (run again to continue; --keep-going tries them all)" in stopped.stdout

    tried = run_cli("up", *common, "--keep-going", "--json")
    assert tried.returncode == 6
    records = {d["database"]: d for d in json.loads(tried.stdout)["databases"]}
    assert {n: records[n]["outcome"] for n in names} == {n: ("failed" if n == bad else "ok") for n in names}
    assert records[bad]["version"] == 1 and records[bad]["exit_code"] == 6
    assert [(await version_doc(client[n]) or {}).get("version") for n in names] == [3, 1, 3, 3, 3]

    await client[bad].users.update_one({"_id": 3}, {"$set": {"email": "Fixed@Example.com"}})
    before = {n: await effects(client[n]) for n in names}
    rerun = run_cli("up", *common, "--json")
    assert rerun.returncode == 0, rerun.stderr
    steps = {d["database"]: d["steps"] for d in json.loads(rerun.stdout)["databases"]}
    assert steps == {n: (2 if n == bad else 0) for n in names}  # only the fixed tenant had work left
    for n in names:
        expected = {"1:up": 1, "2:up": 1, "3:up": 1} if n == bad else before[n]
        assert await effects(client[n]) == expected


def test_a_glob_that_matches_nothing_is_one_line_and_exit_3(mongo_uri: str, db_name: str) -> None:
    done = run_cli("up", "--uri", mongo_uri, "--db", f"{db_name}_nothing_*", "--migrations", BASIC)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"analytiq-db: error: no database on {mongo_uri.split('//')[1].split('/')[0]} matches {db_name}_nothing_* "
        "(from --db): nothing was done — check the pattern (quote it: --db 'tenant_*'); list the databases with "
        "analytiq-db status --all-databases"
    ]


async def _entered(client: AsyncMongoClient[Any], names: list[str]) -> int:
    return sum([await client[n].signals.count_documents({"_id": "entered"}) for n in names])


async def _go(client: AsyncMongoClient[Any], names: list[str]) -> None:
    for n in names:
        await client[n].signals.update_one({"_id": "go"}, {"$set": {"go": True}}, upsert=True)


async def test_two_fan_outs_at_once_run_each_step_once_per_database(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 8)
    args = ("up", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", BLOCKING, "--jobs", "2")
    first, second = start_cli(tmp_path, "first", *args), start_cli(tmp_path, "second", *args)
    try:
        # Both hold two databases each inside step 2: the runs overlap for sure.
        await wait_until(lambda: _waiting_four(client, names), "both fan-outs inside step 2 of two databases each")
        await _go(client, names)
        codes = (first.wait(120), second.wait(120))
    finally:
        first.stop()
        second.stop()
    assert codes == (0, 0), (first.stderr(), second.stderr())
    for n in names:
        assert await effects(client[n]) == {"1:up": 1, "2:up": 1, "3:up": 1}, n
        assert (await client[n].signals.find_one({"_id": "entered"}) or {})["n"] == 1
        assert (await version_doc(client[n]) or {})["version"] == 3


async def _waiting_four(client: AsyncMongoClient[Any], names: list[str]) -> bool:
    return await _entered(client, names) >= 4


async def test_kill_9_in_the_middle_of_a_fan_out_then_rerun(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 6)
    args = ("up", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", BLOCKING, "--jobs", "2")
    killed = start_cli(tmp_path, "killed", *args, "--lease", "2")
    try:
        await wait_until(lambda: _waiting_two(client, names), "the fan-out inside step 2 of two databases")
        killed.proc.send_signal(signal.SIGKILL)
        killed.wait(30)
    finally:
        killed.stop()
    started = [n for n in names if await client[n].signals.find_one({"_id": "entered"})]
    assert len(started) == 2
    assert [await version_doc(client[n]) for n in names if n not in started] == [None] * 4
    await _go(client, names)
    rerun = run_cli(*args, "--json")  # the dead runner's leases run out; the rerun takes them over
    assert rerun.returncode == 0, rerun.stderr
    for n in names:
        assert (await version_doc(client[n]) or {})["version"] == 3
        assert await effects(client[n]) == {"1:up": 1, "2:up": 1, "3:up": 1}  # step 2's killed transaction left nothing
        assert await client[n].migration_lock.count_documents({}) == 0


async def _waiting_two(client: AsyncMongoClient[Any], names: list[str]) -> bool:
    return await _entered(client, names) >= 2


async def test_a_tenant_created_while_a_fan_out_runs_is_left_for_the_next_run(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    from tests.migrations_fixtures import blocking

    names = await make_tenants(client, db_name, 2)
    app = ad.AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        run = asyncio.create_task(
            ad.migrations.run_migrations_many(app, databases=f"{db_name}_t*", migrations=blocking.MIGRATIONS, jobs=1)
        )
        await wait_until(lambda: _waiting_one(client, names), "the fan-out inside step 2 of its first database")
        late = f"{db_name}_t99"
        await client[late].users.insert_one({"_id": 1, "email": "late@example.com"})
        await _go(client, [*names, late])
        result = await run
        assert [r.database for r in result.databases] == names and result.ok
        assert result.appeared == (late,)
        assert await version_doc(client[late]) is None  # not touched by the run that was under way
        again = await ad.migrations.run_migrations_many(
            app, databases=f"{db_name}_t*", migrations=blocking.MIGRATIONS, jobs=1
        )
    finally:
        await app.close()
    assert {r.database: r.steps for r in again.databases} == {**dict.fromkeys(names, 0), late: 3}


async def _waiting_one(client: AsyncMongoClient[Any], names: list[str]) -> bool:
    return await _entered(client, names) >= 1


async def test_ctrl_c_starts_no_new_database_and_lets_the_running_step_end(
    tmp_path: Path, client: AsyncMongoClient[Any], mongo_uri: str, db_name: str
) -> None:
    names = await make_tenants(client, db_name, 3)
    runner = start_cli(
        tmp_path, "runner", "up", "--uri", mongo_uri, "--db", f"{db_name}_t*", "--migrations", BLOCKING, "--jobs", "1"
    )
    try:
        await wait_until(lambda: _waiting_one(client, names), "the fan-out inside step 2 of its first database")
        runner.proc.send_signal(signal.SIGINT)
        await wait_until(lambda: _said(runner, "no new database starts"), "the fan-out to acknowledge Ctrl-C")
        await _go(client, names)
        code = runner.wait(60)
    finally:
        runner.stop()
    assert code == 130, runner.stderr()
    assert (await version_doc(client[names[0]]) or {})["version"] == 2  # stopped after its running step
    assert await effects(client[names[0]]) == {"1:up": 1, "2:up": 1}
    assert [await version_doc(client[n]) for n in names[1:]] == [None, None]
    assert "interrupted at version 2" in runner.stdout()
    assert "not started: a stop was asked for" in runner.stdout()


async def _said(runner: Any, text: str) -> bool:
    return text in runner.stderr()
