"""Change events as the catch-up uses them: split events made whole, transactions kept together (pure code).

**Split events.** An event larger than 16 MB (an insert of a document near the limit, an update
with a large ``updateDescription``) makes mongod fail the stream with ``BSONObjectTooLarge`` unless
it ends with ``$changeStreamSplitLargeEvent`` (7.0, 6.0.9): the event then arrives as consecutive
fragments, each with ``splitEvent: {fragment: i, of: n}`` (from 1) and its own resume token, the
top-level fields shared out between them. ``Joiner`` puts the fragments back into one event whose
resume token is the last fragment's (resuming after it starts at the next event) and which keeps
its fragments (``Whole.fragments``: a dump stores them as they came, each under 16 MB).

**Transactions.** The events of a multi-document transaction carry its ``lsid`` and ``txnNumber``
and come one after the other; a large one spans several oplog entries, each with its own
``clusterTime``, and takes effect at its commit (``commitTimestamp`` on 8.2+, else its last
entry). A copy at cluster time T holds a transaction whole or not at all: ``unit_time`` is the time
a run of one transaction's events takes effect, and the catch-up takes or leaves the run as one.
Replaying it is done in order, not in a destination transaction (see ``apply``): a kill half-way
is mended by the resume, which replays the run again from its start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bson.timestamp import Timestamp

from analytiq_data.errors import AnalytiqError, ExitCode


class BrokenSplitEvent(AnalytiqError):
    """The fragments of a split change event did not arrive in order (the stream is not what mongod sends)."""

    exit_code = ExitCode.FAILURE


class Whole(dict[str, Any]):
    """An event joined from its fragments; ``fragments`` are the fragments as received."""

    fragments: tuple[Mapping[str, Any], ...] = ()


def split_of(event: Mapping[str, Any]) -> tuple[int, int] | None:
    """Return ``(fragment, of)`` of a fragment of a split event, None for an event that came whole."""
    split = event.get("splitEvent")
    if not isinstance(split, Mapping):
        return None
    fragment, of = int(split.get("fragment", 1)), int(split.get("of", 1))
    return None if of <= 1 else (fragment, of)


class Joiner:
    """Join the fragments of split events as they come; events that came whole pass through unchanged."""

    def __init__(self) -> None:
        self._parts: list[Mapping[str, Any]] = []

    @property
    def pending(self) -> bool:
        """Return whether a split event has begun and is not complete yet."""
        return bool(self._parts)

    def add(self, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Return the event if ``event`` completes one (or is whole), None while fragments are missing."""
        split = split_of(event)
        if split is None:
            if self._parts:
                raise BrokenSplitEvent(
                    f"a change event arrived in {len(self._parts)} of its fragments only",
                    hint="run the backup again; report this if it happens again",
                )
            return event
        fragment, of = split
        if fragment != len(self._parts) + 1:
            raise BrokenSplitEvent(
                f"fragment {fragment} of {of} of a split change event arrived after {len(self._parts)}",
                hint="run the backup again; report this if it happens again",
            )
        self._parts.append(event)
        if fragment < of:
            return None
        parts, self._parts = self._parts, []
        return join(parts)


def join(parts: Sequence[Mapping[str, Any]]) -> Whole:
    """Return one event from the fragments of a split event (the resume token of the last one)."""
    whole = Whole()
    for part in parts:
        whole.update((k, v) for k, v in part.items() if k not in ("_id", "splitEvent"))
    whole["_id"] = parts[-1]["_id"]
    whole.fragments = tuple(parts)
    return whole


def txn_key(event: Mapping[str, Any]) -> tuple[bytes, int] | None:
    """Return the transaction an event belongs to (its session id and ``txnNumber``), None outside one."""
    lsid, number = event.get("lsid"), event.get("txnNumber")
    if lsid is None or number is None:
        return None
    session = lsid.get("id") if isinstance(lsid, Mapping) else lsid
    return bytes(session) if isinstance(session, bytes | bytearray) else repr(lsid).encode(), int(number)


def unit_time(events: Sequence[Mapping[str, Any]]) -> Timestamp:
    """Return the cluster time a run of events takes effect at: its commit (the latest time it carries)."""
    stamps = [t for e in events for t in (e.get("clusterTime"), e.get("commitTimestamp")) if isinstance(t, Timestamp)]
    return max(stamps)
