"""Connecting to MongoDB: the async client, fast failure on bad input, and what the server is."""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.connecting import (
    CertificateWatch,
    certificate_error,
    certificate_problem,
    check_uri_scheme,
    construct,
    seed_count,
)
from analytiq_data.errors import ConfigurationError, DatabaseConnectionError, one_line
from analytiq_data.settings import DEFAULT_ENV, DEFAULT_TIMEOUT_S, DEFAULT_URI
from analytiq_data.uri import hosts_of, redact_text, redact_uri

APP_NAME = "analytiq-db"
_WATCHES: weakref.WeakKeyDictionary[AsyncMongoClient[Any], CertificateWatch] = weakref.WeakKeyDictionary()
MIN_CONNECT_TIMEOUT_S = 20.0  # the driver's default; see make_client


def make_client(uri: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> AsyncMongoClient[Any]:
    """Return an async client for ``uri`` that gives up on server selection after ``timeout_s``.

    ``timeout_s`` bounds finding a server, not how long a busy server may take to answer:
    ``connectTimeoutMS`` is also the driver monitor's patience with the server's heartbeat, and a
    missed heartbeat makes the driver cancel every operation in flight ("operation cancelled"),
    so it stays at least the driver's default of 20 s. A malformed URI raises ConfigurationError
    naming the problem, with credentials redacted. No network I/O happens here.
    """
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": int(timeout_s * 1000),
        "connectTimeoutMS": int(max(timeout_s, MIN_CONNECT_TIMEOUT_S) * 1000),
        "appname": APP_NAME,
        "tz_aware": True,
    }
    options.update(kwargs)
    check_uri_scheme(uri)
    watch = CertificateWatch(seed_count(uri))
    options["event_listeners"] = [*options.get("event_listeners", ()), watch]
    try:
        client: AsyncMongoClient[Any] = construct(uri, lambda: AsyncMongoClient(uri, **options))
    except (pm_errors.InvalidURI, pm_errors.ConfigurationError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"invalid MongoDB URI {redact_uri(uri)}: {redact_text(str(exc))}",
            hint="expected mongodb://[user:password@]host[:port][,host...]/[?options]",
        ) from exc
    _WATCHES[client] = watch
    return client


def connection_error(uri: str, exc: BaseException, timeout_s: float) -> DatabaseConnectionError:
    """Return the one-line error for a driver failure to reach or log into the server at ``uri``."""
    where = hosts_of(uri) or redact_uri(uri)
    certificate = certificate_problem(str(exc))
    if certificate is not None:
        return certificate_error(uri, certificate)
    if isinstance(exc, pm_errors.OperationFailure) and exc.code in (13, 18):
        return DatabaseConnectionError(
            f"authentication failed on {where}", hint="check the user name and password in the URI"
        )
    if isinstance(exc, pm_errors.ServerSelectionTimeoutError):
        return DatabaseConnectionError(
            f"cannot reach MongoDB at {where} within {timeout_s:g}s",
            hint="check the host and port, that the server is running, or raise --timeout",
        )
    detail = exc.details.get("errmsg") if isinstance(exc, pm_errors.OperationFailure) and exc.details else None
    return DatabaseConnectionError(
        f"MongoDB at {where} failed: {one_line(redact_text(str(detail or exc)))[:300]}",
        hint="check the server and the URI",
    )


async def ping(client: AsyncMongoClient[Any], uri: str, timeout_s: float) -> dict[str, Any]:
    """Run ``hello`` on the server and return its reply; unreachable → DatabaseConnectionError."""
    watch = _WATCHES.get(client)
    try:
        hello = client.admin.command("hello")
        reply: dict[str, Any] = await (watch.race(uri, hello) if watch is not None else hello)
    except pm_errors.PyMongoError as exc:
        raise connection_error(uri, exc, timeout_s) from exc
    return reply


@dataclass(frozen=True)
class ServerKind:
    """What ``hello`` says about the deployment behind a client."""

    topology: str  # "standalone" | "replicaset" | "sharded"
    set_name: str | None
    process_id: Any  # hello.topologyVersion.processId (unique per server process), if reported
    max_wire_version: int

    @property
    def supports_transactions(self) -> bool:
        """Whether multi-document transactions are available (replica set or mongos, wire ≥ 7/8)."""
        if self.topology == "replicaset":
            return self.max_wire_version >= 7
        if self.topology == "sharded":
            return self.max_wire_version >= 8
        return False


def server_kind(hello: dict[str, Any]) -> ServerKind:
    """Classify a ``hello`` reply as standalone, replica set member, or mongos."""
    if hello.get("msg") == "isdbgrid":
        topology = "sharded"
    elif hello.get("setName"):
        topology = "replicaset"
    else:
        topology = "standalone"
    tv = hello.get("topologyVersion") or {}
    return ServerKind(
        topology=topology,
        set_name=hello.get("setName"),
        process_id=tv.get("processId"),
        max_wire_version=int(hello.get("maxWireVersion", 0)),
    )


class AnalytiqClient:
    """The application's handle on MongoDB, as the guide uses it.

    ``mongodb_async`` is a ``pymongo.AsyncMongoClient``; ``env`` is the database name
    (``ENV``, default ``dev``); the URI comes from ``MONGODB_URI`` (default
    ``mongodb://localhost:27017``). ``uri``/``env`` given explicitly are used as they are (the
    environment is not read for them). Migrations run on ``mongodb_async[env]``.
    """

    def __init__(
        self,
        uri: str | None = None,
        env: str | None = None,
        *,
        client: AsyncMongoClient[Any] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        # An explicit value is used as given: the environment is read only for what is not given.
        self.uri = uri if uri is not None else os.environ.get("MONGODB_URI") or DEFAULT_URI
        name = env if env is not None else os.environ.get("ENV", DEFAULT_ENV)
        if not name:
            raise ConfigurationError(
                "the database name is empty (ENV is set to '' or env='' was given)",
                hint="set ENV to the database name, or unset it to use 'dev'",
            )
        self.env = name
        self.timeout_s = timeout_s if timeout_s is not None else DEFAULT_TIMEOUT_S
        self.mongodb_async: AsyncMongoClient[Any] = client or make_client(self.uri, timeout_s=self.timeout_s)
        self._owns_client = client is None

    @property
    def db(self) -> AsyncDatabase[Any]:
        """Return the application database, ``mongodb_async[env]``."""
        return self.mongodb_async[self.env]

    async def close(self) -> None:
        """Close the client if this object created it."""
        if self._owns_client:
            await self.mongodb_async.close()

    async def __aenter__(self) -> AnalytiqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AnalytiqClient(uri={redact_uri(self.uri)!r}, env={self.env!r})"


def get_analytiq_client(env: str | None = None) -> AnalytiqClient:
    """Return an AnalytiqClient from the environment (``MONGODB_URI``, ``ENV``), as the app does."""
    return AnalytiqClient(env=env)
