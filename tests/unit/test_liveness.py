"""Judging a lock holder's process gone (``engine/liveness.py``): only for a process of this host, boot
and PID namespace; a reused pid and a zombie count as gone; any doubt counts as alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytiq_data.migrations.engine.liveness import (
    ProcessIdentity,
    holder_gone,
    identity_of_this_process,
    stat_of,
    this_process,
)

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
