"""The follower as a person runs it: one per directory, stopped by SIGTERM from anywhere, watched on a terminal.

Found by trying ``analytiq-db follow`` by hand: a second follower on the same directory "recovered"
the first one's open segment under it (the first then died with an internal error); a follower
started in the background by a script (SIGINT ignored) took SIGTERM as an exception thrown
anywhere and exited 130; and on a terminal the status line never showed once the base was taken.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from bson.timestamp import Timestamp

from analytiq_data.backup.log.catalog import load_catalog
from analytiq_data.backup.log.format import previous
from analytiq_data.restore_mark import MARK_COLLECTION, MARK_ID
from tests.server.pitr_model import snapshot
from tests.server.test_pitr import ADB, ROOT, WAIT_S, adb, durable, restore_at, seed, sync_client, wait_for


def _follow(uri: str, db: str, folder: Path) -> list[str]:
    return [ADB, "follow", "--src-uri", uri, "--src", db, "--to", str(folder)]


def test_a_second_follower_on_the_same_directory_is_refused_and_the_first_goes_on(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    first = subprocess.Popen(_follow(mongo_uri, db_name, folder), cwd=ROOT, text=True, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: durable(folder) is not None, "the first follower's heartbeat")
        opened = sorted((folder / "segments").glob("*.open"))
        second = adb(*_follow(mongo_uri, db_name, folder)[1:], "--catch-up")
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 5 and len(lines) == 1, second.stderr
        assert "another follower" in lines[0] and f"pid {first.pid}" in lines[0]
        assert sorted((folder / "segments").glob("*.open")) == opened  # its open segment left alone
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=WAIT_S)
    assert first.returncode == 0, err


def test_sigterm_stops_a_follower_cleanly_when_sigint_is_ignored(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """A shell script's background job ignores SIGINT; SIGTERM must still close the segment and exit 0."""
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        _follow(mongo_uri, db_name, folder), cwd=ROOT, text=True, stderr=subprocess.PIPE, preexec_fn=ignore_sigint
    )
    wait_for(lambda: durable(folder) is not None, "the follower's heartbeat")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    assert "follow stopped: open segment closed" in err and "interrupted" not in err
    assert not list((folder / "segments").glob("*.open"))


_CSI = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(data: bytes) -> list[str]:
    """Replay what a program wrote to a terminal (text, CR, LF and the cursor-up/erase-line codes rich
    uses; colours ignored) and return the lines left on the screen."""
    lines, row, col, i = [""], 0, 0, 0
    while i < len(data):
        if found := _CSI.match(data, i):
            arg, code = found.group(1), found.group(2)
            if code == b"A":
                row = max(0, row - (int(arg) if arg.isdigit() else 1))
            elif code == b"K":
                lines[row] = "" if arg == b"2" else lines[row][:col]
            i = found.end()
            continue
        if data[i : i + 1] in (b"\r", b"\n"):
            col = 0
            row += data[i : i + 1] == b"\n"
            lines += [""] * (row + 1 - len(lines))
            i += 1
            continue
        end = i + 1
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end += 1
        line = lines[row].ljust(col)
        lines[row] = line[:col] + data[i:end].decode(errors="replace") + line[col + 1 :]
        col, i = col + 1, end
    return lines


def test_the_status_line_shows_on_a_terminal_after_the_base(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """On a TTY the live line (lag, events/s, restorable range) stays on screen, also when this run took the base.

    Each read of the terminal ends after a whole redraw, so the screen at every read after the first
    status line must end with it (two live displays fighting leave it erased most of the time).
    """
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    main, side = pty.openpty()
    env = {**os.environ, "COLUMNS": "400", "LINES": "60", "TERM": "xterm"}
    proc = subprocess.Popen(
        _follow(mongo_uri, db_name, folder), cwd=ROOT, stdin=side, stdout=side, stderr=side, env=env
    )
    os.close(side)
    seen, reads = b"", []
    try:
        deadline = time.monotonic() + WAIT_S
        while seen.count(b"follow: lag ") < 12:  # the line redrawn a dozen times after the base
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"no status line on the terminal: {seen[-2000:]!r}")
            ready, _, _ = select.select([main], [], [], 1.0)  # waits for output, not for time
            if ready:
                seen += os.read(main, 65536)
                reads.append(len(seen))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=WAIT_S)
        os.close(main)
    assert proc.returncode == 0
    first = seen.index(b"follow: lag ")
    shown = [[line for line in screen(seen[:end]) if line.strip()][-1] for end in reads if end > first]
    assert all(line.startswith("follow: lag ") and "restorable Timestamp(" in line for line in shown), shown


