"""One line for the user: raw server replies, topology dumps and driver timeouts never in it."""

from __future__ import annotations

from bson import Timestamp
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from analytiq_data.client import connection_error
from analytiq_data.connecting import certificate_problem, unknown_options
from analytiq_data.errors import ConfigurationError, MigrationError

REPLY = {
    "ok": 0.0,
    "errmsg": "Command failed: not allowed here",
    "code": 2,
    "$clusterTime": {"clusterTime": Timestamp(1, 1), "signature": {"hash": b"\x00" * 20, "keyId": 0}},
}


def test_a_driver_failure_loses_the_raw_reply() -> None:
    exc = OperationFailure("Command failed: not allowed here", 2, REPLY)
    assert "$clusterTime" in str(exc)  # what the driver's message carries
    line = connection_error("mongodb://u:pw@db1:27017/", exc, 5).user_line()
    assert line == "MongoDB at db1:27017 failed: Command failed: not allowed here — check the server and the URI"
    wrapped = MigrationError(f"version 2 (X) failed (up): OperationFailure: {exc}", hint="see history").user_line()
    assert wrapped == "version 2 (X) failed (up): OperationFailure: Command failed: not allowed here — see history"


def test_a_topology_dump_is_cut() -> None:
    text = (
        "db1:27017: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms), "
        "Timeout: 5.0s, Topology Description: <TopologyDescription id: 1, servers: [...]>"
    )
    exc = ServerSelectionTimeoutError(text)
    line = connection_error("mongodb://db1:27017/", exc, 5).user_line()
    assert line.startswith("cannot reach MongoDB at db1:27017 within 5s")
    assert ConfigurationError(text).user_line() == "db1:27017: [Errno 111] Connection refused"


def test_certificate_problems_are_recognised() -> None:
    text = (
        "127.0.0.1:27017: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
        "(_ssl.c:1006) (configured timeouts: connectTimeoutMS: 20000.0ms)"
    )
    assert certificate_problem(text) == "certificate verify failed: self-signed certificate"
    assert certificate_problem("127.0.0.1:27017: [Errno 111] Connection refused") is None
    exc = ServerSelectionTimeoutError(text + ", Timeout: 5.0s, Topology Description: <...>")
    line = connection_error("mongodb://127.0.0.1:27017/?tls=true", exc, 5).user_line()
    assert line.startswith("TLS certificate of MongoDB at 127.0.0.1:27017 rejected: certificate verify failed")


def test_unknown_options_are_named_as_written() -> None:
    uri = "mongodb://h/?replicaSet=rs0&replicaSett=rs0&TLS=true&w=majority&bogus%20opt=1"
    assert unknown_options(uri) == ["replicaSett", "bogus opt"]
