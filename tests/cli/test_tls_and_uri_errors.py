"""TLS and URI mistakes: one line naming the real cause, the right exit code, and quickly.

A throwaway CA and server certificate are made with ``openssl``; the server is a SecantusDB
process started with ``--tls-cert-file/--tls-key-file`` and stopped by PID afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.cli.test_adopt_cli import error_line, run
from tools.testserver import free_port, server_command


def openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d: Path) -> None:
    """ca.pem signed the server's certificate, other-ca.pem did not; the certificate names only elsewhere.example."""
    for name in ("ca", "other-ca"):
        openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                "-days", "2", "-subj", f"/CN={name}")  # fmt: skip
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=x")
    (d / "san.cnf").write_text("subjectAltName=DNS:elsewhere.example\n")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")  # fmt: skip


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, certificate directory) of a TLS-only SecantusDB process."""
    d = tmp_path_factory.mktemp("tls")
    make_certs(d)
    port = free_port()
    cmd = [server_command(), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"]
    cmd += ["--log-level", "ERROR", "--tls-cert-file", str(d / "server.pem"), "--tls-key-file", str(d / "server.key")]
    with open(d / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"mongodb://127.0.0.1:{port}/?tls=true&tlsCAFile={d / 'ca.pem'}&tlsAllowInvalidHostnames=true"
    probe: MongoClient[dict[str, Any]]
    try:
        with MongoClient(uri, directConnection=True, serverSelectionTimeoutMS=250) as probe:
            deadline = time.monotonic() + 30
            while True:
                try:
                    probe.admin.command("ping")
                    break
                except PyMongoError:
                    assert time.monotonic() < deadline and proc.poll() is None, (d / "server.log").read_text()
        yield port, d
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.controls_server
@pytest.mark.parametrize(
    ("ca", "detail"),
    [
        ("other-ca.pem", "certificate verify failed: unable to get local issuer certificate"),
        ("ca.pem", "certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'"),
    ],
)
def test_a_rejected_certificate_is_named_at_once(
    tls_server: tuple[int, Path], tmp_path: Path, ca: str, detail: str
) -> None:
    port, d = tls_server
    uri = f"mongodb://127.0.0.1:{port}/?tls=true&tlsCAFile={d / ca}&directConnection=true"
    started = time.monotonic()
    result = run(tmp_path, "ping", "--uri", uri, "--timeout", "30")
    elapsed = time.monotonic() - started
    assert result.returncode == 4
    line = error_line(result)
    assert line.startswith(f"analytiq-db: error: TLS certificate of MongoDB at 127.0.0.1:{port} rejected: {detail}")
    assert "check the host and port" not in line and "Topology" not in line
    assert elapsed < 25  # not the whole 30 s server-selection timeout


@pytest.mark.parametrize("option", ["tlsCAFile", "tlsCertificateKeyFile"])
def test_a_missing_tls_file_is_a_configuration_error(tmp_path: Path, option: str) -> None:
    result = run(tmp_path, "ping", "--uri", f"mongodb://127.0.0.1:1/?tls=true&{option}={tmp_path}/nope.pem")
    assert result.returncode == 3
    assert error_line(result).endswith(
        "file is not readable — check the tlsCAFile / tlsCertificateKeyFile path and its permissions"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("replicaSett=rs0", "unknown option 'replicaSett' in the MongoDB URI"),
        ("tls=maybe", "bad option in the MongoDB URI: The value of tls must be 'true' or 'false'"),
    ],
)
def test_uri_options_the_driver_would_ignore_are_one_line_of_ours(tmp_path: Path, query: str, message: str) -> None:
    result = run(tmp_path, "ping", "--uri", f"mongodb://user:hunter2@127.0.0.1:1/?{query}")
    assert result.returncode == 3
    assert (
        error_line(result)
        == f"analytiq-db: error: {message} — check its spelling and value; the driver would ignore it"
    )
    assert "Warning" not in result.stderr and "hunter2" not in result.stderr


def test_not_a_uri_is_a_configuration_error(tmp_path: Path) -> None:
    result = run(tmp_path, "ping", "--uri", "notauri")
    assert result.returncode == 3
    assert error_line(result).startswith("analytiq-db: error: invalid MongoDB URI 'notauri': not a mongodb:// URI")
