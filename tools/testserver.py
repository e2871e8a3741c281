"""Start and stop SecantusDB server processes on free loopback ports (tests and demo only).

SecantusDB is GPL: it is run as a separate process through its ``secantusd-py`` command and
spoken to over the wire with PyMongo. Nothing here imports it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

START_TIMEOUT_S = 30.0


def server_command() -> str:
    """Return the path of ``secantusd-py`` beside the running interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "secantusd-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: install the test extra (pip install '.[test]')")
    return found


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestServer:
    """One SecantusDB server process: start, SIGKILL, restart on the same storage, stop by PID."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, storage: Path | None = None, *, standalone: bool = False, name: str = "server", args: tuple[str, ...] = ()
    ) -> None:
        self._own_storage = storage is None
        self.args = args  # more server flags (e.g. --oplog-max-entries N)
        self.storage = storage or Path(tempfile.mkdtemp(prefix=f"secantus-{name}-"))
        self.standalone = standalone
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = self.storage.parent / f"{self.storage.name}.log"

    @property
    def uri(self) -> str:
        """The URI to reach this server directly."""
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> TestServer:
        """Start the process (a new free port unless restarting) and wait until it answers ping."""
        last_error = ""
        for _ in range(3):
            if not self.port:
                self.port = free_port()
            cmd = [
                server_command(),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.storage),
                "--log-level",
                "ERROR",
            ]
            if self.standalone:
                cmd.append("--standalone")
            cmd += self.args
            with open(self.log_file, "ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_ready():
                return self
            last_error = self.log_file.read_text(errors="replace")[-2000:]
            self._terminate(signal.SIGKILL)
            self.port = 0
        raise RuntimeError(f"SecantusDB did not start: {last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        client: MongoClient[dict[str, object]] = MongoClient(self.uri, serverSelectionTimeoutMS=250)
        try:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    return False
                try:
                    client.admin.command("ping")
                    return True
                except PyMongoError:
                    continue
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server (no clean shutdown), as a crash would."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> TestServer:
        """Start again on the same storage and port after ``kill`` or ``stop``."""
        return self.start()

    def stop(self) -> None:
        """Stop the server by PID: SIGTERM, then SIGKILL if it lingers."""
        self._terminate(signal.SIGTERM)

    def _terminate(self, sig: int) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def cleanup(self) -> None:
        """Stop the server and delete storage this object created (SIGKILL then: nothing in it is kept)."""
        if self._own_storage:
            self.kill()
        else:
            self.stop()
        if self._own_storage:
            shutil.rmtree(self.storage, ignore_errors=True)
            self.log_file.unlink(missing_ok=True)
