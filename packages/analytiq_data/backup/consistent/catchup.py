"""The catch-up: read the source's change stream from the start time up to T and hand the events on.

The stream is opened on the source database (a database-level change stream: it works on a
replica set and through mongos) at the start time noted before the copy read anything, or right
after the last event a killed run had applied (its resume token, saved with the resume state).
T is the source's cluster time when the catch-up begins; the catch-up has reached T when it meets
an event after T, or when the stream's high-water mark (``postBatchResumeToken``) passes T with
no event left before it. A server whose tokens do not carry a readable time (SecantusDB) is taken
to have delivered every event up to T when it returns an empty batch.

Events go in groups to a ``sink`` (apply them to a destination, or write them into a dump); the
position (resume token, events so far) is saved only after the sink returned, so a kill never
loses an event and replays at most the last group (replaying is idempotent, see ``events.py``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bson.timestamp import Timestamp
from pymongo import errors as pm_errors
from pymongo.asynchronous.change_stream import AsyncChangeStream

from analytiq_data.backup.consistent.clock import RAW, cluster_time, token_time
from analytiq_data.backup.consistent.point import ts_text
from analytiq_data.backup.consistent.units import Joiner, txn_key, unit_time
from analytiq_data.backup.endpoints import Side
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import Progress, TaskKind
from analytiq_data.testhooks import Pauses

#: Events handed to the sink at once (and between two saved positions).
GROUP = 500
#: How long one poll of the stream waits on the server for new events (milliseconds).
AWAIT_MS = 500
#: Test hook (``testhooks``): ``N1,N2:DIR`` pauses the catch-up once its events reach each N (0: before
#: T is chosen). Tests only.
PAUSE_ENV = "ANALYTIQ_TEST_CATCHUP_PAUSE"
#: The stage that splits events over 16 MB into fragments (7.0, 6.0.9); must end the pipeline.
SPLIT_STAGE = "$changeStreamSplitLargeEvent"
#: Server codes for a change stream that can no longer be resumed (history gone, token unknown).
_LOST = frozenset({136, 280, 286})

Sink = Callable[[Sequence[Mapping[str, Any]]], Awaitable[None]]


@dataclass(frozen=True)
class Position:
    """Where the catch-up stands: the start time, the last event applied (its token), events so far."""

    start: Timestamp
    token: Mapping[str, Any] | None = None
    events: int = 0


@dataclass(frozen=True)
class Reached:
    """A finished catch-up: the cluster time T reached, the events handed on in this run and in all."""

    at: Timestamp
    events: int
    events_this_run: int


async def open_stream(src: Side, position: Position | None) -> AsyncChangeStream[Any]:
    """Open the database's change stream at ``position``, or now if None (raw events; expanded DDL events if any).

    Events over 16 MB arrive split (``$changeStreamSplitLargeEvent``, 7.0 and 6.0.9; joined again by
    the reader, see ``units``), DDL and ``disambiguatedPaths`` come with ``showExpandedEvents``
    (6.0, 6.1); a server without one of them is asked without it. Opening "now" costs nothing on
    any server; at a start time it may cost a scan of the server's history (SecantusDB), so a run
    opens its stream before it reads and keeps it open, and reopens at a saved position only when
    it resumes.
    """
    db = src.db.with_options(codec_options=RAW)
    where: dict[str, Any] = {}
    if position is not None:
        where = {"resume_after": position.token} if position.token else {"start_at_operation_time": position.start}
    split, expanded = True, True
    try:
        while True:
            pipeline: list[dict[str, Any]] = [{SPLIT_STAGE: {}}] if split else []
            try:
                return await db.watch(
                    pipeline, max_await_time_ms=AWAIT_MS, batch_size=GROUP, show_expanded_events=expanded, **where
                )
            except pm_errors.OperationFailure as exc:
                said = str(exc)
                lacks_split, lacks_expanded = split and SPLIT_STAGE in said, expanded and "showExpandedEvents" in said
                if exc.code in _LOST or not (lacks_split or lacks_expanded):
                    raise
                split, expanded = split and not lacks_split, expanded and not lacks_expanded
    except pm_errors.OperationFailure as exc:
        raise _history_lost(src, position, exc) from exc


def _history_lost(src: Side, position: Position | None, exc: pm_errors.OperationFailure) -> Exception:
    if exc.code in _LOST and position is not None:
        return ConfigurationError(
            f"the source at {src.where} no longer holds the changes since {ts_text(position.start)} "
            "(its oplog moved on): the copy cannot be brought to one point in time",
            hint="start over with --drop; a larger oplog covers a longer copy",
        )
    return src.failed(exc, "opening the change stream")


async def catch_up(
    src: Side,
    position: Position,
    sink: Sink,
    save: Callable[[Position], Awaitable[None]],
    progress: Progress,
    stream: AsyncChangeStream[Any] | None = None,
) -> Reached:
    """Hand every change event from ``position`` up to T (chosen now) to ``sink``; return T and the counts.

    ``stream`` is the stream this run opened before it read anything (else one is opened at
    ``position``). ``save`` records the position after each group the sink accepted.
    """
    pauses = Pauses(PAUSE_ENV)
    await _pause(pauses, position.events)
    target = await cluster_time(src)
    task = "catch-up"
    progress.start(task, total=None, unit="events", kind=TaskKind.WORK, label=f"catch-up to T={ts_text(target)}")
    this_run = 0
    noted = time.monotonic()
    async with src.errors("reading the change stream"):
        if stream is None:
            stream = await open_stream(src, position)
        async with stream:
            reader = EventReader(stream)
            done = False
            while not done:
                group, done = await _next_group(reader, target)
                if group:
                    await sink(group)
                    this_run += len(group)
                    position = replace(position, token=group[-1]["_id"], events=position.events + len(group))
                    await save(position)
                    progress.advance(task, len(group))
                    if time.monotonic() - noted >= 2.0 or done:
                        noted = time.monotonic()
                        lag = max(0, target.time - group[-1]["clusterTime"].time)
                        progress.note(f"catch-up: {position.events:,} events applied, {lag} s behind T")
                    await _pause(pauses, position.events)
    progress.finish(task, f"{this_run:,} change events applied")
    return Reached(target, position.events, this_run)


async def _pause(pauses: Pauses, events: int) -> None:
    """Pause at each armed count the catch-up's ``events`` have reached (``paused-N`` holds the count)."""
    for point in pauses.reached(events):
        await pauses.pause(point, str(events))


