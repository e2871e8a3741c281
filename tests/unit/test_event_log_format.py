"""The event log's pure parts: record framing and torn tails, moments, and ranges from a catalog (no server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.timestamp import Timestamp

from analytiq_data.backup.log.catalog import Catalog, when_text
from analytiq_data.backup.log.follower import FollowOptions
from analytiq_data.backup.log.format import MAX_INC, frame, previous, scan, ts_doc
from analytiq_data.backup.log.moment import parse_moment
from analytiq_data.errors import ConfigurationError


def _records(n: int) -> bytes:
    return b"".join(frame(bson.encode({"i": i, "pad": "x" * i})) for i in range(n))


def test_scan_reads_every_whole_record() -> None:
    data = _records(5)
    found = scan(data)
    assert [bson.decode(p)["i"] for p in found.payloads] == [0, 1, 2, 3, 4]
    assert found.end == len(data) and found.torn is None


@pytest.mark.parametrize("cut", [1, 5, 12, 13])
def test_a_torn_tail_is_cut_at_the_last_whole_record(cut: int) -> None:
    data = _records(4)
    whole = len(_records(3))
    found = scan(data[: len(data) - cut])
    assert len(found.payloads) == 3 and found.end == whole and found.torn


def test_a_bit_flip_ends_the_readable_part_at_that_record() -> None:
    data = bytearray(_records(4))
    second = len(_records(1))
    data[second + 14] ^= 0x01  # inside the second record's payload
    found = scan(bytes(data))
    assert len(found.payloads) == 1 and found.end == second and "CRC-64" in str(found.torn)


def test_moments() -> None:
    assert parse_moment("Timestamp(1717000000, 3)") == Timestamp(1717000000, 3)
    assert parse_moment("1717000000,3") == Timestamp(1717000000, 3)
    assert parse_moment("2024-05-29T16:26:40Z") == Timestamp(1717000000, MAX_INC)
    assert parse_moment("2024-05-29T16:26:40") == Timestamp(1717000000, MAX_INC)  # no zone: UTC
    assert previous(Timestamp(10, 0)) == Timestamp(9, MAX_INC) and previous(Timestamp(10, 5)) == Timestamp(10, 4)
    with pytest.raises(ConfigurationError):
        parse_moment("yesterday")


def test_a_moment_given_as_a_wall_time_is_said_as_that_time() -> None:
    # --at 2024-05-29T16:26:40Z is Timestamp(1717000000, MAX_INC) inside; the sentinel is no moment a user named
    assert when_text(parse_moment("2024-05-29T16:26:40Z")) == "2024-05-29 16:26:40 UTC (the end of that second)"
    assert when_text(Timestamp(1717000000, 3)) == "Timestamp(1717000000, 3) (2024-05-29 16:26:40 UTC)"


def _seg(seq: int, after: tuple[int, int], last: tuple[int, int], covered: tuple[int, int], tok: str | None) -> Any:
    prev = None if seq == 1 else {"_data": f"t{seq - 1}"}
    return {
        "seq": seq,
        "file": f"segments/seg-{seq:06d}.log",
        "after": ts_doc(Timestamp(*after)),
        "after_token": prev if after != (100, 1) else None,
        "last": ts_doc(Timestamp(*last)),
        "covered": ts_doc(Timestamp(*covered)),
        "token": {"_data": tok} if tok else None,
        "events": 1,
    }


def test_ranges_follow_the_chain_and_stop_at_a_missing_segment(tmp_path: Path) -> None:
    base = {"file": "bases/b.archive", "at": ts_doc(Timestamp(100, 1))}
    segs = [
        _seg(1, (100, 1), (110, 1), (111, 0), "t1"),
        _seg(2, (110, 1), (120, 1), (125, 0), "t2"),
        _seg(3, (120, 1), (130, 1), (131, 0), "t3"),
    ]
    whole = Catalog(tmp_path, {"bases": [base], "segments": segs})
    (r,) = whole.ranges()
    assert (r.start, r.end, len(r.segments)) == (Timestamp(100, 1), Timestamp(131, 0), 3)
    holed = Catalog(tmp_path, {"bases": [base], "segments": [segs[0], segs[2]]})
    (r,) = holed.ranges()
    assert r.end == Timestamp(111, 0) and r.covers(Timestamp(105, 0)) and not r.covers(Timestamp(125, 0))


def test_a_new_base_after_a_gap_starts_a_second_range(tmp_path: Path) -> None:
    first = {"file": "bases/a.archive", "at": ts_doc(Timestamp(100, 1))}
    second = {"file": "bases/b.archive", "at": ts_doc(Timestamp(200, 1))}
    segs = [_seg(1, (100, 1), (110, 1), (111, 0), "t1"), _seg(2, (200, 1), (210, 1), (215, 0), "t2")]
    segs[1]["after_token"] = None
    catalog = Catalog(tmp_path, {"bases": [first, second], "segments": segs})
    ranges = catalog.ranges()
    assert [(r.start, r.end) for r in ranges] == [
        (Timestamp(100, 1), Timestamp(111, 0)),
        (Timestamp(200, 1), Timestamp(215, 0)),
    ]


def test_ranges_see_each_segment_added_and_the_open_one(tmp_path: Path) -> None:
    """The chains are kept between calls (a follower asks every second): each change of the catalog shows."""
    base = {"file": "bases/b.archive", "at": ts_doc(Timestamp(100, 1))}
    catalog = Catalog(tmp_path, {"format": "analytiq-event-log", "bases": [base], "segments": [], "gaps": []})
    assert catalog.ranges()[0].end == Timestamp(100, 1)
    catalog.add_segment(_seg(1, (100, 1), (110, 1), (111, 0), "t1"))
    assert catalog.ranges()[0].end == Timestamp(111, 0)
    tail = _seg(2, (110, 1), (120, 1), (125, 0), "t2")
    (r,) = catalog.ranges(tail)
    assert r.end == Timestamp(125, 0) and len(r.segments) == 2
    assert catalog.ranges()[0].end == Timestamp(111, 0)  # the open segment is not kept
    catalog.add_segment(_seg(2, (110, 1), (120, 1), (126, 0), "t2"))
    assert catalog.ranges()[0].end == Timestamp(126, 0)


def _written_log(folder: Path) -> None:
    """Write a log directory: a base and three chained segments, the files of the sizes the catalog says."""
    base = {"file": "bases/b.archive", "at": ts_doc(Timestamp(100, 1)), "bytes": 4}
    segs = [
        _seg(1, (100, 1), (110, 1), (111, 0), "t1"),
        _seg(2, (110, 1), (120, 1), (125, 0), "t2"),
        _seg(3, (120, 1), (130, 1), (131, 0), "t3"),
    ]
    for entry in [base, *segs]:
        if "file" not in entry:
            entry["file"] = f"segments/seg-{entry['seq']:06d}.log"
        entry["bytes"] = 4
        (folder / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / entry["file"]).write_bytes(b"data")
    data = {"format": "analytiq-event-log", "version": 1, "db": "app", "bases": [base], "segments": segs, "gaps": []}
    (folder / "catalog.json").write_text(json.dumps(data))


def test_log_ranges_end_where_a_file_is_missing_or_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``log ranges`` said a log could restore through segments that were gone; now the range ends before them."""
    from analytiq_data.cli.main import main

    _written_log(tmp_path)
    (tmp_path / "segments" / "seg-000002.log").unlink()
    assert main(["log", "ranges", str(tmp_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["start"], r["end"], r["segments"]) for r in shown["ranges"]] == [
        ({"t": 100, "i": 1}, {"t": 111, "i": 0}, [1])
    ]
    assert shown["damaged"] == [
        "segment segments/seg-000002.log is missing: the range from Timestamp(100, 1) (1970-01-01 00:01:40 UTC) "
        "ends at Timestamp(111, 0) (1970-01-01 00:01:51 UTC)"
    ]
    (tmp_path / "bases" / "b.archive").write_bytes(b"d")
    assert main(["log", "ranges", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "damaged: base bases/b.archive has 1 bytes, the catalog says 4: nothing from Timestamp(100, 1)" in out


def test_follow_checks_its_uri_as_every_command_does() -> None:
    """One URI check (``connecting.check_uri_scheme``): the scheme in any case, the URI redacted in the message."""
    assert FollowOptions("MONGODB://h:27017", "app", "/tmp/log").src_uri == "MONGODB://h:27017"
    with pytest.raises(ConfigurationError, match=r"invalid MongoDB URI 'http://u:\*\*\*@h': not a mongodb:// URI"):
        FollowOptions("http://u:secret@h", "app", "/tmp/log")
