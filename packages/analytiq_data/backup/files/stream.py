"""What every dump format shares: the events a reader yields, the sink writers implement, I/O helpers.

A reader (archive or directory) yields, per namespace, ``Batch`` events of raw BSON documents and
one ``End`` when the namespace is complete and checked; a writer (``DumpSink``) takes the same
batches. Files are opened here: ``-`` is stdin/stdout, gzip is recognised by its magic bytes on
reading (``--gzip`` is accepted but not needed), and every failure becomes one ``DumpFileError``
line naming the file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from analytiq_data.backup.files.checksums import HashingReader, HashingWriter
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.errors import ConfigurationError, FileIOError

GZIP_MAGIC = b"\x1f\x8b"
#: The largest BSON document a server stores (16 MiB) plus the headroom mongodump allows.
MAX_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024
#: gzip level of written files (Go's default, as mongodump): a fair speed/size balance.
GZIP_LEVEL = 6


class DumpFileError(ConfigurationError):
    """A dump file that is missing, not of the expected format, truncated or corrupt."""


@dataclass(frozen=True)
class Batch:
    """Raw documents of one namespace, in file order."""

    db: str
    collection: str
    docs: list[bytes]

    @property
    def nbytes(self) -> int:
        """Return the bytes of the batch's documents."""
        return sum(map(len, self.docs))


@dataclass(frozen=True)
class End:
    """A namespace is complete: ``count`` documents and ``nbytes`` bytes, its checksum (if any) checked."""

    db: str
    collection: str
    count: int
    nbytes: int


Event = Batch | End


class DumpSource(Protocol):
    """A dump being read: its namespaces' metadata first, then their documents."""

    @property
    def namespaces(self) -> Sequence[Metadata]:
        """Return the metadata of every namespace of the dump."""
        ...

    def events(self, batch_docs: int) -> Iterator[Event]:
        """Yield batches of at most ``batch_docs`` documents and one ``End`` per namespace."""
        ...

    @property
    def checksum(self) -> str | None:
        """Return what checks the documents' bytes as they are read (e.g. a CRC-64 per collection), or None."""
        ...

    def close(self) -> None:
        """Release the files."""
        ...


class DumpSink(Protocol):
    """A dump being written: namespaces announced first, then batches in any interleaving."""

    def begin(self, namespaces: Sequence[Metadata], server_version: str) -> None:
        """Write what comes before the documents (header, prelude, metadata files)."""
        ...

    def write(self, meta: Metadata, docs: Sequence[bytes]) -> None:
        """Append raw documents to ``meta``'s namespace."""
        ...

    def end(self, meta: Metadata) -> None:
        """Close ``meta``'s namespace (an archive writes its EOF header and CRC)."""
        ...

    def close(self) -> None:
        """Finish and flush everything (call once, also after an error)."""
        ...


@contextlib.contextmanager
def writing(where: str) -> Iterator[None]:
    """Turn an OSError raised inside the block (disk full, quota, file-size limit, I/O error, a closed
    pipe) into one FileIOError line naming ``where`` (exit code ``IO``)."""
    try:
        yield
    except OSError as exc:
        left = (
            "what reached standard output is incomplete: discard it"
            if where == "standard output"
            else "nothing was left under that name"
        )
        raise FileIOError(
            f"writing {where} failed: {exc.strerror or exc}",
            hint=f"free space (or fix the device) and run the dump again; {left}",
        ) from exc


def damaged(name: str, exc: BaseException) -> DumpFileError:
    """Return the one line for a file whose bytes cannot be read back: cut short, a bad gzip CRC,
    corrupt compressed data, or a read error of the device."""
    if isinstance(exc, EOFError):
        reason = "its gzip data ends before the end of the stream (the file is cut short)"
    elif isinstance(exc, gzip.BadGzipFile):
        reason = f"its gzip data is damaged ({exc})"
    elif isinstance(exc, zlib.error):
        reason = f"its compressed data is damaged ({str(exc).removeprefix('Error -3 while decompressing data: ')})"
    else:
        reason = f"it cannot be read ({getattr(exc, 'strerror', None) or exc})"
    return DumpFileError(f"{name} is corrupt: {reason}", hint="the file is damaged or incomplete; use another copy")


