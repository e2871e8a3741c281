"""The follower's change stream: opened at a log position, polled in groups, lost history told apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo import errors as pm_errors
from pymongo.asynchronous.change_stream import AsyncChangeStream

from analytiq_data.backup.consistent.catchup import AWAIT_MS, GROUP
from analytiq_data.backup.consistent.clock import RAW
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.log.segment import Position

#: Server codes for a change stream whose resume point is no longer in the oplog
#: (286 ChangeStreamHistoryLost; 280 ChangeStreamFatalError and 136 CappedPositionLost on older servers).
LOST_CODES = frozenset({136, 280, 286})


class HistoryGone(Exception):
    """The source no longer holds the changes after the log's position (internal: becomes a recorded gap)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _lost(exc: pm_errors.OperationFailure) -> bool:
    return exc.code in LOST_CODES or "ChangeStreamHistoryLost" in str(exc)


async def open_at(src: Side, position: Position, *, start_after: bool = False) -> AsyncChangeStream[Any]:
    """Open the database's change stream just after ``position`` (raw events; expanded DDL events if any).

    After a logged event: ``resume_after`` its token (``start_after`` after an ``invalidate``); at a
    base's T: ``start_at_operation_time`` T (events at T are skipped by the caller). Raises
    HistoryGone when the source no longer holds that position.
    """
    db = src.db.with_options(codec_options=RAW)
    where: dict[str, Any]
    if position.token is not None:
        where = {"start_after" if start_after else "resume_after": position.token}
    else:
        where = {"start_at_operation_time": position.at}
    try:
        try:
            return await db.watch(max_await_time_ms=AWAIT_MS, batch_size=GROUP, show_expanded_events=True, **where)
        except pm_errors.OperationFailure as exc:
            if _lost(exc) or "showExpandedEvents" not in str(exc):
                raise
            return await db.watch(max_await_time_ms=AWAIT_MS, batch_size=GROUP, **where)  # before 6.0
    except pm_errors.OperationFailure as exc:
        if _lost(exc):
            raise HistoryGone(f"{exc.code}: {exc.details.get('codeName') if exc.details else exc}") from exc
        raise


async def poll(stream: AsyncChangeStream[Any], skip_until: Timestamp | None) -> tuple[list[RawBSONDocument], bool]:
    """Return up to ``GROUP`` new events (those at or before ``skip_until`` dropped) and whether the stream ran dry.

    Raises HistoryGone if the server lost the stream's position meanwhile.
    """
    out: list[RawBSONDocument] = []
    try:
        while len(out) < GROUP:
            event = await stream.try_next()
            if event is None:
                return out, True
            if skip_until is not None and event["clusterTime"] <= skip_until:
                continue
            out.append(event)
            if event.get("operationType") == "invalidate":
                return out, False
    except pm_errors.OperationFailure as exc:
        if _lost(exc):
            raise HistoryGone(f"{exc.code}: {exc}") from exc
        raise
    return out, False


def token_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return an event's resume token as a plain dict."""
    token = event["_id"]
    return dict(token.items()) if hasattr(token, "items") else dict(token)
