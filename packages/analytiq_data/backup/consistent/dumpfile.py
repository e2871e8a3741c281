"""The catch-up section of a dump: the change events up to T, written as one extra namespace, replayed by restore.

A ``--consistent`` dump holds every collection as it was read, plus the namespace
``__backup_catchup``: the source's change events from the start time up to T, in order (each the
raw event, its resume token as ``_id``), then one last document ``{_id: "point_in_time", at: T,
start, events}``. This tool's restore loads the collections, checks them against the files, then
replays those events (``events.interpret`` and ``apply``, as a server-to-server copy does), so the
restored database is the source at T. mongorestore restores the collections as read (not at T)
and the events as an ordinary collection ``__backup_catchup``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo.asynchronous.change_stream import AsyncChangeStream

from analytiq_data.backup.consistent.apply import apply_all
from analytiq_data.backup.consistent.catchup import Position, catch_up, open_stream
from analytiq_data.backup.consistent.clock import RAW, cluster_time, require_change_streams
from analytiq_data.backup.consistent.events import interpret, renamed
from analytiq_data.backup.consistent.point import PointInTime
from analytiq_data.backup.consistent.units import Joiner, Whole
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.results import CollectionReport
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import Progress

#: The dump namespace holding the catch-up events.
CATCHUP_COLLECTION = "__backup_catchup"
#: The ``_id`` of the section's last document, which records T.
HEADER_ID = "point_in_time"

Put = Callable[[list[bytes]], Awaitable[None]]


def catchup_metadata(db: str) -> Metadata:
    """Return the dump metadata of the catch-up namespace (a plain collection: mongorestore restores it as one)."""
    return Metadata(db=db, collection=CATCHUP_COLLECTION, indexes=({"v": 2, "key": {"_id": 1}, "name": "_id_"},))


def catchup_report(events: Digest) -> CollectionReport:
    """Return the dump report line of the catch-up section (its digest checked when the files are read back)."""
    note = "change events up to T (restore replays them)"
    return CollectionReport(CATCHUP_COLLECTION, "collection", events.count, events.nbytes, source=events, note=note)


class DumpCatchUp:
    """The catch-up of one dump: the start time noted before reading, the events written after the collections."""

    def __init__(self, side: Side, start: Timestamp, stream: AsyncChangeStream[Any]) -> None:
        self.side, self.start, self.stream = side, start, stream
        self.point: PointInTime | None = None

    @classmethod
    async def begin(cls, side: Side) -> DumpCatchUp:
        """Refuse a standalone source; before anything is read, note its cluster time and open its change stream."""
        require_change_streams(side)
        start = await cluster_time(side)
        async with side.errors("opening the change stream"):
            return cls(side, start, await open_stream(side, None))

    async def write(self, put: Put, progress: Progress) -> None:
        """Write the change events from the start time up to T (chosen now), then the record of T."""

        async def sink(events: Sequence[Mapping[str, Any]]) -> None:
            # A split event is stored as the fragments it came in (each under 16 MB), joined again on replay.
            parts = [p for e in events for p in (e.fragments if isinstance(e, Whole) else (e,))]
            await put([bytes(p.raw) if isinstance(p, RawBSONDocument) else bson.encode(p) for p in parts])

        async def keep(_: Position) -> None:
            return None  # a dump is written whole or not at all: nothing to resume

        reached = await catch_up(self.side, Position(self.start), sink, keep, progress, self.stream)
        self.point = PointInTime(reached.at, self.start, reached.events, reached.events_this_run)
        header = {"_id": HEADER_ID, "at": reached.at, "start": self.start, "events": reached.events}
        await put([bson.encode(header)])


async def replay_dump_events(
    side: Side, docs: Sequence[bytes], selects: Callable[[str], bool], where: Callable[[str], str] | None = None
) -> PointInTime | None:
    """Replay a dump's catch-up section on ``side``'s database; return the T it recorded (None: no section).

    ``where`` maps a collection to the name it was loaded under (a restore loads beside the target's).
    Raise ConfigurationError for a section without its closing record (a dump cut short).
    """
    if not docs:
        return None
    decoded = [bson.decode(d, codec_options=RAW) for d in docs]  # raw: documents replayed byte for byte
    header = decoded[-1]
    if header.get("_id") != HEADER_ID:
        raise ConfigurationError(
            f"the dump's {CATCHUP_COLLECTION} section has no closing record of T: the dump is incomplete",
            hint="make the dump again",
        )
    joiner = Joiner()
    events = [e for d in decoded[:-1] if (e := joiner.add(d)) is not None]
    items = [i for e in events if (i := interpret(e, str(e.get("ns", {}).get("db")), selects)) is not None]
    if where is not None:
        items = [renamed(i, where) for i in items]
    async with side.errors("replaying the dump's change events"):
        await apply_all(side.db, items)
    return PointInTime(header["at"], header["start"], int(header["events"]), 0)
