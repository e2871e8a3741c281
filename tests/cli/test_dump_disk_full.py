"""A dump whose disk fills (or whose output cannot take the bytes) ends with the I/O exit code and one
line naming the file, and leaves nothing behind (issue 17 §3: it exited 1, "a check found a problem").

The failures are the kernel's, not simulated: a 64 KiB tmpfs mounted in a private mount namespace
(``unshare --mount``, so the host never sees it; as root here, or through a user namespace with
``-r`` elsewhere), a file-size limit (RLIMIT_FSIZE: the kernel refuses the write with EFBIG), and
``/dev/full`` as standard output (every write fails with ENOSPC).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import ExitCode
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.dump_fixture import build_dump_fixture

#: The tmpfs is far smaller than the dump (a few hundred KiB even gzipped): it fills mid-way.
TMPFS_SIZE = "64k"


def _can_mount_tmpfs() -> bool:
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt 2>/dev/null || exit 1"]
    return shutil.which("unshare") is not None and subprocess.run(probe, capture_output=True).returncode == 0


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (the test looks at its exit code and stderr)."""
    return subprocess.run(cmd, cwd=ROOT, text=True, timeout=240, stdin=subprocess.DEVNULL, **kw)


def to_dev_full(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command with its standard output on ``/dev/full`` (every write fails with ENOSPC)."""
    with open("/dev/full", "wb") as full:
        return run(cmd, stdout=full, stderr=subprocess.PIPE)


def _last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("kind", ["archive", "out"])
async def test_a_full_disk_stops_the_dump_with_the_io_code_and_leaves_nothing(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, kind: str
) -> None:
    if not _can_mount_tmpfs():
        pytest.fail("this test needs `unshare -rm` and tmpfs mounts (a Linux kernel with user namespaces)")
    await build_dump_fixture(db, users=3000)
    disk = tmp_path / "disk"
    os.mkdir(disk)
    target = disk / "backups" / ("a.archive" if kind == "archive" else "dump")
    script = (
        f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$1" || exit 99\n'
        'shift\n"$@"\nrc=$?\necho "left: $(cd "$DISK" && find . -mindepth 1 | sort | tr "\\n" " ")"\nexit $rc\n'
    )
    cmd = [CLI, "backup", "--src-uri", mongo_uri, "--src", db_name, f"--{kind}", str(target)]
    done = run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(disk), *cmd],
        env={**os.environ, "DISK": str(disk)},
        capture_output=True,
    )
    assert done.returncode == ExitCode.IO, done.stderr
    line = _last_line(done.stderr)
    assert line.startswith("analytiq-db: error: ") and "No space left on device" in line, done.stderr
    assert str(target) in line
    assert "left: \n" in done.stdout  # the tmpfs is empty again: no partial file, no directory made for it


async def test_a_file_size_limit_stops_a_directory_dump_with_the_io_code(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    await build_dump_fixture(db, users=3000)
    out = tmp_path / "dump"

    def limit() -> None:  # in the child: any write past 32 KiB into a file fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))

    cmd = [CLI, "backup", "--src-uri", mongo_uri, "--src", db_name, "--out", str(out)]
    done = run(cmd, capture_output=True, preexec_fn=limit)
    assert done.returncode == ExitCode.IO, done.stderr
    line = _last_line(done.stderr)
    assert "File too large" in line and str(out / db_name) in line, done.stderr
    assert not out.exists()  # out/ was made for the dump: removed with it


async def test_an_archive_to_a_full_stdout_stops_with_the_io_code(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await build_dump_fixture(db, users=300)
    done = to_dev_full([CLI, "backup", "--src-uri", mongo_uri, "--src", db_name, "--archive", "-"])
    assert done.returncode == ExitCode.IO, done.stderr
    line = _last_line(done.stderr)
    assert "standard output" in line and "No space left on device" in line, done.stderr
