"""Change events as mongod sends them, made whole before they are replayed (no server).

The samples follow mongod's documented format: fragments of an event over 16 MB
(``$changeStreamSplitLargeEvent``, 7.0/6.0.9: ``splitEvent: {fragment, of}``, each with its own
resume token, the top-level fields shared out, the first fragment holding as many as fit), the events
of a multi-document transaction (``lsid`` + ``txnNumber``; a large transaction spans oplog entries
with their own ``clusterTime``, 8.2+ adds ``commitTimestamp``), and ``disambiguatedPaths`` (6.1+). The
stream they are read from is a list standing in for the driver's change stream (``try_next`` and
``resume_token``, as ``catchup.EventReader`` uses them): the events are data, not a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson.timestamp import Timestamp
from pymongo import ReplaceOne, UpdateOne

from analytiq_data.backup.consistent.catchup import EventReader, _next_group
from analytiq_data.backup.consistent.events import Change, interpret
from analytiq_data.backup.consistent.paths import set_at
from analytiq_data.backup.consistent.units import BrokenSplitEvent, Joiner, Whole, txn_key, unit_time

SESSION = {"id": b"\x01" * 16}


def ev(n: int, t: int, op: str = "insert", **fields: Any) -> dict[str, Any]:
    base = {"_id": {"_data": f"token{n}"}, "operationType": op, "clusterTime": Timestamp(t, n)}
    base["ns"] = {"db": "app", "coll": "c"}
    base["documentKey"] = {"_id": n}
    if op == "insert":
        base["fullDocument"] = {"_id": n}
    return {**base, **fields}


def fragments(n: int, t: int, big: str) -> list[dict[str, Any]]:
    """An insert of a document near 16 MB, split in two: metadata first, the document second."""
    whole = ev(n, t, fullDocument={"_id": n, "big": big})
    first = {k: v for k, v in whole.items() if k != "fullDocument"}
    first["_id"] = {"_data": f"token{n}-frag1"}
    return [
        {**first, "splitEvent": {"fragment": 1, "of": 2}},
        {
            "_id": {"_data": f"token{n}-frag2"},
            "fullDocument": whole["fullDocument"],
            "splitEvent": {"fragment": 2, "of": 2},
        },
    ]


class ListStream:
    """Events handed out as a change stream hands them out: one ``try_next`` each, then None."""

    def __init__(self, events: list[dict[str, Any]], high_water: Timestamp | None = None) -> None:
        self.events: Iterator[dict[str, Any]] = iter(events)
        self.resume_token: dict[str, Any] | None = None
        self.high_water = high_water

    async def try_next(self) -> dict[str, Any] | None:
        event = next(self.events, None)
        if event is None:
            t = self.high_water
            self.resume_token = {"_data": f"82{t.time:08X}{t.inc:08X}"} if t else None
            return None
        self.resume_token = event["_id"]
        return event


async def group_of(events: list[dict[str, Any]], target: Timestamp) -> tuple[list[Any], bool]:
    return await _next_group(EventReader(ListStream(events, high_water=Timestamp(10_000, 0))), target)  # type: ignore[arg-type]


def test_the_fragments_of_a_split_event_are_joined_with_the_last_resume_token() -> None:
    joiner = Joiner()
    first, second = fragments(7, 100, "x" * 1000)

    assert joiner.add(first) is None and joiner.pending
    whole = joiner.add(second)

    assert isinstance(whole, Whole) and not joiner.pending
    assert whole["fullDocument"] == {"_id": 7, "big": "x" * 1000} and whole["operationType"] == "insert"
    assert whole["_id"] == {"_data": "token7-frag2"}, "resuming after it starts at the next event"
    assert "splitEvent" not in whole and whole.fragments == (first, second)
    assert joiner.add(ev(8, 101)) == ev(8, 101), "an event that came whole passes unchanged"
    assert joiner.add({**ev(9, 102), "splitEvent": {"fragment": 1, "of": 1}})["_id"] == {"_data": "token9"}


def test_fragments_out_of_order_are_an_error_not_a_wrong_event() -> None:
    first, second = fragments(7, 100, "x")
    with pytest.raises(BrokenSplitEvent):
        Joiner().add(second)
    joiner = Joiner()
    joiner.add(first)
    with pytest.raises(BrokenSplitEvent):
        joiner.add(ev(8, 101))


async def test_the_catch_up_hands_on_a_split_event_whole() -> None:
    group, done = await group_of([ev(1, 100), *fragments(2, 100, "y" * 50), ev(3, 101)], Timestamp(200, 0))

    assert [e["_id"]["_data"] for e in group] == ["token1", "token2-frag2", "token3"] and done
    change = interpret(group[1], "app", lambda _: True)
    assert isinstance(change, Change) and change.document == {"_id": 2, "big": "y" * 50}


def test_a_transaction_is_one_unit_that_takes_effect_at_its_commit() -> None:
    a = ev(1, 100, lsid=SESSION, txnNumber=4)
    b = ev(2, 101, lsid=SESSION, txnNumber=4)
    assert txn_key(a) == txn_key(b) == (b"\x01" * 16, 4)
    assert txn_key(ev(3, 100)) is None and txn_key(ev(3, 100, lsid=SESSION, txnNumber=5)) != txn_key(a)
    assert unit_time([a, b]) == Timestamp(101, 2)
    assert unit_time([{**a, "commitTimestamp": Timestamp(105, 1)}]) == Timestamp(105, 1)


async def test_a_transaction_committed_after_T_is_left_out_whole_even_when_it_began_before() -> None:
    """A large transaction over two oplog entries (times 100 and 102) with T = 101: not in the copy at T."""
    before = ev(1, 99)
    txn = [ev(2, 100, lsid=SESSION, txnNumber=4), ev(3, 102, lsid=SESSION, txnNumber=4)]

    group, done = await group_of([before, *txn, ev(4, 103)], Timestamp(101, 0))

    assert [e["_id"]["_data"] for e in group] == ["token1"] and done


async def test_a_transaction_committed_by_T_is_taken_whole_and_the_next_event_is_not_lost() -> None:
    txn = [ev(2, 100, lsid=SESSION, txnNumber=4), ev(3, 100, lsid=SESSION, txnNumber=4)]
    reader = EventReader(ListStream([*txn, ev(4, 100), ev(5, 150)], high_water=Timestamp(10_000, 0)))  # type: ignore[arg-type]

    group, done = await _next_group(reader, Timestamp(120, 0))

    assert [e["_id"]["_data"] for e in group] == ["token2", "token3", "token4"] and done


def test_documented_update_samples_become_the_right_requests() -> None:
    """disambiguatedPaths samples (drivers' specification tests): numeric names and positions stay $set."""
    numeric = interpret(
        ev(
            1,
            1,
            "update",
            updateDescription={"updatedFields": {"a.0.1": 2}, "disambiguatedPaths": {"a.0.1": ["a", 0, "1"]}},
        ),
        "app",
        lambda _: True,
    )
    dotted = interpret(
        ev(
            1,
            1,
            "update",
            updateDescription={"updatedFields": {"a.b": 1, "p.q": 2}, "disambiguatedPaths": {"p.q": ["p.q"]}},
        ),
        "app",
        lambda _: True,
    )
    assert isinstance(numeric, Change) and isinstance(dotted, Change)
    assert numeric.requests() == [UpdateOne({"_id": 1}, {"$set": {"a.0.1": 2}})]
    assert dotted.requests() == [
        UpdateOne({"_id": 1}, {"$set": {"a.b": 1}}),
        UpdateOne({"_id": 1}, [{"$replaceWith": set_at(("p.q",), {"$literal": 2})}]),
    ]
    assert set_at(("p.q",), 2) == {
        "$setField": {"field": {"$literal": "p.q"}, "input": {"$ifNull": ["$$ROOT", {}]}, "value": 2}
    }


def test_an_insert_with_a_top_level_dollar_name_replays_as_a_pipeline_upsert() -> None:
    doc = {"_id": 1, "$price": 5}
    change = interpret(ev(1, 1, fullDocument=doc), "app", lambda _: True)
    plain = interpret(ev(2, 1, fullDocument={"_id": 2, "a": 1}), "app", lambda _: True)
    assert isinstance(change, Change) and isinstance(plain, Change)
    assert change.requests() == [UpdateOne({"_id": 1}, [{"$replaceWith": {"$literal": doc}}], upsert=True)]
    assert plain.requests() == [ReplaceOne({"_id": 2}, {"_id": 2, "a": 1}, upsert=True)]
