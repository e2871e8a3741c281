"""The file formats without a server: CRC-64, metadata JSON and file names, archive and directory round trips,
and the one-line refusals of damaged files."""

from __future__ import annotations

import gzip
import io
import random
import subprocess
from pathlib import Path

import bson
import pytest
from bson import Int64
from bson.son import SON

from analytiq_data.backup.files.archive import MAGIC, TERMINATOR, ArchiveReader, ArchiveWriter
from analytiq_data.backup.files.crc64 import CHECK_VALUE, crc64, crc64_reference, from_int64, to_int64
from analytiq_data.backup.files.dumpdir import DirReader, DirWriter, database_dir
from analytiq_data.backup.files.metadata import Metadata, escape_name
from analytiq_data.backup.files.source import choose_db
from analytiq_data.backup.files.stream import Batch, DumpFileError, End, open_read
from analytiq_data.errors import ConfigurationError

USERS = Metadata(
    "shop",
    "users",
    "collection",
    SON([("validator", {"$jsonSchema": {"required": ["email"]}}), ("validationLevel", "moderate")]),
    (
        SON([("v", 2), ("key", SON([("_id", 1)])), ("name", "_id_")]),
        SON([("v", 2), ("key", SON([("email", 1), ("at", -1)])), ("name", "email_at"), ("unique", True)]),
    ),
    "0b130fda0e3c411bb2b0838ef66bec18",
)
VIEW = Metadata("shop", "adults", "view", SON([("viewOn", "users"), ("pipeline", [{"$match": {"age": 18}}])]))
EMPTY = Metadata("shop", "empty")


def docs(n: int, start: int = 0) -> list[bytes]:
    return [bson.encode({"_id": i, "email": f"u{i}@x", "pad": "x" * (i % 50)}) for i in range(start, start + n)]


def test_crc64_is_go_ecma_as_mongodump_computes_it() -> None:
    assert crc64(b"123456789") == crc64_reference(b"123456789") == CHECK_VALUE
    data = random.Random(3).randbytes(5000)
    assert crc64(data) == crc64_reference(data)
    assert crc64(data[1234:], crc64(data[:1234])) == crc64(data)  # continues across segments
    assert crc64(b"") == 0
    assert to_int64(0xFFFFFFFFFFFFFFFF) == -1 and from_int64(-1) == 0xFFFFFFFFFFFFFFFF
    assert from_int64(to_int64(CHECK_VALUE)) == CHECK_VALUE


def test_metadata_json_is_mongodumps_canonical_compact_text_and_reads_back() -> None:
    text = USERS.to_json()
    options = '{"options":{"validator":{"$jsonSchema":{"required":["email"]}},"validationLevel":"moderate"}'
    assert text.startswith(options)
    assert '"key":{"email":{"$numberInt":"1"},"at":{"$numberInt":"-1"}}' in text  # key order kept
    assert text.endswith('"uuid":"0b130fda0e3c411bb2b0838ef66bec18","collectionName":"users","type":"collection"}')
    assert Metadata.from_json("shop", text) == USERS
    assert '"options"' not in EMPTY.to_json()  # no options: no key, as mongodump
    assert Metadata.from_json("shop", VIEW.to_json()).is_view


def test_file_names_are_query_escaped_like_mongodump() -> None:
    assert escape_name("we/ird name%") == "we%2Fird+name%25"  # what mongodump wrote for this name
    assert escape_name("fs.chunks") == "fs.chunks"
    long = escape_name("x" * 400)
    assert len(long.encode()) <= 238 and "%24" in long


def write_archive(batches: list[tuple[Metadata, list[bytes]]], metas: list[Metadata]) -> bytes:
    out = io.BytesIO()
    writer = ArchiveWriter(out, concurrent=2)
    writer.begin(metas, "8.0.0")
    for meta, batch in batches:
        writer.write(meta, batch)
    for meta in metas:
        writer.end(meta)
    writer.close()
    return out.getvalue()


def read_all(data: bytes, batch_docs: int = 1000) -> tuple[list[Metadata], dict[str, list[bytes]], list[End]]:
    reader = ArchiveReader(io.BytesIO(data), "test.archive")
    got: dict[str, list[bytes]] = {}
    ends: list[End] = []
    for event in reader.events(batch_docs):
        if isinstance(event, Batch):
            got.setdefault(event.collection, []).extend(event.docs)
        else:
            ends.append(event)
    return list(reader.namespaces), got, ends


