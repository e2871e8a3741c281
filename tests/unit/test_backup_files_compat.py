"""What a restore assumes about metadata other mongodump versions and tools write (``backup.files.compat``),
without a server: the implicit ``_id`` index, index versions, ``ns``, unknown legacy index options,
``autoIndexId``, missing metadata; and the one line per kind of assumption."""

from __future__ import annotations

import io

import bson
from bson.son import SON

from analytiq_data.backup.compare import compare_indexes
from analytiq_data.backup.files.archive import MAGIC, TERMINATOR, ArchiveReader
from analytiq_data.backup.files.compat import assumption_lines, for_restore
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.safety.results import RestoreResult

ID_V1 = SON([("v", 1), ("key", SON([("_id", 1)])), ("name", "_id_"), ("ns", "shop.users")])
EMAIL_V1 = SON([("v", 1), ("key", SON([("email", 1)])), ("name", "email_1"), ("ns", "shop.users"), ("unique", True)])
SERVER_ID = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
SERVER_EMAIL = {"v": 2, "key": {"email": 1}, "name": "email_1", "unique": True}


def test_todays_metadata_is_taken_as_it_is() -> None:
    meta = Metadata("shop", "users", indexes=(SON([("v", 2), ("key", SON([("_id", 1)])), ("name", "_id_")]),))
    restored = for_restore(meta)
    assert restored.assumed == ()
    assert compare_indexes(restored.indexes, [SERVER_ID]) == []


def test_a_32_dump_keeps_its_indexes_without_version_or_namespace() -> None:
    restored = for_restore(Metadata("shop", "users", indexes=(ID_V1, EMAIL_V1)))
    assert [dict(s) for s in restored.indexes] == [
        {"key": {"_id": 1}, "name": "_id_"},
        {"key": {"email": 1}, "name": "email_1", "unique": True},
    ]
    assert restored.assumed == ("indexes of version 1 rebuilt at the server's default version",)
    assert compare_indexes(restored.indexes, [SERVER_ID, SERVER_EMAIL]) == []  # what the server then lists


def test_no_id_index_listed_is_the_implicit_one() -> None:
    restored = for_restore(Metadata("shop", "log", indexes=()))
    assert restored.assumed == ("no _id index listed; the server builds it",)
    assert compare_indexes(restored.indexes, [SERVER_ID]) == []
    clustered = for_restore(Metadata("shop", "c", options={"clusteredIndex": {"key": {"_id": 1}, "unique": True}}))
    assert clustered.indexes == ()  # a clustered collection's key is not an _id index to add


def test_missing_metadata_is_default_options_and_the_id_index_said_once() -> None:
    restored = for_restore(Metadata("shop", "users", missing="no metadata file"))
    assert restored.assumed == ("no metadata file; restored with default options and the _id index",)
    assert compare_indexes(restored.indexes, [SERVER_ID]) == []


def test_autoindexid_and_unknown_index_options_are_left_out() -> None:
    legacy = SON([*EMAIL_V1.items(), ("safe", True), ("dropDups", True)])
    meta = Metadata("shop", "log", options=SON([("capped", True), ("size", 4096), ("autoIndexId", False)]),
                    indexes=(ID_V1, legacy))
    restored = for_restore(meta)
    assert dict(restored.options) == {"capped": True, "size": 4096}
    assert "safe" not in restored.indexes[1] and "dropDups" not in restored.indexes[1]
    assert restored.assumed == (
        "autoIndexId: false ignored (servers since 4.0 always build the _id index)",
        "indexes of version 1 rebuilt at the server's default version",
        "index 'email_1': unknown option 'safe', 'dropDups' left out",
    )
    assert for_restore(Metadata("shop", "x", options={"autoIndexId": True})).assumed == (
        "no _id index listed; the server builds it",
    )


def test_a_view_is_taken_as_it_is() -> None:
    view = Metadata("shop", "adults", options={"viewOn": "users", "pipeline": []})  # no type: a 3.4 view
    assert view.is_view and for_restore(view) == view


def test_one_line_per_kind_of_assumption_naming_the_namespaces() -> None:
    metas = [
        for_restore(Metadata("shop", name, missing="no metadata file")) for name in ("b", "a", "c", "d", "e", "f", "g")
    ]
    metas.append(for_restore(Metadata("shop", "log")))
    metas.append(for_restore(Metadata("shop", "fine", indexes=(SON([("key", {"_id": 1}), ("name", "_id_")]),))))
    assert assumption_lines(metas) == [
        "shop.a, shop.b, shop.c, shop.d, shop.e and 2 more: no metadata file; restored with default options "
        "and the _id index",
        "shop.log: no _id index listed; the server builds it",
    ]


def test_an_archive_prelude_without_metadata_is_said() -> None:
    prelude = bson.encode(SON([("db", "shop"), ("collection", "users"), ("metadata", ""), ("size", 0)]))
    header = bson.encode(SON([("concurrent_collections", 1), ("version", "0.1"), ("server_version", "3.2.0")]))
    reader = ArchiveReader(io.BytesIO(MAGIC + header + prelude + TERMINATOR), "old.archive")
    assert for_restore(reader.namespaces[0]).assumed == (
        "no metadata in the archive; restored with default options and the _id index",
    )


def test_the_outcome_says_what_was_checked() -> None:
    base = RestoreResult("prod", "b", "s", None, ("users",), (), (), 3, True, 1.0)
    assert base.outcome() == "verified"  # restore --from: the copy's own verification
    archive = RestoreResult(
        "prod", "b", "s", None, ("users",), (), (), 3, True, 1.0, checks=("document counts", "CRC-64 of each")
    )
    assert archive.outcome() == "verified: document counts, CRC-64 of each"
    folder = RestoreResult(
        "prod", "b", "s", None, ("users",), (), (), 3, True, 1.0, checks=("document counts",), unchecked=("bytes",)
    )
    assert folder.outcome() == "checked: document counts; not checked: bytes"
    assert folder.to_json()["unchecked"] == ["bytes"] and folder.to_json()["checks"] == ["document counts"]
