"""The resume state's record of a finished collection: owned by ``state.py``, not the ``--json`` report."""

from __future__ import annotations

from analytiq_data.backup.digest import Digest
from analytiq_data.backup.results import CollectionReport
from analytiq_data.backup.state import report_from_doc, report_to_doc


def test_a_finished_collection_round_trips_through_the_state_format() -> None:
    report = CollectionReport(
        name="users",
        kind="collection",
        documents=3,
        nbytes=120,
        seconds=1.25,
        ranges=2,
        resumed_ranges=1,
        indexes=4,
        source=Digest(3, 120, 7),
        destination=Digest(3, 120, 7),
        verified=True,
        differences=(),
        note=None,
    )
    assert report_from_doc(report_to_doc(report)) == report
    view = CollectionReport("v", "view", ranges=0, verified=False, differences=("missing",), note="view on users")
    assert report_from_doc(report_to_doc(view)) == view


def test_a_record_written_by_an_earlier_version_is_still_read() -> None:
    # What a backup interrupted before this module owned the format left in __backup_state.
    old = {
        "name": "c",
        "kind": "collection",
        "documents": 5,
        "bytes": 50,
        "seconds": 0.5,
        "ranges": 1,
        "resumed_ranges": 0,
        "indexes": 0,
        "verified": None,
        "differences": [],
        "source": {"count": 5, "bytes": 50, "hash": f"{9:032x}"},
    }
    report = report_from_doc(old)
    assert report.source == Digest(5, 50, 9)
    assert report.destination is None
    assert report.verified is None
