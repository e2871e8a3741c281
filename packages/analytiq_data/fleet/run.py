"""A verb over many databases: where they live (``Fleet``), which ones (resolved once), how many at
once, and the fan-out of the verb's own function over them.

``over_many`` is the one driver: it connects once (``hello``: the reachability check), resolves the
selection (one ``listDatabases`` for globs, plus one ``listCollections`` per globbed database to
leave this tool's backups out), chooses ``jobs`` (``jobs.default_jobs``: one ``hostInfo``) and hands
each database to ``fanout.fan_out``. After the run, a selection that depends on the server is
asked again (one ``listDatabases``): databases created meanwhile are not worked on by this run; the
result names them (``appeared``) and the next run takes them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.errors import ConfigurationError
from analytiq_data.fleet.fanout import Policy, VersionReader, Work, fan_out
from analytiq_data.fleet.jobs import default_jobs
from analytiq_data.fleet.progress import FleetProgress, NullFleetProgress
from analytiq_data.fleet.results import FleetResult
from analytiq_data.fleet.select import Resolved, Selection, newcomers, resolve
from analytiq_data.migrations.engine.drivers import StepsDriver
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.migrations.engine.target import Connection, Target, connect, driver_errors
from analytiq_data.settings import DEFAULT_TIMEOUT_S
from analytiq_data.uri import hosts_of, redact_uri

#: The database named to open the fleet's own connection (only ``hello``, ``listDatabases`` and
#: ``hostInfo`` go through it; nothing is read from or written to it).
_ANY_DATABASE = "admin"


@dataclass(frozen=True)
class Fleet:
    """Where the databases live: the application's async ``client`` (PyMongo's or motor's, never closed
    here), the ``uri`` and ``timeout_s`` that name the server in messages, and the kind of database
    steps get (``driver``)."""

    client: Any
    uri: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    driver: StepsDriver = "auto"

    @classmethod
    def of(cls, app: Any) -> Fleet:
        """Return ``app`` if it is a Fleet; for an AnalytiqClient (or a Target) its client, URI and timeout;
        else ``app`` itself as the client."""
        if isinstance(app, Fleet):
            return app
        if isinstance(app, Target):
            return cls(app.client, app.uri, app.timeout_s, app.driver)
        if isinstance(app, AsyncMongoClient) or type(app).__module__.startswith("motor."):
            return cls(app)  # a client itself (its attributes are databases: ``client.env`` is one)
        client = getattr(app, "mongodb_async", None)
        if client is not None:
            timeout = float(getattr(app, "timeout_s", DEFAULT_TIMEOUT_S))
            return cls(client, str(getattr(app, "uri", "") or ""), timeout)
        return cls(app)

    def target(self, database: str) -> Target:
        """Return the Target of one database: what a run on it alone is given."""
        return Target(self.client, database, self.uri, self.timeout_s, self.driver)

    @property
    def where(self) -> str:
        """Return the server for messages (hosts, never a password)."""
        return (hosts_of(self.uri) or redact_uri(self.uri)) if self.uri else "the server"


@dataclass(frozen=True)
class Plan:
    """The databases a run works on, how many at once and why."""

    resolved: Resolved
    jobs: int
    jobs_why: str


@contextlib.asynccontextmanager
async def fleet_connection(fleet: Fleet) -> AsyncIterator[Connection]:
    """Open the fleet's own connection (one ``hello``); driver errors inside become one line."""
    async with connect(fleet.target(_ANY_DATABASE)) as conn, driver_errors(conn.target):
        yield conn


#: Resolves the selection another way than against the server's databases (a dump's, a sample of them).
Resolver = Callable[[Connection], Awaitable[Resolved]]


async def plan_run(
    fleet: Fleet, selection: Selection, jobs: int | None, conn: Connection, resolver: Resolver | None = None
) -> Plan:
    """Resolve ``selection`` (or ask ``resolver``) and choose how many databases run at once (``jobs``,
    else from the server)."""
    if resolver is not None:
        resolved = await resolver(conn)
    else:
        resolved = await resolve(selection, fleet.client, conn.clients.bookkeeping, where=fleet.where)
    if jobs is not None and jobs < 1:
        raise ConfigurationError(f"--jobs must be at least 1, got {jobs}", hint="e.g. --jobs 4")
    if jobs is not None:
        return Plan(resolved, jobs, f"{jobs}: --jobs")
    found, why = await default_jobs(conn.clients.bookkeeping, mongos=conn.server.topology == "sharded")
    return Plan(resolved, found, why)


async def over_many(
    verb: str,
    fleet: Fleet,
    selection: Selection,
    work: Work,
    *,
    jobs: int | None = None,
    keep_going: bool = False,
    steps: bool = True,
    stop: StopRequest | None = None,
    progress: FleetProgress | None = None,
    read_versions: bool = True,
    announce: Callable[[Plan], None] | None = None,
    resolver: Resolver | None = None,
) -> FleetResult:
    """Run ``work`` on every database ``selection`` stands for and return a record per database.

    ``steps``: the work stops between migration steps on a stop request (else the second request
    cancels it). ``read_versions``: a failed database's version is read afterwards (one query) for
    "failed at version V". ``announce`` is called with the plan before the first database starts.
    ``resolver`` chooses the databases instead of the server's list (a dump's databases: then nothing
    is asked again at the end).
    Raises ConfigurationError (nothing matches, a bad list) or DatabaseConnectionError before any
    database is touched.
    """
    shown = progress or NullFleetProgress()
    started = time.monotonic()
    async with fleet_connection(fleet) as conn:
        plan = await plan_run(fleet, selection, jobs, conn, resolver)
        if announce is not None:
            announce(plan)
        names = plan.resolved.names
        shown.begin(verb, names, plan.jobs)
        reader = _version_reader(conn.clients.bookkeeping) if read_versions else None
        policy = Policy(plan.jobs, keep_going=keep_going, steps=steps)
        results = await fan_out(names, work, policy, shown, stop=stop, version_of=reader)
        appeared: tuple[str, ...] = ()
        if resolver is None:
            appeared = await newcomers(plan.resolved, fleet.client, conn.clients.bookkeeping)
    for name in appeared:
        shown.note(None, f"database {name} matches the selection but appeared during the run: run again to include it")
    return FleetResult(
        verb=verb,
        databases=tuple(results),
        jobs=plan.jobs,
        jobs_why=plan.jobs_why,
        seconds=time.monotonic() - started,
        selection=plan.resolved.describe(),
        stopped=stop is not None and stop.requested,
        appeared=appeared,
        notes=plan.resolved.notes,
    )


def _version_reader(client: AsyncMongoClient[Any]) -> VersionReader:
    async def read(name: str) -> int | None:
        with contextlib.suppress(Exception):  # best effort: the failure itself is what the record says
            return (await StateStore(client[name]).read_version()).version
        return None

    return read

