"""``SHA256SUMS``: the checksum file of a dump directory this tool writes, which mongorestore ignores.

mongodump's directory format carries no checksum (an archive has a CRC-64 per collection): a
flipped byte inside a document value reads back as a valid document, and only the counts can be
checked. So a directory written by ``backup --out`` also gets ``DIR/<db>/SHA256SUMS``, in the format
of coreutils' ``sha256sum`` (``<64 hex digits>  <file name>`` per line, sorted by name): the SHA-256
of every file of the database's directory as it lies on disk (gzipped or not) — documents,
metadata and ``prelude.json``. mongorestore skips a file it does not know ("don't know what to do
with file …, skipping"), so the dump stays a mongodump dump; ``cd DIR/<db> && sha256sum -c
SHA256SUMS`` checks it without this tool; ``restore --dir`` checks every file against it while
reading, and refuses a listed file that is missing or an unlisted dump file.

The hashes are taken on the bytes' way to and from the disk (``HashingWriter``/``HashingReader``,
under the buffering and gzip layers), so no file is read twice.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

SUMS_FILE = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def new_digest() -> Any:
    """Return a fresh SHA-256 digest (``hashlib``'s; typed loosely as its class is private)."""
    return hashlib.sha256()


class HashingWriter(io.RawIOBase):
    """A file opened for writing whose bytes are hashed as they go to the disk."""

    def __init__(self, path: str | Path, digest: Any) -> None:
        super().__init__()
        self.file: BinaryIO = open(path, "wb", buffering=0)  # closed by close()
        self.digest = digest
        self.name = str(path)

    def writable(self) -> bool:
        """Return True: this file is written."""
        return True

    def write(self, data: ReadableBuffer) -> int:
        """Write ``data`` to the file and add what was written to the digest."""
        view = memoryview(data).cast("B")
        written = self.file.write(view)
        self.digest.update(view[: written or 0])
        return written or 0

    def close(self) -> None:
        """Close the file."""
        if not self.closed:
            self.file.close()
        super().close()


class HashingReader(io.RawIOBase):
    """A file opened for reading whose bytes are hashed as they come from the disk."""

    def __init__(self, path: str | Path, digest: Any) -> None:
        super().__init__()
        self.file: BinaryIO = open(path, "rb", buffering=0)  # closed by close()
        self.digest = digest
        self.name = str(path)

    def readable(self) -> bool:
        """Return True: this file is read."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read into ``buffer`` from the file and add what was read to the digest."""
        view = memoryview(buffer).cast("B")
        count = self.file.readinto(view) or 0  # type: ignore[attr-defined]
        self.digest.update(view[:count])
        return int(count)

    def close(self) -> None:
        """Close the file."""
        if not self.closed:
            self.file.close()
        super().close()


def sums_text(sums: Mapping[str, str]) -> str:
    """Return ``SHA256SUMS`` text for file name → hex digest, in ``sha256sum``'s format, sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def parse_sums(text: str) -> dict[str, str] | None:
    """Return file name → hex digest from ``SHA256SUMS`` text (either of ``sha256sum``'s modes), or None
    if a line is not of that format."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None or "/" in match.group(2):
            return None
        out[match.group(2)] = match.group(1)
    return out
