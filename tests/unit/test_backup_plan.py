"""Planning without a server: kinds, option handling, view order, ``_id`` ranges."""

from __future__ import annotations

import datetime

from bson import Binary, Int64, ObjectId

from analytiq_data.backup.plan import (
    IdRange,
    Intent,
    Kind,
    boundaries,
    copied_namespace,
    creation_options,
    deferred_options,
    index_spec,
    is_id_index,
    is_ttl,
    kind_of,
    order_views,
    range_count,
    ranges_from,
    sort_class,
)


def view(name: str, on: str) -> Intent:
    return Intent(name, Kind.VIEW, {"viewOn": on, "pipeline": []})


def test_views_come_after_the_views_they_read() -> None:
    views = [view("c", "b"), view("a", "coll"), view("b", "a"), view("d", "coll")]
    ordered = [v.name for v in order_views(views)]
    assert ordered.index("a") < ordered.index("b") < ordered.index("c")
    assert sorted(ordered) == ["a", "b", "c", "d"]


def test_kinds_from_list_collections() -> None:
    assert kind_of({"type": "view", "options": {"viewOn": "x"}}) is Kind.VIEW
    assert kind_of({"type": "timeseries", "options": {"timeseries": {"timeField": "t"}}}) is Kind.TIMESERIES
    assert kind_of({"type": "collection", "options": {"timeseries": {"timeField": "t"}}}) is Kind.TIMESERIES
    assert kind_of({"type": "collection", "options": {"capped": True, "size": 4096}}) is Kind.CAPPED
    assert kind_of({"type": "collection", "options": {}}) is Kind.COLLECTION


def test_validator_and_ttl_options_wait_until_the_data_is_in() -> None:
    options = {
        "validator": {"$jsonSchema": {}},
        "validationLevel": "strict",
        "validationAction": "error",
        "clusteredIndex": {"key": {"_id": 1}, "unique": True},
        "expireAfterSeconds": 60,
        "collation": {"locale": "fr"},
    }
    assert creation_options(options) == {
        "clusteredIndex": {"key": {"_id": 1}, "unique": True},
        "collation": {"locale": "fr"},
    }
    assert set(deferred_options(options)) == {"validator", "validationLevel", "validationAction", "expireAfterSeconds"}
    assert deferred_options({"capped": True}) == {}


def test_index_helpers() -> None:
    assert is_id_index({"key": {"_id": 1}, "name": "_id_"})
    assert is_id_index({"key": {"_id": 1}, "name": "x", "clustered": True})
    assert not is_id_index({"key": {"_id": 1, "a": 1}, "name": "_id_1_a_1"})
    assert index_spec({"v": 2, "key": {"a": 1}, "name": "a_1", "ns": "db.c"}) == {
        "v": 2,
        "key": {"a": 1},
        "name": "a_1",
    }
    assert is_ttl({"key": {"t": 1}, "expireAfterSeconds": 0})
    assert not is_ttl({"key": {"t": 1}})


def test_internal_namespaces_are_not_copied() -> None:
    assert copied_namespace("users")
    assert copied_namespace("system.js")
    assert not copied_namespace("system.views")
    assert not copied_namespace("system.buckets.metrics")
    assert not copied_namespace("__backup_state")


def test_ranges_cut_at_boundaries() -> None:
    ranges = ranges_from([10, 20])
    assert [r.filter() for r in ranges] == [
        {"_id": {"$lt": 10}},
        {"_id": {"$gte": 10, "$lt": 20}},
        {"_id": {"$gte": 20}},
    ]
    assert ranges_from([]) == (IdRange(0),)
    assert IdRange(0).filter() == {} and not IdRange(0).bounded


def test_boundaries_are_even_and_distinct() -> None:
    sample = list(range(100))
    assert boundaries(sample, 4) == [25, 50, 75]
    assert boundaries([1, 1, 1, 1, 2, 2, 2, 2], 4) == [1, 2]
    assert boundaries(sample, 1) == []
    assert boundaries([], 4) == []


def test_range_count() -> None:
    assert range_count(10, 100) == 1
    assert range_count(100, 100) == 1
    assert range_count(101, 100) == 2
    assert range_count(1000, 100) == 10


def test_only_comparable_id_types_are_split() -> None:
    assert sort_class(1) == sort_class(Int64(2)) == sort_class(2.5) == "number"
    assert sort_class("a") == "string"
    assert sort_class(ObjectId()) == "objectId"
    assert sort_class(datetime.datetime(2024, 1, 1)) == "date"
    assert sort_class(Binary(b"x", 4)) == "binary"
    assert sort_class(True) is None
    assert sort_class({"a": 1}) is None
    assert sort_class(None) is None
