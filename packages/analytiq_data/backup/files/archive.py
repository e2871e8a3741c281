"""mongodump's archive format (``--archive``): one stream, namespaces interleaved, a CRC per collection.

Layout (checked against the real mongodump): the magic number ``6d e2 99 81``; a header document
``{concurrent_collections, version: "0.1", server_version, tool_version}``; one prelude document per
namespace ``{db, collection, metadata: <metadata JSON text>, size: 0, type}`` and the terminator
``ff ff ff ff``; then segments in any order, each a header ``{db, collection, EOF: false, CRC: 0}``,
documents back to back and the terminator; each namespace ends with ``{db, collection, EOF: true,
CRC: <CRC-64 of all its document bytes, signed int64>}`` and the terminator (views and empty
collections too, after one empty segment). With ``--gzip`` the whole stream is one gzip member.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import bson
from bson import Int64
from bson.son import SON

from analytiq_data.backup.files.crc64 import crc64, from_int64, to_int64
from analytiq_data.backup.files.metadata import Metadata, MetadataError
from analytiq_data.backup.files.stream import (
    MAX_DOCUMENT,
    Batch,
    DumpFileError,
    End,
    Event,
    close_quietly,
    close_write,
    read_exact,
)
from analytiq_data.text import first_few

MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"
ARCHIVE_VERSION = "0.1"
TOOL_VERSION = "analytiq-db"

Key = tuple[str, str]


class ArchiveWriter:
    """Writes an archive to a binary stream; a ``DumpSink``. Namespaces may be written interleaved."""

    def __init__(self, out: BinaryIO, *, concurrent: int = 1) -> None:
        self.out = out
        self.concurrent = concurrent
        self._crc: dict[Key, int] = {}
        self._segments: set[Key] = set()

    def begin(self, namespaces: Sequence[Metadata], server_version: str) -> None:
        """Write the magic number, the header and the prelude of every namespace."""
        header = SON(
            [
                ("concurrent_collections", self.concurrent),
                ("version", ARCHIVE_VERSION),
                ("server_version", server_version),
                ("tool_version", TOOL_VERSION),
            ]
        )
        self.out.write(MAGIC + bson.encode(header))
        for meta in namespaces:
            prelude = SON(
                [
                    ("db", meta.db),
                    ("collection", meta.collection),
                    ("metadata", meta.to_json()),
                    ("size", 0),
                    ("type", meta.type),
                ]
            )
            self.out.write(bson.encode(prelude))
            self._crc[(meta.db, meta.collection)] = 0
        self.out.write(TERMINATOR)

    def write(self, meta: Metadata, docs: Sequence[bytes]) -> None:
        """Write one segment holding ``docs`` (raw BSON) of ``meta``'s namespace."""
        key = (meta.db, meta.collection)
        body = b"".join(docs)
        self._crc[key] = crc64(body, self._crc.get(key, 0))
        self._segments.add(key)
        self.out.write(_segment_header(meta, eof=False, crc=0) + body + TERMINATOR)

    def end(self, meta: Metadata) -> None:
        """Write the namespace's EOF header with its CRC (after an empty segment if it had none)."""
        key = (meta.db, meta.collection)
        if key not in self._segments:
            self.out.write(_segment_header(meta, eof=False, crc=0) + TERMINATOR)
        self.out.write(_segment_header(meta, eof=True, crc=self._crc.get(key, 0)) + TERMINATOR)

    def close(self) -> None:
        """End the stream (gzip member included) and close its file (stdout is flushed, not closed)."""
        close_write(self.out)


def _segment_header(meta: Metadata, *, eof: bool, crc: int) -> bytes:
    return bson.encode(
        SON([("db", meta.db), ("collection", meta.collection), ("EOF", eof), ("CRC", Int64(to_int64(crc)))])
    )


