"""The engine's hooks for one point in time: note the start, keep it with the resume state, catch up, check at T.

``backup()`` calls ``Watch.begin`` before it touches the destination (a standalone source is
refused there, with nothing changed), ``attach`` once the plan is saved or loaded, and ``finish``
after the copy. Without ``--consistent`` the same hooks only find out whether the source was
written during the copy (a change stream where there is one, else the server's operation
counters) and say so in a note.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bson.timestamp import Timestamp
from pymongo import errors as pm_errors
from pymongo.asynchronous.change_stream import AsyncChangeStream

from analytiq_data.backup.catalog import collection_infos, copied_namespace
from analytiq_data.backup.compare import compare_digests, digest_collection
from analytiq_data.backup.consistent.apply import apply_all
from analytiq_data.backup.consistent.catchup import Position, catch_up, open_stream
from analytiq_data.backup.consistent.clock import (
    cluster_time,
    digest_at,
    require_change_streams,
    snapshot_reads,
    token_time,
)
from analytiq_data.backup.consistent.events import SourceChanged, interpret
from analytiq_data.backup.consistent.point import REPLAYED, SNAPSHOT, PointInTime, ts_text
from analytiq_data.backup.copy import raw_collection
from analytiq_data.backup.endpoints import Endpoints
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.results import CollectionReport
from analytiq_data.backup.state import BackupState
from analytiq_data.errors import AnalytiqError, ConfigurationError
from analytiq_data.progress import Progress

log = logging.getLogger(__name__)
#: The resume-state record of a consistent copy (in ``__backup_state``, beside the plan).
STATE_ID = "consistent"
_WRITES = ("insert", "update", "delete")
#: Empty polls of the change stream the plain-copy note waits through (each up to ``AWAIT_MS``).
_NOTE_POLLS = 4


class Watch:
    """One run's view of the source's clock: the start time, and for ``--consistent`` the catch-up."""

    def __init__(self, options: BackupOptions, ends: Endpoints, start: Timestamp | None, counters: int | None) -> None:
        self.options, self.ends = options, ends
        self.start, self.counters = start, counters
        self.position: Position | None = None
        self.state: BackupState | None = None
        self.stream: AsyncChangeStream[Any] | None = None  # opened before the copy reads, read after it

    async def _open(self) -> None:
        """Open the source's change stream now: after the start time, before the copy reads anything."""
        async with self.ends.src.errors("opening the change stream"):
            self.stream = await open_stream(self.ends.src, None)

    @classmethod
    async def begin(cls, options: BackupOptions, ends: Endpoints) -> Watch:
        """Note the source's cluster time (or its write counters) before anything is read; refuse a standalone."""
        src = ends.src
        if options.consistent:
            require_change_streams(src)
        if options.consistent:
            watch = cls(options, ends, await cluster_time(src), None)
            await watch._open()
            return watch
        if src.identity.topology != "standalone":
            try:
                watch = cls(options, ends, await cluster_time(src), None)
                await watch._open()
                return watch
            except AnalytiqError as exc:  # only a note depends on it: never fail a plain copy for it
                log.info("no change stream on the source (%s): writes during the copy not detected", exc)
                return cls(options, ends, None, None)
        return cls(options, ends, None, await _write_counter(ends))

    def selects(self, name: str) -> bool:
        """Return whether collection ``name`` is one this backup copies."""
        return copied_namespace(name) and self.options.selects(name)

    async def attach(self, state: BackupState, resumed: bool) -> None:
        """Record the start time with a new copy's resume state, or take up the one a resumed copy saved."""
        self.state = state
        async with self.ends.dst.errors("reading the resume state"):
            saved = await state.coll.find_one({"_id": STATE_ID})
        if resumed and (saved is not None) != self.options.consistent:
            flag = "with" if saved is not None else "without"
            raise ConfigurationError(
                f"the interrupted backup in {self.options.dest_db!r} was started {flag} --consistent",
                hint=f"resume it {flag} --consistent, or start over with --drop",
            )
        if not self.options.consistent:
            return
        if resumed and saved is not None:
            self.position = Position(saved["start"], saved.get("token"), int(saved.get("events", 0)))
            if self.stream is not None:  # it started after the interrupted run's copy: reopen at the saved position
                await self.stream.close()
                self.stream = None
            return
        assert self.start is not None
        self.position = Position(self.start)
        await self._save(self.position)

    async def _save(self, position: Position) -> None:
        assert self.state is not None
        record = {"start": position.start, "token": position.token, "events": position.events}
        async with self.ends.dst.errors("saving the catch-up position"):
            await self.state.coll.replace_one({"_id": STATE_ID}, record, upsert=True)

    async def finish(
        self, reports: Sequence[CollectionReport], progress: Progress
    ) -> tuple[list[CollectionReport], PointInTime | None, list[str]]:
        """Bring the copy to one point in time T (``--consistent``) and check it; else say whether writes happened."""
        if self.position is None:
            return list(reports), None, await self._writes_note()
        dst = self.ends.dst
        try:

            async def sink(events: Sequence[Mapping[str, Any]]) -> None:
                items = [i for e in events if (i := interpret(e, self.ends.src.db.name, self.selects)) is not None]
                async with dst.errors("applying the source's changes"):
                    await apply_all(dst.db, items)

            stream, self.stream = self.stream, None
            reached = await catch_up(self.ends.src, self.position, sink, self._save, progress, stream)
        except SourceChanged as exc:
            if self.state is not None:
                async with dst.errors("recording why the copy stopped"):
                    await self.state.mark_unusable(exc.message)
            raise
        point = PointInTime(reached.at, self.position.start, reached.events, reached.events_this_run)
        return await self._check_at(reports, point, progress)

    async def _check_at(
        self, reports: Sequence[CollectionReport], point: PointInTime, progress: Progress
    ) -> tuple[list[CollectionReport], PointInTime, list[str]]:
        """Digest the copy as it now is (the manifest records it); compare with the source at T where it reads at T."""
        src, dst, notes = self.ends.src, self.ends.dst, []
        names = [r.name for r in reports if r.kind != "view"]
        present = await collection_infos(dst)
        names += sorted(n for n, i in present.items() if n not in names and self.selects(n) and i.get("type") != "view")
        why_not = None
        if self.options.verify:
            probe = names[0] if names else "__none__"
            async with src.errors("probing snapshot reads"):
                why_not = await snapshot_reads(src, probe, point.at)
            if why_not:
                notes.append(f"verified as copy plus replayed events: {why_not}")
            progress.note(f"Checking the copy as of T={ts_text(point.at)}")
        by_name = {r.name: r for r in reports}
        out: list[CollectionReport] = []
        for name in names:
            async with dst.errors(f"reading back {name!r}"):
                now = await digest_collection(raw_collection(dst, name), batch_size=self.options.batch_size)
            report = by_name.get(name) or CollectionReport(name, "collection", note="created during the copy")
            source, differences = now, list(report.differences)
            if self.options.verify and why_not is None:
                async with src.errors(f"reading {name!r} at T"):
                    source = await digest_at(src, name, point.at, self.options.batch_size)
                differences += [f"at T: {d}" for d in compare_digests(source, now)]
            verified = report.verified if not self.options.verify else not differences
            out.append(
                dataclasses.replace(
                    report,
                    documents=now.count,
                    nbytes=now.nbytes,
                    source=source,
                    destination=now,
                    verified=verified,
                    differences=tuple(differences),
                )
            )
        out += [r for r in reports if r.kind == "view"]
        how = (SNAPSHOT if why_not is None else REPLAYED) if self.options.verify else None
        return out, dataclasses.replace(point, verified_by=how), notes

    async def _writes_note(self) -> list[str]:
        """Return a note if the source was written during this (not point-in-time) copy."""
        src = self.ends.src
        if self.stream is not None:
            first = await _first_write(self, self.stream)
            if first is not None:
                return [
                    f"the source was written during the copy (first at {ts_text(first)}): the copy is consistent "
                    "per document, not of one point in time (--consistent makes it one)"
                ]
            return []
        if self.counters is None:
            return []
        after = await _write_counter(self.ends)
        if after is not None and after > self.counters:
            return [
                f"the source server counted {after - self.counters:,} writes during the copy (all its databases): "
                f"the copy may not be of one point in time; {src.where} is standalone, so --consistent is not available"
            ]
        return []


