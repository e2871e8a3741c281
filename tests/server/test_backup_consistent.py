"""``backup --consistent``: the copy equals the source at one cluster time T, under a live writer.

A writer *process* (``consistent_writer.py``) inserts, updates, replaces and deletes across three
collections during the whole backup, logging each write with its operation time; the copy must
equal the seed plus exactly the writes at or before T. The catch-up is made observable with the
test hook ``ANALYTIQ_TEST_CATCHUP_PAUSE`` (pause at N events, wait for a file): never a sleep.

SecantusDB differs from mongod here (the product code is written for mongod): its resume tokens do
not carry the cluster time (mongod's start with the KeyString timestamp), so "caught up to T" is an
empty batch rather than a high-water mark past T; and it accepts ``readConcern: snapshot`` at any
``atClusterTime`` while reading the current data, so the verification at T falls back to "copy
verified plus events replayed" (on mongod it reads the source as of T).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson.timestamp import Timestamp
from pymongo import MongoClient

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.consistent.catchup import PAUSE_ENV
from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.errors import ExitCode
from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files
from tests.server.consistent_writer import initial_doc

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("consistent_writer.py")
ANALYTIQ_DB = [str(Path(sys.executable).parent / "analytiq-db"), "backup"]
COLLS = 3
INITIAL = 1000
WAIT_S = 60.0


def sync(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri)


def seed(uri: str, db: str) -> None:
    with sync(uri) as client:
        for c in range(COLLS):
            client[db][f"c{c}"].insert_many([initial_doc(c, i) for i in range(INITIAL)])


def contents(uri: str, db: str) -> dict[str, dict[Any, dict[str, Any]]]:
    with sync(uri) as client:
        return {f"c{c}": {d["_id"]: d for d in client[db][f"c{c}"].find()} for c in range(COLLS)}


def expected_at(log: Path, at: Timestamp) -> tuple[dict[str, dict[Any, dict[str, Any]]], int]:
    """Return the seed plus the logged writes at or before ``at``, and how many writes that was."""
    state = {f"c{c}": {i: initial_doc(c, i) for i in range(INITIAL)} for c in range(COLLS)}
    applied = 0
    for line in log.read_text().splitlines():
        w = json.loads(line)
        if Timestamp(*w["t"]) > at:
            continue
        applied += 1
        docs = state[w["coll"]]
        if w["op"] in ("insert", "replace"):
            docs[w["id"]] = w["doc"]
        elif w["op"] == "delete":
            docs.pop(w["id"], None)
        else:
            doc = docs[w["id"]]
            for path, value in w["update"]["set"].items():
                head, _, leaf = path.partition(".")
                if leaf:
                    if not isinstance(doc.get(head), dict):
                        doc[head] = {}
                    doc[head][leaf] = value
                else:
                    doc[head] = value
            for path in w["update"]["unset"]:
                doc.pop(path, None)
    return state, applied


def wait_for(path: Path, what: str) -> None:
    """Wait until ``path`` exists (the tool reached a pause point); fail after WAIT_S."""
    end = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


async def await_file(path: Path, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_S
    while not await asyncio.to_thread(path.exists):
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def logged(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture
def writer(mongo_uri: str, db_name: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The writer process on the seeded source, stopped by PID afterwards."""
    seed(mongo_uri, db_name)
    log = tmp_path / "writes.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), mongo_uri, db_name, str(log), str(COLLS), str(INITIAL)], cwd=ROOT
    )
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_copy_equals_the_source_at_T_under_a_live_writer(
    mongo_uri: str,
    mongo_uri_2: str,
    db_name: str,
    db_name_2: str,
    tmp_path: Path,
    writer: tuple[subprocess.Popen[bytes], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc, log = writer
    hook = tmp_path / "hook"
    hook.mkdir()
    monkeypatch.setenv(PAUSE_ENV, f"0:{hook}")
    await await_file_count(log, 20)  # the writer is writing before the backup starts
    options = BackupOptions(
        src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2, consistent=True, batch_size=200
    )
    run = asyncio.ensure_future(backup(options))
    await await_file(hook / "paused-0", "the catch-up to begin")
    before = logged(log)
    await await_file_count(log, before + 20)  # writes between the copy and T, for sure
    (hook / "go-0").touch()
    result = await run
    await await_file_count(log, logged(log) + 5)  # and writes after T
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0

    point = result.point_in_time
    assert point is not None and result.verified is True
    state, applied = expected_at(log, point.at)
    writes = logged(log)
    assert 0 < applied < writes, "writes before and after T"
    assert point.events >= applied - before, "every write from the pause to T came through the change stream"
    assert contents(mongo_uri_2, db_name_2) == state
    with sync(mongo_uri_2) as client:
        manifest = client[db_name_2]["__backup_manifest"].find_one()
    assert manifest is not None
    assert manifest["point_in_time"]["cluster_time"] == {"t": point.at.time, "i": point.at.inc}
    assert sum(c["count"] for c in manifest["collections"]) == sum(len(d) for d in state.values())


async def await_file_count(log: Path, lines: int) -> None:
    """Wait until the writer logged ``lines`` writes."""
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_S
    while logged(log) < lines:
        assert loop.time() < end, f"the writer logged fewer than {lines} writes"
        await asyncio.sleep(0.02)


def cli(mongo_uri: str, mongo_uri_2: str, src: str, dest: str, *extra: str) -> list[str]:
    return [*ANALYTIQ_DB, "--src-uri", mongo_uri, "--dest-uri", mongo_uri_2, "--src", src, "--dest", dest, *extra]


def source_writes(uri: str, db: str, n: int) -> None:
    """Make ``n`` writes of every kind on the seeded source (one change event each)."""
    with sync(uri) as client:
        for k in range(n):
            coll = client[db][f"c{k % COLLS}"]
            step = k // COLLS
            match k % 4:
                case 0:
                    coll.insert_one({"_id": INITIAL + k, "v": k})
                case 1:
                    coll.update_one({"_id": step}, {"$set": {"v": -k, "nested.n": k}, "$unset": {"tag": ""}})
                case 2:
                    coll.replace_one({"_id": INITIAL // 2 + step}, {"v": k, "replaced": True})
                case _:
                    coll.delete_one({"_id": INITIAL - 1 - step})


def test_killed_during_the_catch_up_resumes_from_the_saved_token(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, tmp_path: Path
) -> None:
    seed(mongo_uri, db_name)
    hook = tmp_path / "hook"
    hook.mkdir()
    env = {**os.environ, PAUSE_ENV: f"0,1:{hook}"}
    args = cli(mongo_uri, mongo_uri_2, db_name, db_name_2, "--consistent", "--json", "--batch-size", "200")
    tool = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(hook / "paused-0", "the catch-up to begin")
        source_writes(mongo_uri, db_name, 600)  # after the copy, before T: a backlog of 600 events
        (hook / "go-0").touch()
        wait_for(hook / "paused-1", "the first group of events to be applied")
        first_run = int((hook / "paused-1").read_text())
        tool.send_signal(signal.SIGKILL)
        tool.wait(timeout=30)
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait()
    assert 0 < first_run < 600, "killed in the middle of the catch-up"

    resumed = subprocess.run([*args, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert resumed.returncode == 0, resumed.stderr
    point = json.loads(resumed.stdout)["point_in_time"]
    assert point["events"] == 600, "no event lost, none counted twice"
    assert point["events_this_run"] == 600 - first_run, "the resume started after the last applied event"
    assert contents(mongo_uri_2, db_name_2) == contents(mongo_uri, db_name)


def test_a_collection_dropped_during_the_copy_stops_it_with_one_line(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, tmp_path: Path
) -> None:
    seed(mongo_uri, db_name)
    hook = tmp_path / "hook"
    hook.mkdir()
    env = {**os.environ, PAUSE_ENV: f"0:{hook}"}
    args = cli(mongo_uri, mongo_uri_2, db_name, db_name_2, "--consistent")
    tool = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(hook / "paused-0", "the catch-up to begin")
        with sync(mongo_uri) as client:
            client[db_name].drop_collection("c1")
        (hook / "go-0").touch()
        _, err = tool.communicate(timeout=120)
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait()

    assert tool.returncode == ExitCode.FAILURE
    errors = [line for line in err.splitlines() if line.startswith("analytiq-db: error:")]
    assert len(errors) == 1 and "collection 'c1' was dropped on the source during the consistent copy" in errors[0]
    again = subprocess.run([*args, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == ExitCode.CONFIGURATION and "cannot be resumed" in again.stderr


@pytest.mark.controls_server
def test_consistent_is_refused_on_a_standalone_server(server_factory: Any, mongo_uri_2: str, db_name_2: str) -> None:
    standalone = server_factory(standalone=True)
    with sync(standalone.uri) as client:
        client.src.c0.insert_one({"_id": 1})

    result = subprocess.run(
        cli(standalone.uri, mongo_uri_2, "src", db_name_2, "--consistent"), cwd=ROOT, capture_output=True, text=True
    )

    assert result.returncode == ExitCode.CONFIGURATION
    assert "--consistent needs change streams, which the standalone server" in result.stderr
    with sync(mongo_uri_2) as client:
        assert db_name_2 not in client.list_database_names(), "nothing written"


def test_consistent_with_verify_only_is_refused_with_one_line(mongo_uri: str, mongo_uri_2: str, db_name_2: str) -> None:
    """--verify-only compares with the source as it is now: --consistent would be silently ignored."""
    result = subprocess.run(
        cli(mongo_uri, mongo_uri_2, "src", db_name_2, "--consistent", "--verify-only"),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == ExitCode.CONFIGURATION
    assert result.stderr.count("\n") == 1 and "--verify-only copies nothing" in result.stderr, result.stderr
    assert "--consistent" in result.stderr


class WritesOnFirstNote:
    """A progress sink that writes to the source when the copy announces its plan (after the start time)."""

    def __init__(self, uri: str, db: str) -> None:
        self.uri, self.db, self.wrote = uri, db, False

    def start(self, task: str, total: int | None = None, unit: str = "docs", **_: Any) -> None:
        pass

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        pass

    def finish(self, task: str, message: str | None = None, **_: Any) -> None:
        pass

    def note(self, message: str) -> None:
        if not self.wrote:
            self.wrote = True
            source_writes(self.uri, self.db, 4)


async def test_a_plain_copy_says_it_is_not_point_in_time_when_the_source_was_written(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    seed(mongo_uri, db_name)
    options = BackupOptions(src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2)

    quiet = await backup(dataclasses.replace(options, dest_db=db_name_2 + "_quiet"))
    written = await backup(options, WritesOnFirstNote(mongo_uri, db_name))

    assert quiet.point_in_time is None and not any("not of one point in time" in n for n in quiet.notes)
    assert written.point_in_time is None
    assert any("the source was written during the copy" in n for n in written.notes), written.notes



async def paused_dump(mongo_uri: str, db_name: str, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Dump ``db_name`` with --consistent, making 60 writes after the collections were read and before T."""
    hook = tmp_path / "hook"
    hook.mkdir()
    monkeypatch.setenv(PAUSE_ENV, f"0:{hook}")
    if kind == "archive":
        options = DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(tmp_path / "a.archive"), consistent=True)
    else:
        options = DumpOptions(src_uri=mongo_uri, src_db=db_name, out=str(tmp_path / "dump"), consistent=True)
    run = asyncio.ensure_future(dump(options))
    await await_file(hook / "paused-0", "the dump's catch-up to begin")
    await asyncio.to_thread(source_writes, mongo_uri, db_name, 60)
    (hook / "go-0").touch()
    return await run


@pytest.mark.parametrize("kind", ["archive", "out"])
async def test_a_consistent_dump_restores_to_the_source_at_T(
    mongo_uri: str, db_name: str, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(mongo_uri, db_name)
    result = await paused_dump(mongo_uri, db_name, tmp_path, kind, monkeypatch)
    assert result.verified is True and result.point_in_time is not None
    assert result.point_in_time.events == 60

    target = f"{db_name}_restored"
    if kind == "archive":
        await restore_files(FileRestoreOptions(uri=mongo_uri, db=target, archive=str(tmp_path / "a.archive")))
    else:
        await restore_files(FileRestoreOptions(uri=mongo_uri, db=target, directory=str(tmp_path / "dump")))

    assert contents(mongo_uri, target) == contents(mongo_uri, db_name)
    with sync(mongo_uri) as client:
        assert "__backup_catchup" not in client[target].list_collection_names()


def test_a_consistent_dump_prints_T_in_its_summary(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """The human summary of a --consistent dump names T and what became of the events (they were missing)."""
    seed(mongo_uri, db_name)
    archive = tmp_path / "a.archive"
    command = [*ANALYTIQ_DB, "--src-uri", mongo_uri, "--src", db_name, "--archive", str(archive), "--consistent"]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    line = next((s for s in result.stdout.splitlines() if s.startswith("Consistent dump: ")), "")
    assert "point in time T = Timestamp(" in line and "change events written to the dump" in line, result.stdout
