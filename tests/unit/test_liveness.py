"""Judging a holder's process gone (``analytiq_data/liveness.py``: locks, a backup's claim, the follower's
heartbeat): only for a process of this host, boot and PID namespace; a reused pid and a zombie count as gone;
any doubt counts as alive."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from bson.timestamp import Timestamp

from analytiq_data.backup.log.status import HEARTBEAT, FollowStatus, Ticker
from analytiq_data.liveness import (
    PROC,
    ProcessIdentity,
    holder_gone,
    identity_of_this_process,
    is_this_process,
    stat_of,
    this_process,
)
from analytiq_data.safety.log_point import live_follower

LINUX = Path("/proc/self/stat").exists()


def _fake_proc(tmp_path: Path, pid: int, stat: str) -> Path:
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "stat").write_text(stat)
    return proc


def test_the_start_time_is_read_after_the_last_parenthesis(tmp_path: Path) -> None:
    fields = ["S", *[str(n) for n in range(4, 22)], "777", "0"]  # field 22 (start time) is 777
    proc = _fake_proc(tmp_path, 42, f"42 (odd) name) {' '.join(fields)}\n")
    assert stat_of(42, proc) == ("S", 777)
    assert stat_of(43, proc) is None
    (proc / "44").mkdir()
    (proc / "44" / "stat").write_text("44 (short) S 1")
    assert stat_of(44, proc) is None


def test_without_a_usable_proc_nothing_is_judged(tmp_path: Path) -> None:
    me = identity_of_this_process(tmp_path / "no-proc")
    assert not me.judgeable and me.fields() == {"boot_id": None, "pid_ns": None, "pid_start": None}
    doc = {"host": me.host, "pid": 999_999, "boot_id": None, "pid_ns": None, "pid_start": 1}
    assert not holder_gone(doc, me)


@pytest.mark.skipif(not LINUX, reason="needs /proc")
def test_this_process_is_alive_and_a_reused_pid_is_not() -> None:
    me = this_process()
    assert me.judgeable and me.pid == os.getpid()
    doc = {"host": me.host, "pid": me.pid, **me.fields()}
    assert not holder_gone(doc, me)
    assert holder_gone({**doc, "pid_start": (me.pid_start or 0) + 1}, me)  # same pid, another process


@pytest.mark.skipif(not LINUX, reason="needs /proc")
def test_a_zombie_and_a_reaped_process_are_gone() -> None:
    me = this_process()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        found = stat_of(child.pid)
        assert found is not None and found[0] != "Z"
        doc = {"host": me.host, "pid": child.pid, **me.fields(), "pid_start": found[1]}
        assert not holder_gone(doc, me)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (stat_of(child.pid) or ("?", 0))[0] != "Z":  # killed, not reaped yet: a zombie
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert holder_gone(doc, me)
    finally:
        child.kill()
        child.wait()
        assert child.stdin is not None
        child.stdin.close()
    assert holder_gone(doc, me)  # reaped: no such process


@pytest.mark.skipif(not LINUX, reason="needs /proc")
@pytest.mark.parametrize(
    "other",
    [{"host": "elsewhere"}, {"boot_id": "another-boot"}, {"pid_ns": "pid:[1]"}, {"pid": True}, {"pid": -1}],
)
def test_a_holder_that_may_not_share_this_pid_space_is_never_judged_gone(other: dict[str, object]) -> None:
    me = this_process()
    dead = subprocess.Popen(["true"])
    dead.wait()
    doc = {"host": me.host, "pid": dead.pid, **me.fields()}
    assert holder_gone(doc, me)
    assert not holder_gone({**doc, **other}, me)


def test_an_identity_names_its_fields() -> None:
    me = ProcessIdentity("h", 1, "b", "pid:[2]", 3)
    assert me.judgeable and me.fields() == {"boot_id": "b", "pid_ns": "pid:[2]", "pid_start": 3}
    assert me.record() == {"host": "h", "pid": 1, "boot_id": "b", "pid_ns": "pid:[2]", "pid_start": 3}
    assert is_this_process(me.record(), me)
    assert not is_this_process({**me.record(), "pid_ns": "pid:[9]"}, me)
    unknown = ProcessIdentity("h", 1, None, None, None)
    assert not is_this_process(unknown.record(), unknown)  # a host name and a pid alone may be another container's


# The follower's heartbeat (``backup/log/status.py``) is judged by the same test (``safety/log_point.py``).


def _heartbeat(folder: Path, **other: object) -> None:
    """Write the heartbeat a following follower of ``app`` in this process writes, with the fields ``other`` changed."""
    Ticker(folder, "app").beat(FollowStatus("following", 0, 0, 0.0, Timestamp(1, 1), None, 1, 0))
    if other:
        path = folder / HEARTBEAT
        path.write_text(json.dumps({**json.loads(path.read_text()), **other}))


@pytest.mark.skipif(not LINUX, reason="needs /proc")
def test_a_follower_heartbeat_is_dead_only_when_its_process_is_known_gone(tmp_path: Path) -> None:
    _heartbeat(tmp_path)
    assert live_follower(str(tmp_path), "app") is not None  # this process: alive
    dead = subprocess.Popen(["true"])
    dead.wait()
    _heartbeat(tmp_path, pid=dead.pid)
    assert live_follower(str(tmp_path), "app") is None  # gone from this host, boot and PID namespace
    _heartbeat(tmp_path, pid=dead.pid, pid_ns="pid:[1]")  # a follower in another container with this host name
    assert live_follower(str(tmp_path), "app") is not None


def _process_of_another_user() -> int | None:
    """Return the pid of a process owned by another user than this one, None if none is visible."""
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid != os.getuid():
                    return int(entry.name)
            except OSError:
                continue
    return None


@pytest.mark.skipif(not LINUX, reason="needs /proc")
def test_a_follower_heartbeat_of_another_user_counts_live() -> None:
    """A follower run by another user is alive although kill(pid, 0) is refused (PermissionError): review
    finding 1 (it counted as dead, and ``up --backup --backup-log`` made a full copy instead)."""
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)  # readable by the other user below
        _heartbeat(folder)
        if os.geteuid() != 0:  # judged here: the heartbeat names a process of another user
            other = _process_of_another_user()
            found = stat_of(other) if other is not None else None
            if other is None or found is None:
                pytest.skip("no process of another user is visible in /proc")
            _heartbeat(folder, pid=other, pid_start=found[1])
            assert live_follower(str(folder), "app") is not None
            return
        child = os.fork()  # root: the heartbeat names this process, judged by a child running as nobody
        if child == 0:
            code = 2
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                code = 0 if live_follower(str(folder), "app") is not None else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the follower of another user was taken for dead"
    finally:
        shutil.rmtree(folder)
