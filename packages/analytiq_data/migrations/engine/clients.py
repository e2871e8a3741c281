"""The clients a verb works through: the engine's own PyMongo async client and, for steps, one of the app's kind.

An application hands the engine its client: PyMongo's ``AsyncMongoClient`` or motor's
``AsyncIOMotorClient`` (deprecated by MongoDB in favour of PyMongo's async API, but what many apps
still run). The engine never imports motor; it recognises a motor client by its wrapped PyMongo
``MongoClient`` (``client.delegate``).

- **Bookkeeping** (version, history, lock, ``hello``) always goes through a PyMongo
  ``AsyncMongoClient``: the app's own when it is one, else one built from the same settings.
- **Steps** receive a database of the app's own kind (so ``AsyncIOMotorGridFSBucket(db)`` works in a
  motor app and ``AsyncGridFSBucket(db)`` in a PyMongo app), or of the kind a verb asks for
  (``driver``: the command line, whose own client is PyMongo's, asks for motor's database for a
  list written for motor; see ``drivers``), from a client built from the app's
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
from analytiq_data.migrations.engine.drivers import StepsDriver, motor_client_class
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
    """The clients of one verb: ``bookkeeping`` (PyMongo async) and ``steps``, of ``kind`` (the kind of
    database steps get: the app's own, unless the verb asked for the other)."""

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
        """Return the database steps (and run hooks) receive: of ``kind``."""
        return self.steps[name]

    async def close(self) -> None:
        """Close the clients built here (never the app's own)."""
        for client in self._owned:
            result = client.close()
            if hasattr(result, "__await__"):
                await result
        self._owned.clear()


def _bookkeeping_only(app: Any, kind: ClientKind) -> EngineClients:
    if kind == "pymongo":
        return EngineClients(kind, app, app)
    bookkeeping = _engine_client(app, kind)
    return EngineClients(kind, bookkeeping, app, None, [bookkeeping])


def _engine_client(app: Any, kind: ClientKind) -> AsyncMongoClient[Any]:
    """Return a PyMongo client of our own on the motor app's server: aware datetimes, plain dict documents."""
    settings = _readable(app, kind)
    mine = _with_listener(settings, None) | {"tz_aware": True, "document_class": dict, "type_registry": None}
    return AsyncMongoClient(**mine)


def _readable(app: Any, kind: ClientKind) -> dict[str, Any]:
    settings = _settings(app, kind)
    if settings is None:
        raise ConfigurationError(
            f"cannot read the settings of the {kind} client {type(app).__qualname__}",
            hint="pass a pymongo.AsyncMongoClient built from the same URI",
        )
    return settings


def _open(app: Any, for_steps: bool, driver: StepsDriver = "auto") -> EngineClients:
    kind = client_kind(app)
    if not for_steps:
        return _bookkeeping_only(app, kind)
    wanted: ClientKind = kind if driver == "auto" else driver
    if wanted == "pymongo":
        if kind == "pymongo" and _settings(app, kind) is None:
            log.warning("cannot copy the app's client settings: failed commands of steps will not be named")
            return EngineClients(kind, app, app)
        recorder = CommandRecorder()
        own: AsyncMongoClient[Any] = AsyncMongoClient(**_with_listener(_readable(app, kind), recorder))
        return EngineClients("pymongo", own, own, recorder, [own])
    # Steps get motor's database: from a motor client like the app's, or (a PyMongo app: the command
    # line) from motor's AsyncIOMotorClient on the same settings. Bookkeeping stays on PyMongo.
    settings = _readable(app, kind)
    motor_client = type(app) if kind == "motor" else motor_client_class()
    bookkeeping = app if kind == "pymongo" else _engine_client(app, kind)
    recorder = CommandRecorder()
    steps = motor_client(**_with_listener(settings, recorder))
    owned = [steps] if kind == "pymongo" else [bookkeeping, steps]
    return EngineClients("motor", bookkeeping, steps, recorder, owned)


@contextlib.asynccontextmanager
async def open_clients(
    app: Any, *, for_steps: bool = False, driver: StepsDriver = "auto"
) -> AsyncIterator[EngineClients]:
    """Yield the clients for one verb on the app's client ``app``; close what was built on exit.

    ``for_steps``: also build the watched client steps run on (verbs that run steps), giving steps
    a database of ``driver``'s kind (``auto``: the app's client's kind). An unsupported client kind,
    or motor asked for where it is not installed, raises ConfigurationError before any I/O.
    """
    clients = _open(app, for_steps, driver)
    try:
        yield clients
    finally:
        await clients.close()