def test_archive_round_trip_with_interleaved_segments_and_its_layout() -> None:
    first, second = docs(30), docs(20, 100)
    data = write_archive([(USERS, first[:10]), (EMPTY, []), (USERS, first[10:]), (USERS, second)], [USERS, VIEW, EMPTY])
    assert data[:4] == MAGIC == bytes.fromhex("6de29981")
    header = bson.decode(data[4 : 4 + int.from_bytes(data[4:8], "little")])
    assert header["version"] == "0.1" and header["concurrent_collections"] == 2
    metas, got, ends = read_all(data, batch_docs=7)
    assert metas == [USERS, VIEW, EMPTY]
    assert got["users"] == first + second
    assert {(e.collection, e.count) for e in ends} == {("users", 50), ("adults", 0), ("empty", 0)}
    assert set(_eof_crcs(data)) == {"users", "adults", "empty"}  # every namespace ends, views included


def test_archive_crc_is_stored_as_a_signed_int64_of_all_document_bytes() -> None:
    batch = docs(5)
    data = write_archive([(USERS, batch[:2]), (USERS, batch[2:])], [USERS])
    stored = _eof_crcs(data)["users"]
    assert isinstance(stored, Int64)
    assert from_int64(int(stored)) == crc64(b"".join(batch))


def _eof_crcs(data: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    pos = 4
    pos += int.from_bytes(data[pos : pos + 4], "little")
    while data[pos : pos + 4] != TERMINATOR:
        pos += int.from_bytes(data[pos : pos + 4], "little")
    pos += 4
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "little")
        head = bson.decode(data[pos : pos + size])
        pos += size
        while data[pos : pos + 4] != TERMINATOR:
            pos += int.from_bytes(data[pos : pos + 4], "little")
        pos += 4
        if head["EOF"]:
            out[head["collection"]] = head["CRC"]
    return out


def test_a_flipped_byte_fails_the_crc_check_naming_the_collection() -> None:
    data = bytearray(write_archive([(USERS, docs(40))], [USERS]))
    pos = data.index(b"u20@x")
    data[pos] ^= 0x01
    with pytest.raises(DumpFileError, match=r"shop\.users fails its CRC-64 check"):
        read_all(bytes(data))


@pytest.mark.parametrize("cut", [10, 200, -40, -3])
def test_a_truncated_archive_is_refused(cut: int) -> None:
    data = write_archive([(USERS, docs(40))], [USERS, EMPTY])
    with pytest.raises(DumpFileError, match=r"truncated|no archive header"):
        read_all(data[:cut])


def test_something_else_is_not_an_archive() -> None:
    with pytest.raises(DumpFileError, match="is not a mongodump archive"):
        ArchiveReader(io.BytesIO(b"PK\x03\x04 a zip file"), "x.zip")


def test_gzip_is_recognised_when_reading(tmp_path: Path) -> None:
    data = write_archive([(USERS, docs(3))], [USERS])
    path = tmp_path / "a.archive.gz"
    path.write_bytes(gzip.compress(data))
    stream = open_read(str(path), "archive")
    try:
        assert ArchiveReader(stream, str(path)).namespaces[0].collection == "users"
    finally:
        stream.close()


@pytest.mark.parametrize("compress", [False, True])
def test_directory_round_trip(tmp_path: Path, compress: bool) -> None:
    odd = Metadata("shop", "we/ird name%")
    writer = DirWriter(tmp_path, "shop", compress=compress)
    writer.begin([USERS, VIEW, EMPTY, odd], "8.0.0")
    writer.write(USERS, docs(10))
    writer.write(odd, docs(1))
    writer.write(USERS, docs(5, 10))
    for meta in (USERS, VIEW, EMPTY, odd):
        writer.end(meta)
    writer.close()
    gz = ".gz" if compress else ""
    names = sorted(p.name for p in (tmp_path / "shop").iterdir())
    files = [
        f"{n}{gz}"
        for n in [
            "prelude.json",
            "users.bson",
            "users.metadata.json",
            "adults.metadata.json",
            "empty.bson",
            "empty.metadata.json",
            "we%2Fird+name%25.bson",
            "we%2Fird+name%25.metadata.json",
        ]
    ]
    assert names == sorted([*files, "SHA256SUMS"])
    listed = (tmp_path / "shop" / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in listed] == sorted(files)  # sha256sum's format, every file
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "shop", capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout.count(": OK") == len(files)  # checkable without this tool
    reader = DirReader(database_dir(tmp_path, None), "shop")
    assert reader.checksum == "SHA-256 of every file (SHA256SUMS)"
    assert {m.collection for m in reader.namespaces} == {"users", "adults", "empty", "we/ird name%"}
    got: dict[str, list[bytes]] = {}
    for event in reader.events(4):
        if isinstance(event, Batch):
            got.setdefault(event.collection, []).extend(event.docs)
    assert got == {"users": docs(15), "we/ird name%": docs(1)}