def test_a_file_as_the_log_directory_is_one_line(mongo_uri: str, tmp_path: Path) -> None:
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    done = adb("follow", "--src-uri", mongo_uri, "--src", "app", "--to", str(file), "--catch-up")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"analytiq-db: error: --to {file} is not a directory — give a directory for the log (created if missing)"
    ]


def test_a_directory_holding_other_files_is_not_made_a_log(mongo_uri: str, tmp_path: Path) -> None:
    mine = tmp_path / "my-files"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    done = adb("follow", "--src-uri", mongo_uri, "--src", "app", "--to", str(mine), "--catch-up")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"analytiq-db: error: --to {mine} holds files and is not an event log (notes.txt): nothing written "
        "— give a new or empty directory for the log"
    )
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]  # not even the follower's lock file


def test_a_follower_that_cannot_start_leaves_no_directory_behind(tmp_path: Path) -> None:
    to = tmp_path / "new-log"
    unreachable = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300"  # the discard port: nothing listens
    done = adb("follow", "--src-uri", unreachable, "--src", "app", "--to", str(to), "--catch-up", "--timeout", "1")
    assert done.returncode == 4, done.stderr
    assert not to.exists()
    existing = tmp_path / "empty-log"
    existing.mkdir()  # a directory the user made is kept (empty, as it was)
    done = adb(
        "follow", "--src-uri", unreachable, "--src", "app", "--to", str(existing), "--catch-up", "--timeout", "1"
    )
    assert done.returncode == 4, done.stderr
    assert existing.is_dir()


def test_a_restore_into_the_followed_database_stops_the_follower_with_a_gap(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    """The log cannot represent a restore's swap (on SecantusDB the renames into the database are not even
    change events, so replay gave an empty database): the follower stops at the restore's mark with a
    gap, moments after it are refused, and a new base taken after the restore follows on."""
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    proc = subprocess.Popen(_follow(mongo_uri, db_name, folder), cwd=ROOT, text=True, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: durable(folder) is not None, "the follower's heartbeat")
        with sync_client(mongo_uri) as client:
            client[db_name].c0.insert_one({"_id": "before"})
            with client.start_session() as s:
                client[db_name].c0.insert_one({"_id": "after"}, session=s)
                moment = s.operation_time
            assert moment is not None
        wait_for(lambda: (durable(folder) or Timestamp(0, 0)) >= moment, "the follower to log the writes")
        back = previous(moment)  # just before "after": the database with "before" only
        done = restore_at(mongo_uri, db_name, folder, back)
        assert done.returncode == 0, done.stderr
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = err.strip().splitlines()
    assert proc.returncode == 3, err
    assert "replaced by a restore" in lines[-1] and "--new-base" in lines[-1], lines[-1]
    catalog = load_catalog(folder)
    assert len(catalog.gaps) == 1 and catalog.gaps[0]["to"] is None
    with sync_client(mongo_uri) as client:
        now = client.admin.command("ping")["operationTime"]
        refused = restore_at(mongo_uri, f"{db_name}_x", folder, now)
        assert refused.returncode == 3 and "gap" in refused.stderr, refused.stderr
        assert adb(*_follow(mongo_uri, db_name, folder)[1:], "--catch-up", "--new-base").returncode == 0
        client[db_name].c0.insert_one({"_id": "later"})
        assert adb(*_follow(mongo_uri, db_name, folder)[1:], "--catch-up").returncode == 0
        end = max(r.end for r in load_catalog(folder).ranges())
        assert restore_at(mongo_uri, f"{db_name}_end", folder, end).returncode == 0
        assert snapshot(client[f"{db_name}_end"]) == snapshot(client[db_name])
        assert client[db_name].c0.find_one({"_id": "after"}) is None


def test_no_base_is_taken_while_a_restore_is_replacing_the_database(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    """A base taken under a restore (running, or stopped part-way) would hold its partial load or miss its
    swap: refused with one line (the restore's mark says so)."""
    seed(mongo_uri, db_name)
    with sync_client(mongo_uri) as client:  # the mark a restore writes before it loads (restore_mark)
        mark = {"_id": MARK_ID, "phase": "loading", "source": "backup 'x'", "staged": [], "created": ["c9"]}
        client[db_name][MARK_COLLECTION].insert_one(mark)
    done = adb(*_follow(mongo_uri, db_name, tmp_path / "log")[1:], "--catch-up")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3 and len(lines) == 1, done.stderr
    assert "a restore is replacing" in lines[0]
    assert not (tmp_path / "log" / "bases").exists() or not list((tmp_path / "log" / "bases").iterdir())
    with sync_client(mongo_uri) as client:  # the restore run again finishes, or removes what it left
        client[db_name].drop_collection(MARK_COLLECTION)
    assert adb(*_follow(mongo_uri, db_name, tmp_path / "log")[1:], "--catch-up").returncode == 0
