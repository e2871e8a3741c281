"""Other clients writing to a restore's target: seen during the restore, and surveyed before it (``--check``).

A restore must run with the application stopped: writes made to the target while the backup is
loaded are lost at the swap, and writes made after the swap land in the restored data. So a
restore watches the target's namespaces other than its own (``restore_mark``) and says which
were written, and whether the restore took effect (``WriteWatch``):

- during the load: ``top`` (the server's per-namespace counters of inserts, updates and deletes;
  mongod and SecantusDB, not mongos, and only with the ``top`` privilege) compared between the
  start and the swap: every write counts, updates included, and the restore's own writes go to
  namespaces it owns; otherwise, on a replica set or through mongos, the database's change stream
  opened at the start and read up to the swap (on mongod a read of the oplog of the load);
  otherwise (a standalone without ``top``) the namespaces' document counts, which miss updates;
- from the swap to the end: a change stream opened just before the swap and read up to a marker
  the restore writes (a handshake), where there is one; else ``top``; else the restored
  collections' counts compared with what was loaded.

``survey`` is ``restore --check``: who is connected (``$currentOp``, where the server tells), what
runs on the database now, and what was written to it during a short window. Nothing here writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.timestamp import Timestamp
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from analytiq_data.backup.catalog import collection_documents, namespaces
from analytiq_data.restore_mark import MARK_COLLECTION, is_restore_namespace
from analytiq_data.text import first_few

log = logging.getLogger(__name__)

DATA_EVENTS = ["insert", "update", "replace", "delete"]
WRITE_FIELDS = ("insert", "update", "remove")


@dataclass(frozen=True)
class Writes:
    """What other clients wrote to some namespaces (``counts``: writes, or documents more/fewer) and how it was seen."""

    by: str  # "top", "change stream" or "counts"
    counts: Mapping[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def describe(self, limit: int = 5) -> str:
        """Return ``orders: 12 writes, users: 1 write`` (counts: ``documents more/fewer``)."""
        parts = []
        for name, n in sorted(self.counts.items()):
            if self.by == "counts":
                parts.append(f"{name}: {abs(n):,} document{'s' if abs(n) != 1 else ''} {'more' if n > 0 else 'fewer'}")
            else:
                parts.append(f"{name}: {n:,} write{'s' if n != 1 else ''}")
        return first_few(parts, limit, ", ") + f" (seen by {self.by})"


async def _top(db: AsyncDatabase[Any]) -> dict[str, int] | None:
    """Return the writes the server counted per collection of ``db`` (``top``), or None if it does not tell."""
    try:
        totals = (await db.client.admin.command("top"))["totals"]
    except (OperationFailure, KeyError) as exc:
        log.info("top is not available (%s): other clients' writes are watched another way", exc)
        return None
    prefix = db.name + "."
    out: dict[str, int] = {}
    for ns, entry in totals.items():
        if isinstance(entry, Mapping) and ns.startswith(prefix):
            out[ns[len(prefix) :]] = sum(int((entry.get(f) or {}).get("count", 0)) for f in WRITE_FIELDS)
    return out


async def _counts(db: AsyncDatabase[Any], keep: Callable[[str], bool]) -> dict[str, int]:
    return await collection_documents(db, await namespaces(db, keep=keep))


async def operation_time(db: AsyncDatabase[Any]) -> Timestamp | None:
    """Return the server's latest operation time (None on a standalone, which has no change stream)."""
    reply = await db.client.admin.command("ping")
    at = reply.get("operationTime")
    return at if isinstance(at, Timestamp) else None


