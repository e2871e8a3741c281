"""The record of a complete backup: stored and read back exactly, and compared with a fresh read of the backup."""

from __future__ import annotations

import datetime

from analytiq_data.backup.digest import Digest
from analytiq_data.backup.manifest import Manifest
from analytiq_data.backup.results import BackupResult, CollectionReport

WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def report(name: str, count: int, total: int) -> CollectionReport:
    return CollectionReport(name, "collection", documents=count, source=Digest(count, count * 10, total), verified=True)


def test_a_manifest_round_trips_and_counts_its_documents() -> None:
    result = BackupResult(
        mode="copy",
        src_db="prod",
        dest_db="prod_bk",
        source="mongodb://h:1",
        destination="mongodb://h:2",
        collections=(report("users", 3, 7), report("ocr.chunks", 2, 1 << 127)),
        views=(CollectionReport("v", "view", ranges=0, verified=True),),
    )
    manifest = Manifest.from_result(result, WHEN)
    doc = manifest.to_doc()
    assert (doc["complete"], doc["verified"], doc["documents"]) == (True, True, 5)
    assert doc["collections"][1] == {
        "name": "ocr.chunks",
        "kind": "collection",
        "count": 2,
        "bytes": 20,
        "hash": f"{1 << 127:032x}",
    }
    assert Manifest.from_doc(doc) == manifest


def test_differences_name_what_changed_since_the_backup_was_made() -> None:
    manifest = Manifest.from_result(
        BackupResult(
            "copy", "prod", "bk", "s", "d", collections=(report("a", 3, 1), report("b", 2, 2), report("c", 1, 3))
        ),
        WHEN,
    )
    now = [report("a", 3, 1), report("b", 2, 9), report("d", 1, 4)]
    assert manifest.differences(now) == [
        "b: document contents changed since the backup was made",
        "c: recorded in the backup but missing now",
        "d: not in the backup when it was made",
    ]
    assert manifest.differences([report("a", 4, 1)], selected=frozenset({"a"})) == ["a: 3 documents recorded, 4 now"]
    assert manifest.differences([report("a", 3, 1)], selected=frozenset({"a"})) == []