def test_a_truncated_bson_file_is_refused(tmp_path: Path) -> None:
    writer = DirWriter(tmp_path, "shop", compress=False)
    writer.begin([USERS], "8.0.0")
    writer.write(USERS, docs(10))
    writer.end(USERS)
    path = tmp_path / "shop" / "users.bson"
    path.write_bytes(path.read_bytes()[:-7])
    reader = DirReader(tmp_path / "shop", "shop")
    with pytest.raises(DumpFileError, match=r"users\.bson is truncated"):
        list(reader.events(100))


def _written(tmp_path: Path) -> Path:
    writer = DirWriter(tmp_path, "shop", compress=False)
    writer.begin([USERS, EMPTY], "8.0.0")
    writer.write(USERS, docs(10))
    writer.end(USERS)
    writer.end(EMPTY)
    writer.close()
    return tmp_path / "shop"


def _flip(path: Path, marker: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(marker)] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_value_fails_the_sha256_check_of_our_directory(tmp_path: Path) -> None:
    """A directory has no checksum of its own: the documents stay valid BSON, only SHA256SUMS catches it."""
    folder = _written(tmp_path)
    _flip(folder / "users.bson", b"u7@x")
    reader = DirReader(folder, "shop")
    with pytest.raises(DumpFileError, match=r"users\.bson fails its SHA-256 check \(SHA256SUMS\)"):
        list(reader.events(100))
    (folder / "SHA256SUMS").unlink()  # as mongodump writes it: nothing to check the bytes against
    plain = DirReader(folder, "shop")
    assert plain.checksum is None
    assert sum(len(e.docs) for e in plain.events(100) if isinstance(e, Batch)) == 10


def test_the_checksum_file_covers_metadata_and_exactly_the_dumps_files(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    _flip(folder / "users.metadata.json", b"email")
    with pytest.raises(DumpFileError, match=r"users\.metadata\.json fails its SHA-256 check"):
        DirReader(folder, "shop")
    folder = _written(tmp_path / "again")
    (folder / "extra.bson").write_bytes(b"".join(docs(1)))
    with pytest.raises(DumpFileError, match=r"extra\.bson is not in SHA256SUMS \(a file added") as refused:
        DirReader(folder, "shop")
    assert "remove SHA256SUMS to restore without checking the files" in refused.value.user_line()
    (folder / "extra.bson").unlink()
    (folder / "empty.bson").unlink()
    with pytest.raises(DumpFileError, match=r"empty\.bson is missing: SHA256SUMS lists it"):
        DirReader(folder, "shop")
    (folder / "SHA256SUMS").write_text("not a checksum list\n")
    with pytest.raises(DumpFileError, match="is not a SHA-256 checksum list"):
        DirReader(folder, "shop")


def test_a_directory_that_is_no_dump_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DumpFileError, match="is not a mongodump directory"):
        database_dir(tmp_path, None)
    with pytest.raises(DumpFileError, match="does not exist"):
        database_dir(tmp_path / "missing", None)


def test_the_database_to_restore_is_chosen_or_asked_for() -> None:
    other = Metadata("crm", "leads")
    assert choose_db([USERS, VIEW], None, "f") == "shop"
    assert choose_db([USERS, other], "crm", "f") == "crm"
    with pytest.raises(ConfigurationError, match="several databases: crm, shop"):
        choose_db([USERS, other], None, "f")
    with pytest.raises(ConfigurationError, match="no database 'hr'"):
        choose_db([USERS], "hr", "f")


def test_random_bytes_never_pass_as_an_archive() -> None:
    rng = random.Random(11)
    for _ in range(20):
        blob = MAGIC + rng.randbytes(rng.randrange(1, 300))
        with pytest.raises(DumpFileError):
            read_all(blob)