def _not_ours(ours: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda name: not ours(name) and not is_restore_namespace(name)


#: Writes a marker only the restore writes and returns its value (the change stream reads up to it).
Probe = Callable[[], Awaitable[str]]


@dataclass
class WriteWatch:
    """Writes by other clients to ``db`` since a first moment, to the namespaces the restore does not own.

    ``top``: the counters then; ``stream``: a change stream opened then (opening one "now" costs
    nothing on any server, while opening one at a past time may scan the server's whole history);
    ``counts``: the document counts then. Call ``close`` when done (``writes`` closes a stream).
    """

    db: AsyncDatabase[Any]
    by: str
    top: dict[str, int] | None = None
    counts: dict[str, int] | None = None
    stream: AsyncChangeStream[Any] | None = None

    @classmethod
    async def start(cls, db: AsyncDatabase[Any], *, prefer_top: bool = True) -> WriteWatch:
        """Take the first moment: ``top``'s counters, else a change stream (replica set, mongos), else counts."""
        top = await _top(db) if prefer_top else None
        if top is not None:
            return cls(db, "top", top=top)
        if await operation_time(db) is not None:
            return cls(db, "change stream", stream=await _open(db))
        return cls(db, "counts", counts=await _counts(db, lambda n: not is_restore_namespace(n)))

    @classmethod
    async def from_now(cls, db: AsyncDatabase[Any]) -> WriteWatch:
        """Return a watch from now for the swap: a change stream where there is one, else ``top``, else nothing
        (the caller then compares counts)."""
        if await operation_time(db) is not None:
            return cls(db, "change stream", stream=await _open(db))
        top = await _top(db)
        return cls(db, "top", top=top) if top is not None else cls(db, "counts")

    async def writes(self, ours: Callable[[str], bool], probe: Probe) -> Writes:
        """Return what others wrote since the first moment to namespaces not ``ours`` (nor the restore's own).

        ``probe`` writes a marker of the restore's own; a change stream is read up to it.
        """
        keep = _not_ours(ours)
        if self.top is not None:
            now = await _top(self.db) or {}
            grown = {n: now[n] - self.top.get(n, 0) for n in now if keep(n) and now[n] > self.top.get(n, 0)}
            return Writes("top", grown)
        if self.stream is not None:
            try:
                return Writes("change stream", await _stream_writes(self.stream, keep, probe))
            finally:
                await self.close()
        if self.counts is None:
            return Writes("counts")
        now = await _counts(self.db, keep)
        changed = {n: now.get(n, 0) - self.counts.get(n, 0) for n in now.keys() | self.counts.keys() if keep(n)}
        return Writes("counts", {n: d for n, d in changed.items() if d})

    async def close(self) -> None:
        """Close the change stream, if any (best effort)."""
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(PyMongoError):
                await stream.close()


async def _open(db: AsyncDatabase[Any]) -> AsyncChangeStream[Any]:
    return await db.watch([{"$match": {"operationType": {"$in": DATA_EVENTS}}}])


async def _stream_writes(stream: AsyncChangeStream[Any], keep: Callable[[str], bool], probe: Probe) -> dict[str, int]:
    """Count the data events of an open stream up to the marker ``probe`` writes (a handshake, not a wait)."""
    out: dict[str, int] = {}
    token = await probe()
    async for event in stream:
        name = str((event.get("ns") or {}).get("coll") or "")
        if name == MARK_COLLECTION and _probed(event, token):
            break
        if keep(name):
            out[name] = out.get(name, 0) + 1
    return out


def _probed(event: Mapping[str, Any], token: str) -> bool:
    updated = (event.get("updateDescription") or {}).get("updatedFields") or {}
    return bool(updated.get("probe") == token)


@dataclass(frozen=True)
class Survey:
    """What ``restore --check`` saw: connections, operations on the database, writes in the window."""

    connections: int | None  # to the whole server, this one included (None: not told)
    clients: tuple[str, ...]  # other clients' connections, as the server describes them
    operations: tuple[str, ...]  # operations running on the database
    writes: Writes
    window_s: float

    @property
    def quiet(self) -> bool:
        """Return whether nothing was seen writing to or running on the database."""
        return not self.writes and not self.operations

    def lines(self) -> list[str]:
        """Return the survey as lines for a person."""
        out = []
        if self.connections is not None:
            out.append(f"{self.connections} connection(s) to the server, this one included")
        out += [f"client: {c}" for c in self.clients]
        out += [f"running on the database: {op}" for op in self.operations]
        if self.writes:
            out.append(f"written during {self.window_s:g}s: {self.writes.describe()}")
        else:
            out.append(f"no write to the database during {self.window_s:g}s (seen by {self.writes.by})")
        return out

    def to_json(self) -> dict[str, Any]:
        """Return the survey as plain data."""
        return {
            "connections": self.connections,
            "clients": list(self.clients),
            "operations": list(self.operations),
            "writes": dict(self.writes.counts),
            "writes_seen_by": self.writes.by,
            "window_s": self.window_s,
            "quiet": self.quiet,
        }


async def survey(db: AsyncDatabase[Any], window_s: float) -> Survey:
    """Look at who uses ``db`` now: connections and operations (where the server tells), writes during ``window_s``."""
    watch = await WriteWatch.start(db)
    connections: int | None = None
    try:
        status = await db.client.admin.command("serverStatus", repl=0, metrics=0, locks=0, wiredTiger=0)
        connections = int((status.get("connections") or {}).get("current", 0)) or None
    except PyMongoError as exc:
        log.info("serverStatus not allowed: %s", exc)
    clients, operations = await _current_ops(db)
    if watch.stream is not None:
        await watch.close()
        writes = await _window_events(db, window_s)
    else:
        await asyncio.sleep(window_s)  # a measurement window, not a synchronisation
        writes = await watch.writes(lambda _: False, _no_probe)
    return Survey(connections, tuple(clients), tuple(operations), writes, window_s)


async def _no_probe() -> str:
    raise AssertionError("top and counts need no probe")


async def _window_events(db: AsyncDatabase[Any], window_s: float) -> Writes:
    """Return the data events of ``db`` during ``window_s`` seconds from now (its change stream)."""
    out: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    end = loop.time() + window_s
    async with await db.watch([{"$match": {"operationType": {"$in": DATA_EVENTS}}}], max_await_time_ms=200) as stream:
        while loop.time() < end:
            event = await stream.try_next()
            if event is not None:
                name = str((event.get("ns") or {}).get("coll") or "")
                out[name] = out.get(name, 0) + 1
    return Writes("change stream", out)


async def _current_ops(db: AsyncDatabase[Any]) -> tuple[list[str], list[str]]:
    """Return other clients' connections and the operations on ``db`` (``$currentOp``; empty if not allowed)."""
    clients: list[str] = []
    operations: list[str] = []
    stage = {"$currentOp": {"allUsers": True, "idleConnections": True}}
    try:
        ops = [op async for op in await db.client.admin.aggregate([stage])]
    except PyMongoError as exc:
        log.info("$currentOp not allowed: %s", exc)
        return clients, operations
    for op in ops:
        if op.get("desc") == "$currentOp" or (
            (op.get("command") or {}).get("aggregate") == 1 and "$currentOp" in str(op.get("command"))
        ):
            continue  # this survey itself
        app = op.get("appName") or ((op.get("clientMetadata") or {}).get("application") or {}).get("name")
        who = " ".join(str(p) for p in (op.get("client"), f"app {app!r}" if app else None) if p)
        if who:
            clients.append(who)
        ns = str(op.get("ns") or "")
        if op.get("active") and ns.startswith(db.name + "."):
            operations.append(f"{op.get('op')} on {ns}" + (f" by {who}" if who else ""))
    return sorted(set(clients)), operations
