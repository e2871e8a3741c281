"""The follower never holds up its event loop (review findings 11 and 15): its fsyncs and the gzip of a
closed segment run in a thread, and its test pauses wait asynchronously (the old hook called
``time.sleep`` on the loop, so nothing else in the process ran while it was paused)."""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from analytiq_data.backup.log.appender import PAUSE_ENV
from analytiq_data.backup.log.catalog import load_catalog
from analytiq_data.backup.log.follower import FollowOptions, follow
from tests.server.test_backup_consistent import await_file
from tests.server.test_pitr import WAIT_S, adb, seed, sync_client

EVENTS = 300


def _on_the_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _logged(mongo_uri: str, db_name: str, folder: Path) -> FollowOptions:
    """Seed the source, take the log's base (in another process), then change the source by EVENTS events."""
    seed(mongo_uri, db_name)
    base = adb("follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up", "--gzip")
    assert base.returncode == 0, base.stderr
    with sync_client(mongo_uri) as client:
        client[db_name].c0.insert_many([{"_id": 9000 + i} for i in range(EVENTS)])
    return FollowOptions(mongo_uri, db_name, str(folder), gzip=True, segment_mb=0.01, catch_up=True)


async def test_the_followers_fsyncs_and_gzip_run_off_the_event_loop(
    mongo_uri: str, db_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = _logged(mongo_uri, db_name, tmp_path / "log")
    on_loop: list[str] = []
    fsync, compress = os.fsync, gzip.compress

    def watched_fsync(fd: int) -> None:
        if _on_the_loop():
            on_loop.append("fsync")
        fsync(fd)

    def watched_compress(data: Any, *args: Any, **kwargs: Any) -> bytes:
        if _on_the_loop():
            on_loop.append("gzip")
        return compress(data, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", watched_fsync)
    monkeypatch.setattr(gzip, "compress", watched_compress)
    result = await follow(options)
    assert result.events == EVENTS and result.segments_closed >= 2  # segments closed (and gzipped) on the way
    assert on_loop == []


async def test_a_paused_follower_leaves_its_event_loop_free_and_a_stop_finishes_the_closing(
    mongo_uri: str, db_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused while it closes a full segment, the follower lets this test run on the same loop and cancel it
    (a stop request); the stop lets the closing end: the segment is catalogued, nothing is left open."""
    folder, hooks = tmp_path / "log", tmp_path / "hooks"
    hooks.mkdir()
    options = _logged(mongo_uri, db_name, folder)
    first = load_catalog(folder).next_seq
    monkeypatch.setenv(PAUSE_ENV, f"closing:{hooks}")
    # Only if the loop were blocked: let the follower go on after a while, so the test fails instead of hanging.
    rescue = threading.Timer(WAIT_S, (hooks / "go-closing").touch)
    rescue.start()
    try:
        task = asyncio.create_task(follow(options))
        await await_file(hooks / "paused-closing", "the follower to close its first full segment")
        assert not (hooks / "go-closing").exists(), "the event loop was blocked while the follower paused"
        assert not task.done()
        task.cancel()
        (hooks / "go-closing").touch()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        rescue.cancel()
    closed = [s for s in load_catalog(folder).segments if s["seq"] >= first]
    assert len(closed) == 1 and closed[0]["events"] >= 1  # the segment being closed, catalogued; no other
    assert not list(folder.rglob("*.open")) and not list(folder.rglob("*.tmp"))