async def _first_write(watch: Watch, stream: AsyncChangeStream[Any]) -> Timestamp | None:
    """Return the cluster time of the first change to a copied collection on ``stream`` (up to now), if any."""
    src = watch.ends.src
    watch.stream = None
    try:
        target = await cluster_time(src)
        async with src.errors("reading the change stream"):
            async with stream:
                waits = 0
                while True:
                    event = await stream.try_next()
                    if event is None:
                        mark = token_time(stream.resume_token)
                        waits += 1
                        if mark is None or mark >= target or waits > _NOTE_POLLS:
                            return None  # caught up (or an idle source whose high-water mark lags): no note
                        continue
                    at = event["clusterTime"]
                    if at > target:
                        return None
                    name = str((event.get("ns") or {}).get("coll") or "")
                    if watch.selects(name) or event.get("operationType") == "dropDatabase":
                        return at if isinstance(at, Timestamp) else None
    except (AnalytiqError, pm_errors.PyMongoError) as exc:
        log.info("could not tell whether the source was written during the copy: %s", exc)
        return None


async def _write_counter(ends: Endpoints) -> int | None:
    """Return the source server's count of writes (inserts, updates, deletes), None if unknown or shared.

    When source and destination are one server, the counters include this copy's own writes: None.
    """
    if ends.src.identity == ends.dst.identity:
        return None
    try:
        status = await ends.src.db.client.admin.command("serverStatus", repl=0, metrics=0, locks=0, wiredTiger=0)
    except pm_errors.PyMongoError as exc:
        log.info("serverStatus not available (%s): writes during the copy not detected", exc)
        return None
    counters = status.get("opcounters") or {}
    return sum(int(counters.get(k, 0)) for k in _WRITES)
