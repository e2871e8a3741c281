"""Pytest plugin: real MongoDB-compatible servers for every test.

- ``mongo_uri`` / ``mongo_uri_2``: two servers shared by the whole run (SecantusDB processes on
  free loopback ports, or the real servers named by ``MONGODB_URI`` / ``MONGODB_URI_2``).
- ``db_name`` / ``client`` / ``db``: a fresh database per test, dropped afterwards.
- ``server_factory``: servers a test owns and may SIGKILL, restart or start ``--standalone``;
  only for tests marked ``controls_server``.

Marker ``controls_server``: the test kills or reconfigures a server process, so it runs only on
the test servers (never against MONGODB_URI). Marker ``needs_real_mongod``: the test exercises what
SecantusDB lacks (snapshot reads at a cluster time, text indexes), so it runs only with MONGODB_URI
set. Marker ``needs_mongos``: the test goes through mongos, so it runs only when MONGODB_URI names
one. docs/how-to/real-clusters.md starts such deployments (deploy/compose.yaml, the CI workflow).
"""

from __future__ import annotations

import compileall
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from analytiq_data.client import AnalytiqClient
from tests import mongo_tools
from tests.mongo_tools import SKIP_REASON
from tools.testserver import TestServer

REAL_URI = os.environ.get("MONGODB_URI") or None
REAL_URI_2 = os.environ.get("MONGODB_URI_2") or None
ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Compile the repository's bytecode once per run (only changed files; ``__pycache__`` is git-ignored).

    Many tests start ``analytiq-db`` processes; under ``PYTHONDONTWRITEBYTECODE=1`` (set on the project's
    machines) each of them would otherwise compile every module of the package again at start-up.
    Under pytest-xdist only the controlling process does it, before the workers start.
    """
    if hasattr(config, "workerinput"):
        return
    for part in ("packages", "tests", "tools"):
        compileall.compile_dir(ROOT / part, quiet=1)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report every "no mongo-tools" skip (``tests.mongo_tools``) at the line that skips, so the summary
    folds them into ONE line (pytest would name each test's own line)."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and str(report.longrepr[2]).endswith(SKIP_REASON):
        here = [e for e in call.excinfo.traceback if str(e.path) == mongo_tools.__file__] if call.excinfo else []
        report.longrepr = (mongo_tools.__file__, here[-1].lineno + 1 if here else 1, str(report.longrepr[2]))
    return report


def using_real_server() -> bool:
    """Return whether the tests run against servers named by MONGODB_URI rather than SecantusDB."""
    return REAL_URI is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Route tests by marker: server-controlling ones to the test servers, mongod-only ones to MONGODB_URI.

    ``needs_mongos`` tests run only when MONGODB_URI is a mongos (asked once, with ``hello``).
    """
    only_test_servers = pytest.mark.skip(reason="controls a server process: runs on the test servers, not MONGODB_URI")
    only_real = pytest.mark.skip(reason="needs a feature SecantusDB lacks: runs when MONGODB_URI names a real mongod")
    only_mongos = pytest.mark.skip(reason="exercises mongos: runs when MONGODB_URI names a mongos (a sharded cluster)")
    mongos: bool | None = None
    for item in items:
        if REAL_URI and item.get_closest_marker("controls_server"):
            item.add_marker(only_test_servers)
        if not REAL_URI and item.get_closest_marker("needs_real_mongod"):
            item.add_marker(only_real)
        if item.get_closest_marker("needs_mongos"):
            if mongos is None:
                mongos = REAL_URI is not None and _is_mongos(REAL_URI)
            if not mongos:
                item.add_marker(only_mongos)


def _is_mongos(uri: str) -> bool:
    """Return whether ``uri`` names a mongos (``hello`` says ``isdbgrid``)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return bool(client.admin.command("hello").get("msg") == "isdbgrid")


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """URI of the server shared by the whole run."""
    if REAL_URI:
        yield REAL_URI
        return
    server = TestServer(name="shared").start()
    try:
        yield server.uri
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def mongo_uri_2() -> Iterator[str]:
    """URI of a second, separate server (a second "MongoDB instance") for copy tests."""
    if REAL_URI_2:
        yield REAL_URI_2
        return
    if REAL_URI:
        pytest.fail("MONGODB_URI is set but MONGODB_URI_2 is not: two-instance tests need both")
    server = TestServer(name="second").start()
    try:
        yield server.uri
    finally:
        server.cleanup()


def _db_name_for(node: pytest.Item) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", node.name)[:30]
    return f"t_{base}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def db_name(request: pytest.FixtureRequest, mongo_uri: str) -> Iterator[str]:
    """A database name unique to this test, dropped (with its ``_`` siblings) afterwards."""
    name = _db_name_for(request.node)
    yield name
    _drop_prefixed(mongo_uri, name)


@pytest.fixture
def db_name_2(request: pytest.FixtureRequest, mongo_uri_2: str) -> Iterator[str]:
    """A database name unique to this test on the second server, dropped afterwards."""
    name = _db_name_for(request.node)
    yield name
    _drop_prefixed(mongo_uri_2, name)


def _drop_prefixed(uri: str, name: str) -> None:
    """Drop ``name`` and any database the test derived from it (``name_copy`` and the like)."""
    sync: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as sync:
        for existing in sync.list_database_names():
            if existing == name or existing.startswith(name + "_"):
                sync.drop_database(existing)


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    """An async PyMongo client on the shared server, closed after the test."""
    c: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, serverSelectionTimeoutMS=5000, tz_aware=True)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def db(client: AsyncMongoClient[Any], db_name: str) -> AsyncDatabase[Any]:
    """This test's own database on the shared server."""
    return client[db_name]


@pytest.fixture
async def aclient(mongo_uri: str, db_name: str) -> AsyncIterator[AnalytiqClient]:
    """The application's client (``AnalytiqClient``) on this test's database, closed after the test."""
    client = AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def sdb(mongo_uri: str, db_name: str) -> Iterator[Database[Any]]:
    """This test's database through a synchronous PyMongo client (tz-aware), closed after the test."""
    client: MongoClient[Any] = MongoClient(mongo_uri, tz_aware=True)
    try:
        yield client[db_name]
    finally:
        client.close()


@pytest.fixture
def server_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., TestServer]]:
    """Start servers this test owns (``standalone=True``: standalone; ``args``: more server flags); stopped after."""
    if not request.node.get_closest_marker("controls_server"):
        pytest.fail("server_factory is for tests marked @pytest.mark.controls_server")
    started: list[TestServer] = []

    def start(*, standalone: bool = False, storage: Path | None = None, args: tuple[str, ...] = ()) -> TestServer:
        path = storage or tmp_path / f"server{len(started)}"
        path.mkdir(parents=True, exist_ok=True)
        server = TestServer(path, standalone=standalone, name=f"owned{len(started)}", args=args).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
