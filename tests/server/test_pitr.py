"""Point-in-time recovery on the test servers: ``follow`` under a writer process, restores to moments, kills, gaps.

The writer (``pitr_writer.py``) logs each acknowledged write with its cluster time; a restore to
moment M must equal the seed plus exactly the writes at or before M (``pitr_model.state_at``).
Kills use the follower's file handshake (``ANALYTIQ_TEST_FOLLOW_PAUSE``) and the dump's
(``ANALYTIQ_TEST_CATCHUP_PAUSE``): never a sleep. Waiting on the follower means polling its
heartbeat file for a condition.

SecantusDB differs from mongod here (the product is written for mongod): its resume tokens carry
no readable cluster time, so an idle stretch is marked with the cluster time read before an empty
poll; and its oplog is trimmed every 1,000 writes (``--oplog-max-entries``), not continuously.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bson.timestamp import Timestamp
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.log.catalog import load_catalog
from analytiq_data.backup.log.format import previous
from analytiq_data.backup.log.segment import parse, read_file
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import run_migrations
from analytiq_data.migrations.base import Migration
from analytiq_data.restore_mark import is_restore_namespace
from analytiq_data.safety.restore_lock import lock_db_name
from tests.server.pitr_model import read_log, snapshot, state_at, when
from tests.server.pitr_writer import SEED, seed_doc

WRITER = Path(__file__).with_name("pitr_writer.py")
ADB = str(Path(sys.executable).parent / "analytiq-db")
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 90.0


def adb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``analytiq-db`` to the end and return what it did."""
    return subprocess.run([ADB, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a process (the follower, the writer) from the repository root."""
    return subprocess.Popen(
        args, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )


def sync_client(uri: str) -> MongoClient[dict[str, Any]]:
    """Return a synchronous client on ``uri``."""
    return MongoClient(uri)


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds (a condition, not a timing guess); fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def seed(uri: str, db: str) -> None:
    with sync_client(uri) as client:
        for name in ("c0", "c1", "c2"):
            client[db][name].insert_many([seed_doc(name, i) for i in range(SEED)])


def durable(folder: Path) -> Timestamp | None:
    """Return the cluster time up to which the running follower has every event durable (its heartbeat)."""
    try:
        beat = json.loads((folder / "follower.json").read_text())
    except (OSError, ValueError):
        return None
    d = beat.get("durable")
    return Timestamp(d["t"], d["i"]) if d else None


def has_base(folder: Path) -> bool:
    try:
        return bool(load_catalog(folder).bases)
    except Exception:
        return False


def logged_events(folder: Path) -> list[Any]:
    """Return every event in the log's closed segments, in order."""
    catalog = load_catalog(folder)
    out: list[Any] = []
    for entry in catalog.segments:
        out += parse(read_file(folder / entry["file"]), entry["file"]).events
    return out


def restore_at(uri: str, db: str, folder: Path, moment: Timestamp) -> subprocess.CompletedProcess[str]:
    return adb(
        "restore",
        "--uri",
        uri,
        "--db",
        db,
        "--from-log",
        str(folder),
        "--at",
        f"Timestamp({moment.time}, {moment.inc})",
        "--yes",
    )


def test_restores_to_moments_under_a_writer(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """The follower runs while a writer process writes; restores to six moments equal the model exactly."""
    seed(mongo_uri, db_name)
    folder, wlog = tmp_path / "log", tmp_path / "writes.jsonl"
    follower = start(
        [ADB, "follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--segment-mb", "0.03"]
    )
    try:
        wait_for(lambda: has_base(folder), "the base")
        writer = start([sys.executable, str(WRITER), mongo_uri, db_name, str(wlog), "240", "100", "170"])
        assert writer.wait(timeout=WAIT_S) == 0, writer.communicate()[1]
        entries = read_log(wlog)
        last = when(entries[-1])
        wait_for(lambda: (durable(folder) or Timestamp(0, 0)) >= last, "the follower to log the last write")
    finally:
        follower.send_signal(signal.SIGTERM)
        _, err = follower.communicate(timeout=WAIT_S)
    assert follower.returncode == 0, err
    assert "follow stopped: open segment closed" in err
    assert not list((folder / "segments").glob("*.open"))
    catalog = load_catalog(folder)
    assert len(catalog.segments) >= 2 and not catalog.gaps
    base_at = Timestamp(catalog.bases[0]["at"]["t"], catalog.bases[0]["at"]["i"])
    moments = [
        base_at,
        when(entries[10]),
        previous(when(entries[10])),  # just before a write: without it
        when(entries[100]),  # the rename
        previous(when(entries[170])),  # just before the drop
        last,
    ]
    target = f"{db_name}_restored"
    with sync_client(mongo_uri) as client:
        for moment in moments:
            done = restore_at(mongo_uri, target, folder, moment)
            assert done.returncode == 0, done.stderr
            assert snapshot(client[target]) == state_at(entries, moment), f"at {moment}"
        assert lock_db_name(target) not in client.list_database_names()  # the restore's lock went with it
        assert [n for n in client[target].list_collection_names() if is_restore_namespace(n)] == []


def test_moment_outside_the_log_is_refused_naming_the_ranges(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    assert adb("follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up").returncode == 0
    with sync_client(mongo_uri) as client:
        client[f"{db_name}_t"].keep.insert_one({"_id": 1})
        done = restore_at(mongo_uri, f"{db_name}_t", folder, Timestamp(1, 1))
        assert done.returncode == 3
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "outside what the log" in lines[0] and "it covers from Timestamp(" in lines[0]
        assert list(client[f"{db_name}_t"].keep.find()) == [{"_id": 1}]
    ranges = adb("log", "ranges", str(folder), "--json")
    assert ranges.returncode == 0 and len(json.loads(ranges.stdout)["ranges"]) == 1


KILL_POINTS = ["write-500", "synced-500", "closing", "base"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_then_restart_loses_nothing_and_duplicates_nothing(
    mongo_uri: str, db_name: str, tmp_path: Path, point: str
) -> None:
    """kill -9 of the follower at a point (before fsync, mid-segment, closing, during the base); restart catches up."""
    seed(mongo_uri, db_name)
    folder, hooks = tmp_path / "log", tmp_path / "hooks"
    hooks.mkdir()
    follow = [ADB, "follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up"]
    if point == "base":
        env = {"ANALYTIQ_TEST_CATCHUP_PAUSE": f"0:{hooks}"}
    else:
        assert adb(*follow[1:]).returncode == 0
        with sync_client(mongo_uri) as client:
            client[db_name].c0.insert_many([{"_id": 5000 + i, "i": i} for i in range(700)])
        env = {"ANALYTIQ_TEST_FOLLOW_PAUSE": f"{point}:{hooks}"}
    name = "0" if point == "base" else point
    proc = start(follow, env)
    wait_for(lambda: (hooks / f"paused-{name}").exists() or proc.poll() is not None, f"the pause at {point}")
    assert proc.poll() is None, proc.communicate()[1]
    if point == "write-500":  # a power cut during the write: the last record is torn
        open_file = next((folder / "segments").glob("*.open"))
        with open(open_file, "r+b") as f:
            f.truncate(open_file.stat().st_size - 7)
    proc.kill()
    proc.communicate()
    again = adb(*follow[1:])
    assert again.returncode == 0, again.stderr
    catalog = load_catalog(folder)
    assert len(catalog.bases) == 1 and not catalog.gaps
    assert not list(folder.rglob("*.partial")) and not list(folder.rglob("*.open"))
    if point != "base":
        events = logged_events(folder)
        tokens = [bytes(e["_id"].raw) for e in events]
        assert len(tokens) == len(set(tokens)), "an event was logged twice"
        assert sum(1 for e in events if e["operationType"] == "insert") == 700
        if point == "write-500":
            assert "cut the torn tail" in again.stderr
    if point in ("write-500", "base"):  # the restored end equals the source (the other cases: the event checks above)
        target = f"{db_name}_restored"
        end = max(r.end for r in catalog.ranges())
        assert restore_at(mongo_uri, target, folder, end).returncode == 0
        with sync_client(mongo_uri) as client:
            assert snapshot(client[target]) == snapshot(client[db_name])


def test_damaged_log_is_refused_with_one_line_and_nothing_touched(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    follow = ["follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up"]
    assert adb(*follow).returncode == 0
    with sync_client(mongo_uri) as client:
        for round_ in range(2):
            client[db_name].c0.insert_many([{"_id": 9000 + 100 * round_ + i} for i in range(50)])
            assert adb(*follow).returncode == 0
        target = client[f"{db_name}_t"]
        target.keep.insert_one({"_id": 1})
        catalog = load_catalog(folder)
        with_events = [s for s in catalog.segments if s["events"]]
        assert len(with_events) == 2
        end = max(r.end for r in catalog.ranges())
        for damage in ("truncated", "bitflip", "missing-entry"):
            copy = tmp_path / damage
            shutil.copytree(folder, copy)
            seg = copy / with_events[0]["file"]
            data = bytearray(seg.read_bytes())
            if damage == "truncated":
                seg.write_bytes(bytes(data[:-10]))
            elif damage == "bitflip":
                data[len(data) // 2] ^= 0x10
                seg.write_bytes(bytes(data))
            else:
                cat = json.loads((copy / "catalog.json").read_text())
                cat["segments"] = [s for s in cat["segments"] if s["seq"] != with_events[0]["seq"]]
                (copy / "catalog.json").write_text(json.dumps(cat))
            done = restore_at(mongo_uri, target.name, copy, end)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 3 and len(lines) == 1, (damage, done.stderr)
            assert list(target.keep.find()) == [{"_id": 1}] and target.list_collection_names() == ["keep"]
            assert lock_db_name(target.name) not in client.list_database_names()  # refused before the lock


@pytest.mark.controls_server
def test_history_lost_records_a_gap_and_restores_across_it_are_refused(
    server_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """The oplog moves past the follower's position while it is down: one line, exit 3, a gap; a new base goes on."""
    server = server_factory(args=("--oplog-max-entries", "50"))
    uri, db_name, folder = server.uri, "app", tmp_path / "log"
    seed(uri, db_name)
    follow = ["follow", "--src-uri", uri, "--src", db_name, "--to", str(folder), "--catch-up"]
    assert adb(*follow).returncode == 0
    with sync_client(uri) as client:
        client[db_name].c0.insert_one({"_id": "logged"})
        assert adb(*follow).returncode == 0
        # more than SecantusDB's trimming interval (1,000 writes; one oplog entry per document)
        client[db_name].c0.insert_many([{"_id": f"lost-{i}"} for i in range(1200)])
        now = client.admin.command("hello")["lastWrite"]["opTime"]["ts"]
    lost = adb(*follow)
    lines = lost.stderr.strip().splitlines()
    assert lost.returncode == 3 and len(lines) == 1, lost.stderr
    assert "history lost" in lines[0] and "--new-base" in lines[0]
    # the command it suggests names the source URI (--src-uri has no default but BACKUP_SRC_URI)
    suggested = f"run the same command with --new-base (analytiq-db follow --src-uri URI --src {db_name} --to {folder}"
    assert suggested in lines[0]
    gaps = load_catalog(folder).gaps
    assert len(gaps) == 1 and gaps[0]["to"] is None
    refused = restore_at(uri, "other", folder, now)
    assert refused.returncode == 3 and "it covers from" in refused.stderr
    again = adb(*follow)
    assert again.returncode == 3 and "--new-base" in again.stderr
    assert adb(*follow, "--new-base").returncode == 0
    ranges = json.loads(adb("log", "ranges", str(folder), "--json").stdout)
    assert len(ranges["ranges"]) == 2 and ranges["gaps"][0]["to"] is not None


class IndexValues(Migration):
    """Index c0.v."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.c0.create_index("v")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.c0.drop_index("v_1")
        return True


class RenameAndDrop(Migration):
    """Rename c0.v to c0.value and drop c2 (the bad migration)."""

    use_transaction = False  # a collection drop: outside a transaction, as on mongod
    reversible = False

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.c0.update_many({}, {"$rename": {"v": "value"}})
        await db.c2.drop()
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return False


async def test_restore_before_migration_n_while_the_app_writes(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """A migration renames a field and drops a collection while the app writes; --before-migration 2 undoes it."""
    seed(mongo_uri, db_name)
    folder, wlog = tmp_path / "log", tmp_path / "writes.jsonl"
    follower = start([ADB, "follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder)])
    writer = None
    try:
        wait_for(lambda: has_base(folder), "the base")
        writer = start([sys.executable, str(WRITER), mongo_uri, db_name, str(wlog), "0"])
        wait_for(lambda: wlog.exists() and len(read_log(wlog)) >= 40, "the app's first writes")
        client = AnalytiqClient(uri=mongo_uri, env=db_name)
        try:
            result = await run_migrations(client, migrations=[IndexValues(), RenameAndDrop()])
        finally:
            await client.close()
        assert [s.version for s in result.steps] == [1, 2]
        written = len(read_log(wlog))
        wait_for(lambda: len(read_log(wlog)) >= written + 40, "the app's writes after the migration")
        writer.send_signal(signal.SIGTERM)
        assert writer.wait(timeout=WAIT_S) == 0
        entries = read_log(wlog)
        wait_for(lambda: (durable(folder) or Timestamp(0, 0)) >= when(entries[-1]), "the follower to catch up")
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        follower.send_signal(signal.SIGTERM)
        follower.communicate(timeout=WAIT_S)
    target = f"{db_name}_before2"
    done = adb(
        "restore",
        "--uri",
        mongo_uri,
        "--db",
        target,
        "--from-log",
        str(folder),
        "--before-migration",
        "2",
        "--yes",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    moment = Timestamp(json.loads(done.stdout)["moment"]["t"], json.loads(done.stdout)["moment"]["i"])
    expected = state_at(entries, moment)
    assert any(when(e) > moment for e in entries) and any(when(e) <= moment for e in entries)
    with sync_client(mongo_uri) as sync:
        restored = sync[target]
        assert snapshot(restored) == expected  # c2 is back, c0 still has v: the step never happened
        assert "v_1" in restored.c0.index_information()  # step 1 did
        version = restored.migrations.find_one({"_id": "schema_version"})
        assert version is not None and version["version"] == 1
        record = sync[db_name].migration_history.find_one({"version": 2, "direction": "up"})
        assert record is not None and record["cluster_time_started"] <= moment < record["cluster_time_ended"]


def test_up_backup_with_a_follower_records_a_restore_point_instead_of_a_copy(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    """``up --backup --backup-log DIR``: a live follower → restore point in the history, no copy; none → a copy."""
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    follower = start([ADB, "follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder)])
    migrations = "tests.migrations_fixtures.basic:MIGRATIONS"
    up = ["up", "--backup", "--backup-log", str(folder), "--migrations", migrations, "--uri", mongo_uri]
    try:
        wait_for(lambda: durable(folder) is not None, "the follower's first heartbeat")
        done = subprocess.run([ADB, *up, "--db", db_name], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "backup: restore point Timestamp(" in done.stdout
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.communicate(timeout=WAIT_S)
    with sync_client(mongo_uri) as client:
        record = client[db_name].migration_history.find_one({"direction": "backup"})
        assert record is not None and record["backup_log"] == str(folder)
        point = record["restore_point"]
        assert not [n for n in client.list_database_names() if n.startswith(f"{db_name}_backup")]
        assert restore_at(mongo_uri, f"{db_name}_point", folder, point).returncode == 0
        restored = snapshot(client[f"{db_name}_point"])
        assert restored == state_at([], Timestamp(0, 0))  # the seed, before any migration
        other = f"{db_name}_other"
        seed(mongo_uri, other)
        done = subprocess.run([ADB, *up, "--db", other], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "no follower" in done.stderr
        copied = client[other].migration_history.find_one({"direction": "backup"})
        assert copied is not None and "restore_point" not in copied
        assert copied["backup"] in client.list_database_names()
        client.drop_database(copied["backup"])


class RenameUserName(Migration):
    """Rename users.name to users.full_name (idempotent and reversible)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"name": {"$exists": True}}, {"$rename": {"name": "full_name"}})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"full_name": {"$exists": True}}, {"$rename": {"full_name": "name"}})
        return True


REHEARSED = [RenameUserName()]


def test_rehearse_takes_its_scratch_copy_from_the_log(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """``rehearse --from-log DIR``: the scratch copy is rebuilt from the log (here: seed plus a later write)."""
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    follow = ["follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up"]
    assert adb(*follow).returncode == 0
    with sync_client(mongo_uri) as client:
        client[db_name].users.insert_one({"_id": 3, "name": "Alan"})  # only in the log, not in the base
    assert adb(*follow).returncode == 0
    where = ["--uri", mongo_uri, "--db", db_name, "--migrations", "tests.server.test_pitr:REHEARSED"]
    done = subprocess.run(
        [ADB, "rehearse", "--from-log", str(folder), "--keep", "--json", *where],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["documents_copied"] == 3 * SEED + 1
    with sync_client(mongo_uri) as client:
        scratch = client[result["scratch"]]
        assert scratch.users.find_one({"_id": 3}) == {"_id": 3, "full_name": "Alan"}  # migrated from the log's copy
        client.drop_database(result["scratch"])
