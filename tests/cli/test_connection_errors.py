"""Bad URIs and unreachable hosts: one line, a non-zero exit, fast, and no password."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tools.testserver import free_port

CLI = [str(Path(sys.executable).parent / "analytiq-db")]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_unreachable_host_fails_fast_in_one_line_without_password() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = run_cli(
        "ping", "--uri", f"mongodb://admin:hunter2@127.0.0.1:{port}/?directConnection=true", "--timeout", "1"
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 4
    assert result.stdout == ""
    header, error = result.stderr.splitlines()  # where it looked (said before connecting), then one error line
    uri = f"mongodb://admin:***@127.0.0.1:{port}/?directConnection=true"
    assert header == f"target: database dev (the default) on {uri} (from --uri)"
    assert f"cannot reach MongoDB at 127.0.0.1:{port} within 1s" in error
    assert "hunter2" not in result.stderr
    assert elapsed < 10


def test_malformed_uri_is_a_configuration_error() -> None:
    result = run_cli("ping", "--uri", "mongodb://admin:hunter2@/nohost", "--timeout", "1")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert "invalid MongoDB URI" in result.stderr
    assert "hunter2" not in result.stderr


def test_not_a_mongodb_uri() -> None:
    result = run_cli("ping", "--uri", "http://example", "--timeout", "1")
    assert result.returncode == 3
    assert "invalid MongoDB URI" in result.stderr


def test_ping_reaches_the_server(mongo_uri: str) -> None:
    result = run_cli("ping", "--uri", mongo_uri)
    assert result.returncode == 0, result.stderr
    assert "MongoDB" in result.stdout


def test_ping_json(mongo_uri: str) -> None:
    import json

    result = run_cli("ping", "--uri", mongo_uri, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["topology"] in {"standalone", "replicaset", "sharded"}
