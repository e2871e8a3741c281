"""The clients a verb works through: the engine's own PyMongo async client and, for steps, one of the app's kind.

An application hands the engine its client: PyMongo's ``AsyncMongoClient`` or motor's
``AsyncIOMotorClient`` (deprecated by MongoDB in favour of PyMongo's async API, but what many apps
still run). The engine never imports motor; it recognises a motor client by its wrapped PyMongo
``MongoClient`` (``client.delegate``).

- **Bookkeeping** (version, history, lock, ``hello``) always goes through a PyMongo
  ``AsyncMongoClient``: the app's own when it is one, else one built from the same settings.
- **Steps** receive a database of the app's own kind (so ``AsyncIOMotorGridFSBucket(db)`` works in a
  motor app and ``AsyncGridFSBucket(db)`` in a PyMongo app) from a client built from the app's
  client's settings plus a CommandListener (``failures.CommandRecorder``): that is how a failed
  command a step swallowed is named in the error and the history. PyMongo accepts listeners only
  when a client is built, so the app's client itself cannot be watched. For a PyMongo app the same
  new client also does the bookkeeping, so the step's session and the version write share one
  client (a transaction spans one client only).

The settings are the keyword arguments the app's client was built with (``_init_kwargs``, what
PyMongo's own ``_duplicate`` copies: URI, credentials, TLS, codec options, listeners). A client
without them cannot be copied: steps then get the app's own client, unwatched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pymongo import AsyncMongoClient, MongoClient

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.failures import CommandRecorder

log = logging.getLogger(__name__)

ClientKind = Literal["pymongo", "motor"]


def client_kind(client: Any) -> ClientKind:
    """Return which supported kind ``client`` is; raise ConfigurationError naming it otherwise."""
    if isinstance(client, AsyncMongoClient):
        return "pymongo"
    if type(client).__module__.startswith("motor.") and isinstance(getattr(client, "delegate", None), MongoClient):
        if not type(client).__name__.startswith("AsyncIO"):
            raise _unsupported(client, "motor's Tornado client cannot run on asyncio")
        return "motor"
    raise _unsupported(client, None)


def _unsupported(client: Any, why: str | None) -> ConfigurationError:
    kind = f"{type(client).__module__}.{type(client).__qualname__}"
    return ConfigurationError(
        f"analytiq_client.mongodb_async is a {kind}" + (f" ({why})" if why else "")
        + ": the migrations need pymongo.AsyncMongoClient or motor's AsyncIOMotorClient",
        hint="give the client an async MongoDB client, e.g. AsyncMongoClient(uri) or AsyncIOMotorClient(uri)",
    )


def _settings(client: Any, kind: ClientKind) -> dict[str, Any] | None:
    """Return the keyword arguments ``client`` (or motor's wrapped client) was built with, if known."""
    pymongo_client = client.delegate if kind == "motor" else client
    kwargs = getattr(pymongo_client, "_init_kwargs", None)
    return dict(kwargs) if isinstance(kwargs, dict) else None


def _with_listener(kwargs: dict[str, Any], recorder: CommandRecorder | None) -> dict[str, Any]:
    out = dict(kwargs)
    out.pop("driver", None)  # motor's DriverInfo("Motor"); each client kind adds its own
    if recorder is not None:
        out["event_listeners"] = [*(out.get("event_listeners") or ()), recorder]
    return out


@dataclass
class EngineClients:
    """The clients of one verb: ``bookkeeping`` (PyMongo async) and ``steps`` (the app's kind)."""

    kind: ClientKind
    bookkeeping: AsyncMongoClient[Any]
    steps: Any
    recorder: CommandRecorder | None = None
    _owned: list[Any] = field(default_factory=list)

    @property
    def steps_can_join_transactions(self) -> bool:
        """Whether the engine can bind its transaction's session to the steps' operations."""
        return self.kind == "pymongo" and self.steps is self.bookkeeping

    @property
    def watched(self) -> bool:
        """Whether failed commands of the steps are recorded (the steps' client carries the recorder)."""
        return self.recorder is not None

    def step_database(self, name: str) -> Any:
        """Return the database steps receive: of the app's client kind."""
        return self.steps[name]

    async def close(self) -> None:
        """Close the clients built here (never the app's own)."""
        for client in self._owned:
            result = client.close()
            if hasattr(result, "__await__"):
                await result
        self._owned.clear()


def _open(app: Any, for_steps: bool) -> EngineClients:
    kind = client_kind(app)
    settings = _settings(app, kind)
    if kind == "pymongo":
        if not for_steps:
            return EngineClients(kind, app, app)
        if settings is None:
            log.warning("cannot copy the app's client settings: failed commands of steps will not be named")
            return EngineClients(kind, app, app)
        recorder = CommandRecorder()
        own: AsyncMongoClient[Any] = AsyncMongoClient(**_with_listener(settings, recorder))
        return EngineClients(kind, own, own, recorder, [own])
    if settings is None:
        raise ConfigurationError(
            f"cannot read the settings of the motor client {type(app).__qualname__}",
            hint="pass a pymongo.AsyncMongoClient built from the same URI",
        )
    # The engine's own client: aware datetimes, plain dict documents, whatever the app chose for its own.
    mine = _with_listener(settings, None) | {"tz_aware": True, "document_class": dict, "type_registry": None}
    bookkeeping: AsyncMongoClient[Any] = AsyncMongoClient(**mine)
    if not for_steps:
        return EngineClients(kind, bookkeeping, app, None, [bookkeeping])
    recorder = CommandRecorder()
    steps = type(app)(**_with_listener(settings, recorder))
    return EngineClients(kind, bookkeeping, steps, recorder, [bookkeeping, steps])


@contextlib.asynccontextmanager
async def open_clients(app: Any, *, for_steps: bool = False) -> AsyncIterator[EngineClients]:
    """Yield the clients for one verb on the app's client ``app``; close what was built on exit.

    ``for_steps``: also build the watched client steps run on (verbs that run steps). An
    unsupported client kind raises ConfigurationError before any I/O.
    """
    clients = _open(app, for_steps)
    try:
        yield clients
    finally:
        await clients.close()
