"""Comparing definitions and digests without a server."""

from __future__ import annotations

from typing import Any

from bson.son import SON

from analytiq_data.backup.compare import compare_digests, compare_indexes, compare_options
from analytiq_data.backup.digest import Digest


def test_identical_indexes_in_any_listing_order_match() -> None:
    a = [{"v": 2, "key": SON([("a", 1), ("b", -1)]), "name": "ab", "unique": True, "ns": "x.c"}]
    b = [{"name": "ab", "unique": True, "key": {"a": 1, "b": -1}, "v": 2, "ns": "y.c"}]
    assert compare_indexes(a, b) == []


def test_index_differences_are_named() -> None:
    src: list[dict[str, Any]] = [
        {"key": {"a": 1, "b": 1}, "name": "ab"},
        {"key": {"t": 1}, "name": "ttl", "expireAfterSeconds": 60},
        {"key": {"u": 1}, "name": "u", "unique": True},
    ]
    dst: list[dict[str, Any]] = [
        {"key": {"b": 1, "a": 1}, "name": "ab"},
        {"key": {"t": 1}, "name": "ttl", "expireAfterSeconds": 61},
        {"key": {"x": 1}, "name": "x"},
    ]
    assert compare_indexes(src, dst) == [
        "index 'ab' differs in key",
        "index 'ttl' differs in expireAfterSeconds",
        "index 'u' is missing on the destination",
        "index 'x' exists only on the destination",
    ]


def test_options_compare_mappings_unordered_and_lists_ordered() -> None:
    src = {"validator": {"$and": [{"a": 1}, {"b": 2}]}, "validationLevel": "strict"}
    same = {"validationLevel": "strict", "validator": {"$and": [{"a": 1}, {"b": 2}]}}
    assert compare_options(src, same) == []
    swapped = {"validationLevel": "strict", "validator": {"$and": [{"b": 2}, {"a": 1}]}}
    assert compare_options(src, swapped)[0].startswith("option 'validator' differs")
    assert compare_options({"capped": True}, {}) == ["option 'capped' differs (source True, destination None)"]


def test_digest_differences() -> None:
    assert compare_digests(Digest(3, 30, 7), Digest(3, 30, 7)) == []
    assert compare_digests(Digest(3, 30, 7), Digest(2, 20, 7)) == ["3 documents in the source, 2 in the destination"]
    assert "contents differ" in compare_digests(Digest(3, 30, 7), Digest(3, 30, 8))[0]
