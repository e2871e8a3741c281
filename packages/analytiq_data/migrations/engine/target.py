"""What every verb works on, declared once: a ``Target`` (client, database, URI, timeout), and the
``Connection`` a verb opens on it (the engine's clients and what the server's one ``hello`` said).

An application hands over its own object (anything with ``mongodb_async`` and ``env``, such as
``AnalytiqClient``; ``uri`` and ``timeout_s`` are read when present): ``Target.of`` reads it once.
The command line builds a ``Target`` from its settings. Nothing below reads the application's
object again, and a verb sends ``hello`` once: the reply names the server kind (transactions or
not) and doubles as the reachability check.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.client import ServerKind, connection_error, ping, server_kind
from analytiq_data.errors import AnalytiqError, ConfigurationError
from analytiq_data.migrations.engine.clients import EngineClients, open_clients
from analytiq_data.migrations.engine.drivers import StepsDriver, declared
from analytiq_data.settings import DEFAULT_TIMEOUT_S


class ClientLike(Protocol):
    """An application's client object: the async Mongo client and the database name (``env``)."""

    mongodb_async: Any  # AsyncMongoClient or motor's AsyncIOMotorClient
    env: str


@dataclass(frozen=True)
class Target:
    """One database to migrate: ``client`` (PyMongo ``AsyncMongoClient`` or motor's
    ``AsyncIOMotorClient``, never closed by the engine), ``database``, and the ``uri`` and
    ``timeout_s`` used to name the server and bound the search for it in error messages.

    ``driver`` is the kind of database steps and run hooks get: ``auto`` (default), the client's own
    kind; ``motor`` or ``pymongo`` to give them the other (the command line's client is PyMongo's and
    asks for ``motor`` for a list written for motor; see ``drivers``)."""

    client: Any
    database: str
    uri: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    driver: StepsDriver = "auto"

    @classmethod
    def of(cls, app: Target | ClientLike) -> Target:
        """Return ``app`` if it is a Target, else the Target declared by its ``mongodb_async`` and ``env``
        (and ``uri``, ``timeout_s`` when it has them); ConfigurationError for anything else."""
        if isinstance(app, Target):
            return app
        client = getattr(app, "mongodb_async", None)
        database = getattr(app, "env", None)
        if client is None or not isinstance(database, str) or not database:
            raise ConfigurationError(
                f"{type(app).__name__} is not a client the migrations can use: it needs mongodb_async and env",
                hint="pass an AnalytiqClient, or an object with mongodb_async (an async client) and env (the database)",
            )
        uri = str(getattr(app, "uri", "") or "")
        return cls(client, database, uri, float(getattr(app, "timeout_s", DEFAULT_TIMEOUT_S)))

    @property
    def mongodb_async(self) -> Any:
        """The client (so a Target is accepted wherever an application's client object is)."""
        return self.client

    @property
    def env(self) -> str:
        """The database name (as on an application's client object)."""
        return self.database


def with_declared_driver(target: Target, migrations: Sequence[Any]) -> Target:
    """Return ``target`` with the kind of database the list's classes declare (``database_kind``) when
    the target leaves it to ``auto``; a kind the target states wins."""
    stated = declared(migrations) if target.driver == "auto" else None
    return target if stated is None else replace(target, driver=stated[0])


@dataclass(frozen=True)
class Connection:
    """One verb's clients on a target and the server kind its ``hello`` reported."""

    target: Target
    clients: EngineClients
    server: ServerKind

    @property
    def db(self) -> AsyncDatabase[Any]:
        """The target database on the engine's bookkeeping client."""
        return self.clients.bookkeeping[self.target.database]

    @property
    def transactions(self) -> bool:
        """Whether the server has multi-document transactions."""
        return self.server.supports_transactions


@contextlib.asynccontextmanager
async def driver_errors(target: Target) -> AsyncIterator[None]:
    """Turn a driver error escaping a verb into a one-line DatabaseConnectionError."""
    try:
        yield
    except AnalytiqError:
        raise
    except PyMongoError as exc:
        raise connection_error(target.uri, exc, target.timeout_s) from exc


@contextlib.asynccontextmanager
async def connect(target: Target, *, for_steps: bool = False) -> AsyncIterator[Connection]:
    """Open the verb's clients (``clients.open_clients``), send ``hello`` once, yield the Connection; close after.

    ``hello`` goes through the application's own client when it is a PyMongo one (a client made by
    ``make_client`` names a rejected TLS certificate at once), else through the engine's. An
    unreachable server raises DatabaseConnectionError; an unsupported client kind ConfigurationError.
    """
    opened = open_clients(target.client, for_steps=for_steps, driver=target.driver)
    async with opened as clients, driver_errors(target):
        own = isinstance(target.client, AsyncMongoClient)
        asker: AsyncMongoClient[Any] = target.client if own else clients.bookkeeping
        hello = await ping(asker, target.uri, target.timeout_s)
        yield Connection(target, clients, server_kind(hello))