class ArchiveReader:
    """Reads an archive from a binary stream; a ``DumpSource``.

    The header and prelude are read on construction (a file that is not an archive fails there);
    ``events`` then checks every namespace's CRC at its EOF header and that no namespace is left
    without one when the stream ends.
    """

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.stream = stream
        self.name = name
        magic = self.stream.read(4)
        if magic != MAGIC:
            raise DumpFileError(
                f"{name} is not a mongodump archive (it does not start with the archive magic number)",
                hint="give a file written by mongodump --archive or analytiq-db backup --archive (or use --dir)",
            )
        header = self._document("the archive header")
        if header is None or "version" not in header:
            raise DumpFileError(f"{name} has no archive header", hint="the file is damaged; use another copy")
        self.header: dict[str, Any] = header
        self._namespaces: list[Metadata] = []
        while (prelude := self._document("the archive prelude", allow_end=True)) is not None:
            self._namespaces.append(self._prelude(prelude))

    @property
    def namespaces(self) -> Sequence[Metadata]:
        """Return the metadata of every namespace of the archive, in prelude order."""
        return tuple(self._namespaces)

    @property
    def checksum(self) -> str | None:
        """Return what checks the documents' bytes: the archive's CRC-64 of each collection."""
        return "CRC-64 of each collection's documents"

    def _prelude(self, doc: dict[str, Any]) -> Metadata:
        db, coll, text = doc.get("db"), doc.get("collection"), doc.get("metadata")
        if not isinstance(db, str) or not isinstance(coll, str):
            raise DumpFileError(f"{self.name}: a prelude entry names no namespace", hint="the file is damaged")
        if not text:  # metadata is optional in the format: a plain collection
            return Metadata(db, coll, str(doc.get("type") or "collection"), missing="no metadata in the archive")
        try:
            meta = Metadata.from_json(db, str(text), coll)
        except MetadataError as exc:
            raise DumpFileError(f"{self.name}: metadata of {db}.{coll}: {exc}", hint="the file is damaged") from exc
        return Metadata(db, coll, meta.type, meta.options, meta.indexes, meta.uuid)

    def _document(self, what: str, *, allow_end: bool = False) -> dict[str, Any] | None:
        head = read_exact(self.stream, 4, f"{self.name} ({what})")
        if head == TERMINATOR:
            if allow_end:
                return None
            raise DumpFileError(f"{self.name}: unexpected terminator in {what}", hint="the file is damaged")
        raw = self._rest(head, what)
        try:
            return dict(bson.decode(raw))
        except (bson.errors.BSONError, ValueError) as exc:
            raise DumpFileError(f"{self.name}: {what} is not valid BSON", hint="the file is damaged") from exc

    def _rest(self, head: bytes, what: str) -> bytes:
        size = int.from_bytes(head, "little", signed=True)
        if size < 5 or size > MAX_DOCUMENT:
            raise DumpFileError(
                f"{self.name} is corrupt: a document of {size} bytes in {what}", hint="the file is damaged"
            )
        raw = head + read_exact(self.stream, size - 4, f"{self.name} ({what})")
        if raw[-1] != 0:
            raise DumpFileError(f"{self.name} is corrupt: a document in {what} is not terminated", hint="damaged")
        return raw

    def events(self, batch_docs: int) -> Iterator[Event]:
        """Yield each segment's documents in batches, and an ``End`` per namespace once its CRC checks."""
        known = {(m.db, m.collection) for m in self._namespaces}
        crcs: dict[Key, int] = {}
        counts: dict[Key, tuple[int, int]] = {}
        ended: set[Key] = set()
        while True:
            head = self.stream.read(4)
            if not head:
                break
            if len(head) < 4:
                raise DumpFileError(f"{self.name} is truncated", hint="the file is incomplete; use a complete copy")
            seg = self._document_from(head, "a segment header")
            key = (str(seg.get("db")), str(seg.get("collection")))
            if key not in known or key in ended:
                raise DumpFileError(
                    f"{self.name} is corrupt: a segment of {key[0]}.{key[1]}, which the prelude "
                    + ("already ended" if key in ended else "does not list"),
                    hint="the file is damaged",
                )
            if seg.get("EOF"):
                ended.add(key)
                self._check_crc(key, seg.get("CRC"), crcs.get(key, 0))
                count, nbytes = counts.get(key, (0, 0))
                yield End(key[0], key[1], count, nbytes)
                if read_exact(self.stream, 4, f"{self.name} (after an EOF header)") != TERMINATOR:
                    raise DumpFileError(f"{self.name} is corrupt after the end of {key[0]}.{key[1]}", hint="damaged")
                continue
            for docs in self._segment_docs(batch_docs):
                crcs[key] = crc64(b"".join(docs), crcs.get(key, 0))
                count, nbytes = counts.get(key, (0, 0))
                counts[key] = (count + len(docs), nbytes + sum(map(len, docs)))
                yield Batch(key[0], key[1], docs)
        missing = sorted(f"{db}.{coll}" for db, coll in known - ended)
        if missing:
            raise DumpFileError(
                f"{self.name} is truncated: no end for {first_few(missing, 3, ', ')}",
                hint="the file is incomplete (an interrupted dump?); use a complete copy",
            )

    def _document_from(self, head: bytes, what: str) -> dict[str, Any]:
        if head == TERMINATOR:
            raise DumpFileError(f"{self.name}: unexpected terminator in {what}", hint="the file is damaged")
        try:
            return dict(bson.decode(self._rest(head, what)))
        except (bson.errors.BSONError, ValueError) as exc:
            raise DumpFileError(f"{self.name}: {what} is not valid BSON", hint="the file is damaged") from exc

    def _segment_docs(self, batch_docs: int) -> Iterator[list[bytes]]:
        docs: list[bytes] = []
        while True:
            head = read_exact(self.stream, 4, f"{self.name} (a segment)")
            if head == TERMINATOR:
                break
            docs.append(self._rest(head, "a segment"))
            if len(docs) >= batch_docs:
                yield docs
                docs = []
        if docs:
            yield docs

    def _check_crc(self, key: Key, stored: Any, computed: int) -> None:
        if not isinstance(stored, int):
            raise DumpFileError(f"{self.name}: the end of {key[0]}.{key[1]} has no CRC", hint="the file is damaged")
        if from_int64(int(stored)) != computed:
            raise DumpFileError(
                f"{self.name} is corrupt: {key[0]}.{key[1]} fails its CRC-64 check "
                f"(stored {from_int64(int(stored)):016x}, computed {computed:016x})",
                hint="the file is damaged; use another copy",
            )

    def close(self) -> None:
        """Close the stream (not stdin)."""
        close_quietly(self.stream)