class EventReader:
    """Read a change stream as whole events (split ones joined) and whole transactions, one look-ahead deep."""

    def __init__(self, stream: AsyncChangeStream[Any]) -> None:
        self.stream = stream
        self.joiner = Joiner()
        self.ahead: Mapping[str, Any] | None = None  # read, not handed on yet (it began the next unit)

    async def _event(self) -> Mapping[str, Any] | None:
        """Return the next whole event, or None when the stream has nothing more right now."""
        if self.ahead is not None:
            ahead, self.ahead = self.ahead, None
            return ahead
        while True:
            fragment = await self.stream.try_next()
            if fragment is None and not self.joiner.pending:
                return None
            if fragment is not None and (event := self.joiner.add(fragment)) is not None:
                return event  # (a split event's fragments come together: keep reading until it is whole)

    async def unit(self) -> list[Mapping[str, Any]] | None:
        """Return the next event, or all events of the next transaction (they come together); None: none now."""
        first = await self._event()
        if first is None:
            return None
        key = txn_key(first)
        run = [first]
        while key is not None:
            event = await self._event()
            if event is None:
                break
            if txn_key(event) != key:
                self.ahead = event
                break
            run.append(event)
        return run


async def _next_group(reader: EventReader, target: Timestamp) -> tuple[list[Mapping[str, Any]], bool]:
    """Return about ``GROUP`` events at or before ``target``, and whether the stream has passed ``target``.

    A transaction's events are taken or left together, by the time the transaction takes effect.
    """
    group: list[Mapping[str, Any]] = []
    while len(group) < GROUP:
        unit = await reader.unit()
        if unit is None:
            mark = token_time(reader.stream.resume_token)
            if mark is None or mark >= target:
                return group, True
            if group:
                return group, False
            continue  # the high-water mark is before T: events up to T may still come
        if unit_time(unit) > target:
            return group, True
        group += unit
    return group, False