class CheckedGzip(gzip.GzipFile):
    """A gzip stream being read whose damage is one DumpFileError naming the file, never a raw
    ``EOFError``, ``BadGzipFile`` or ``zlib.error`` (which the command line would call an internal error)."""

    def __init__(self, fileobj: BinaryIO, name: str) -> None:
        super().__init__(fileobj=fileobj, mode="rb")
        self.display_name = name

    def read(self, size: int | None = -1) -> bytes:
        """Return up to ``size`` decompressed bytes (DumpFileError if the file is damaged)."""
        try:
            return super().read(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise damaged(self.display_name, exc) from exc

    def read1(self, size: int = -1) -> bytes:
        """Return up to ``size`` decompressed bytes with at most one read (DumpFileError if damaged)."""
        try:
            return super().read1(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise damaged(self.display_name, exc) from exc

    def peek(self, n: int) -> bytes:
        """Return buffered decompressed bytes without consuming them (DumpFileError if damaged)."""
        try:
            return super().peek(n)
        except (EOFError, OSError, zlib.error) as exc:
            raise damaged(self.display_name, exc) from exc


def open_read(path: str, what: str, *, digest: Any = None) -> BinaryIO:
    """Open ``path`` (``-`` for stdin) for reading, gunzipping it if it is gzip; raise DumpFileError if missing.

    Reading a damaged gzip file (cut short, a bad CRC, corrupt data) raises DumpFileError naming it.
    With ``digest`` (``checksums.new_digest()``), every byte read from the file is added to it.
    """
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(path, "rb") if digest is None else HashingReader(path, digest)  # type: ignore[assignment]
        except OSError as exc:
            raise DumpFileError(f"cannot open {what} {path}: {exc.strerror}", hint="check the path") from exc
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return CheckedGzip(buffered, "standard input" if path == "-" else path)  # type: ignore[return-value]
    return buffered


def open_write(
    path: str | Path, *, compress: bool, stdout: BinaryIO | None = None, digest: Any = None
) -> BinaryIO:
    """Open ``path`` for writing, through gzip when ``compress``; ``-`` is ``stdout`` (default: sys.stdout).

    With ``digest`` (``checksums.new_digest()``), every byte written to the file is added to it.
    """
    if str(path) == "-":
        raw: BinaryIO = stdout or sys.stdout.buffer
    elif digest is not None:
        raw = io.BufferedWriter(HashingWriter(path, digest))
    else:
        raw = open(path, "wb")
    if compress:
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[return-value]
    return raw


def close_write(stream: BinaryIO) -> None:
    """Finish a stream from ``open_write``: end the gzip member, then close the file (stdout is only flushed)."""
    inner: BinaryIO = stream
    if isinstance(stream, gzip.GzipFile):
        inner = stream.fileobj
        stream.close()
    if isinstance(inner, io.BufferedWriter) and inner.name != "<stdout>":
        inner.close()
    else:
        inner.flush()


def close_quietly(stream: BinaryIO | None) -> None:
    """Close ``stream`` (and the file under a gzip stream), ignoring errors; never closes stdin/stdout."""
    if stream is None:
        return
    inner = getattr(stream, "fileobj", None)
    for s in (stream, inner):
        if s is None or s in (sys.stdin.buffer, sys.stdout.buffer):
            if s is sys.stdout.buffer:
                s.flush()
            continue
        try:
            s.close()
        except (OSError, ValueError):
            pass


def read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    """Return exactly ``size`` bytes; raise DumpFileError naming ``what`` if the file ends first."""
    try:
        data = stream.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise damaged(what, exc) from exc
    if len(data) != size:
        raise DumpFileError(f"{what} is truncated", hint="the file is incomplete; use a complete copy")
    return data
