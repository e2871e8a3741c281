"""mongodump's directory layout (``--out DIR``): ``DIR/<db>/<collection>.bson`` and ``.metadata.json``.

Each collection's documents are back to back in ``<name>.bson`` (nothing between them), its
metadata in ``<name>.metadata.json`` (see ``metadata``); a view has only the metadata. With
``--gzip`` every file is gzipped and named ``….gz``. ``DIR/<db>/prelude.json`` names the server and
tool versions. File names are escaped (``metadata.escape_name``); the namespace is taken from the
metadata's ``collectionName``, as mongorestore does.

This tool also writes ``DIR/<db>/SHA256SUMS`` (``checksums``), the SHA-256 of every file, which
mongorestore skips; reading a directory that has one checks every file against it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote_plus

from analytiq_data.backup.files.checksums import SUMS_FILE, new_digest, parse_sums, sums_text
from analytiq_data.backup.files.metadata import Metadata, MetadataError, escape_name, prelude_json
from analytiq_data.backup.files.stream import (
    MAX_DOCUMENT,
    Batch,
    DumpFileError,
    End,
    Event,
    close_quietly,
    close_write,
    open_read,
    open_write,
    read_exact,
)
from analytiq_data.errors import ConfigurationError

BSON = ".bson"
METADATA = ".metadata.json"


class DirWriter:
    """Writes ``root/<db>/`` as mongodump does; a ``DumpSink``. One open file per namespace being written."""

    def __init__(self, root: Path, db: str, *, compress: bool) -> None:
        self.dir = root / db
        self.compress = compress
        self.suffix = ".gz" if compress else ""
        self._open: dict[tuple[str, str], BinaryIO] = {}
        self._digests: dict[str, Any] = {}  # file name → SHA-256 of its bytes as written

    def _open_file(self, path: Path) -> BinaryIO:
        digest = self._digests[path.name] = new_digest()
        return open_write(path, compress=self.compress, digest=digest)

    def path(self, meta: Metadata, ext: str) -> Path:
        """Return the file of ``meta`` with extension ``ext`` (``.bson`` or ``.metadata.json``)."""
        return self.dir / f"{escape_name(meta.collection)}{ext}{self.suffix}"

    def begin(self, namespaces: Sequence[Metadata], server_version: str) -> None:
        """Create the database directory, ``prelude.json`` and every namespace's metadata file."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot create {self.dir}: {exc.strerror}", hint="check --out") from exc
        self._text(self.dir / f"prelude.json{self.suffix}", prelude_json(server_version, "analytiq-db"))
        for meta in namespaces:
            self._text(self.path(meta, METADATA), meta.to_json())

    def _text(self, path: Path, text: str) -> None:
        out = self._open_file(path)
        try:
            out.write(text.encode())
        finally:
            close_write(out)

    def write(self, meta: Metadata, docs: Sequence[bytes]) -> None:
        """Append ``docs`` to the namespace's ``.bson`` file (opened on first use)."""
        key = (meta.db, meta.collection)
        out = self._open.get(key)
        if out is None:
            out = self._open[key] = self._open_file(self.path(meta, BSON))
        out.write(b"".join(docs))

    def end(self, meta: Metadata) -> None:
        """Close the namespace's ``.bson`` file (an empty one for an empty collection; none for a view)."""
        out = self._open.pop((meta.db, meta.collection), None)
        if out is None:
            if meta.is_view:
                return
            out = self._open_file(self.path(meta, BSON))
        close_write(out)

    def close(self) -> None:
        """Write ``SHA256SUMS`` when every file was closed complete; else close what is still open (an error)."""
        if self._open:
            for out in self._open.values():
                close_quietly(out)
            self._open.clear()
            return
        sums = {name: digest.hexdigest() for name, digest in self._digests.items()}
        (self.dir / SUMS_FILE).write_text(sums_text(sums), encoding="utf-8")


def _stem(path: Path, ext: str) -> str | None:
    name = path.name
    for suffix in (ext, ext + ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def database_dir(root: Path, db: str | None) -> Path:
    """Return the directory holding one database's files: ``root`` itself or ``root/<db>``.

    ``root`` may be a database directory (holding ``.bson`` files) or a dump root (one directory
    per database); with several databases, ``db`` chooses. Raises ConfigurationError otherwise.
    """
    if not root.is_dir():
        raise DumpFileError(f"dump directory {root} does not exist", hint="check --dir")
    if _has_dump_files(root) and (db is None or root.name == db):
        return root
    dbs = sorted(p.name for p in root.iterdir() if p.is_dir() and _has_dump_files(p))
    if db is not None:
        if db in dbs:
            return root / db
        raise DumpFileError(
            f"dump directory {root} holds no database {db!r} (it has: {', '.join(dbs) or 'none'})",
            hint="check --from-db",
        )
    if len(dbs) == 1:
        return root / dbs[0]
    if not dbs:
        raise DumpFileError(
            f"{root} is not a mongodump directory (no .bson or .metadata.json files)", hint="check --dir"
        )
    raise ConfigurationError(f"dump directory {root} holds several databases: {', '.join(dbs)}", hint="add --from-db")


def database_names(root: Path) -> list[str]:
    """Return the databases of a dump root: its directories holding dump files, sorted (``root`` itself
    when it is one database's directory)."""
    if not root.is_dir():
        raise DumpFileError(f"dump directory {root} does not exist", hint="check --dir")
    if _has_dump_files(root):
        return [root.name]
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and _has_dump_files(p))


def _has_dump_files(path: Path) -> bool:
    return any(_stem(p, BSON) is not None or _stem(p, METADATA) is not None for p in path.iterdir())


class DirReader:
    """Reads one database of a dump directory; a ``DumpSource``.

    A ``.bson`` file must end exactly after its last document: a partial document at the end is
    reported as a truncated file.
    """

    def __init__(self, db_dir: Path, db: str) -> None:
        self.dir = db_dir
        self.db = db
        self._files: dict[str, Path] = {}
        self._sums = _read_sums(db_dir)
        metas: dict[str, Metadata] = {}
        stems: dict[str, str] = {}
        for path in sorted(db_dir.iterdir()):
            if self._sums is not None and _stem(path, ".json") == "prelude":
                _read_text(path, self._sums)  # checked, not used
            stem = _stem(path, METADATA)
            if stem is None:
                continue
            text = _read_text(path, self._sums)
            try:
                meta = (
                    Metadata.from_json(db, text, unquote_plus(stem))
                    if text.strip()  # an empty metadata file: mongorestore restores with default options
                    else Metadata(db, unquote_plus(stem), missing="an empty metadata file")
                )
            except MetadataError as exc:
                raise DumpFileError(f"{path}: {exc}", hint="the file is damaged; use another copy") from exc
            metas[meta.collection] = meta
            stems[stem] = meta.collection
        for path in sorted(db_dir.iterdir()):
            stem = _stem(path, BSON)
            if stem is None or stem == "oplog":
                continue
            name = stems.get(stem, unquote_plus(stem))
            metas.setdefault(name, Metadata(db, name, missing="no metadata file"))
            self._files[name] = path
        self._namespaces = tuple(metas.values())

    @property
    def namespaces(self) -> Sequence[Metadata]:
        """Return the metadata of every namespace found (a ``.bson`` without metadata is a plain collection)."""
        return self._namespaces

    @property
    def checksum(self) -> str | None:
        """Return what checks the files' bytes: this tool's ``SHA256SUMS``, or None (mongodump writes none)."""
        return f"SHA-256 of every file ({SUMS_FILE})" if self._sums is not None else None

    def events(self, batch_docs: int) -> Iterator[Event]:
        """Yield each collection's documents in batches, then its ``End`` (only the ``End`` for a view)."""
        for meta in self._namespaces:
            path = self._files.get(meta.collection)
            count = nbytes = 0
            if path is not None and not meta.is_view:
                digest = new_digest() if self._sums is not None else None
                stream = open_read(str(path), "dump file", digest=digest)
                try:
                    for docs in _documents(stream, str(path), batch_docs):
                        count += len(docs)
                        nbytes += sum(map(len, docs))
                        yield Batch(self.db, meta.collection, docs)
                finally:
                    close_quietly(stream)
                if self._sums is not None and digest is not None:
                    _check_sum(path, digest.hexdigest(), self._sums)
            yield End(self.db, meta.collection, count, nbytes)

    def close(self) -> None:
        """Nothing stays open between events."""


def _read_text(path: Path, sums: dict[str, str] | None) -> str:
    """Return a small file's text (gunzipped if gzip), its SHA-256 checked against ``sums`` if any."""
    digest = new_digest() if sums is not None else None
    stream = open_read(str(path), "metadata file", digest=digest)
    try:
        text = stream.read().decode()
    except UnicodeDecodeError as exc:
        raise DumpFileError(f"{path} is corrupt: {exc}", hint="the file is damaged; use another copy") from exc
    finally:
        close_quietly(stream)
    if sums is not None and digest is not None:
        _check_sum(path, digest.hexdigest(), sums)
    return text


def _is_dump_file(path: Path) -> bool:
    return any(_stem(path, ext) is not None for ext in (BSON, METADATA)) or _stem(path, ".json") == "prelude"


def _read_sums(db_dir: Path) -> dict[str, str] | None:
    """Return the directory's ``SHA256SUMS`` (None if it has none), after checking that it lists exactly
    the dump's files: a listed file missing, or a dump file not listed, is refused."""
    path = db_dir / SUMS_FILE
    if not path.is_file():
        return None
    try:
        sums = parse_sums(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DumpFileError(f"cannot read {path}: {exc}", hint="the file is damaged; use another copy") from exc
    if sums is None:
        raise DumpFileError(f"{path} is not a SHA-256 checksum list", hint="the file is damaged; use another copy")
    missing = sorted(name for name in sums if not (db_dir / name).is_file())
    if missing:
        raise DumpFileError(
            f"{db_dir / missing[0]} is missing: {SUMS_FILE} lists it", hint="use a complete copy of the dump"
        )
    extra = sorted(p.name for p in db_dir.iterdir() if _is_dump_file(p) and p.name not in sums)
    if extra:
        raise DumpFileError(
            f"{db_dir / extra[0]} is not in {SUMS_FILE} (a file added after the dump was written?)",
            hint=f"restore the dump as it was written, or remove {SUMS_FILE} to restore without checking the files",
        )
    return sums


def _check_sum(path: Path, found: str, sums: dict[str, str]) -> None:
    if sums.get(path.name) != found:
        raise DumpFileError(
            f"{path} fails its SHA-256 check ({SUMS_FILE}): its bytes changed after the dump was written",
            hint="the file is damaged; use another copy",
        )


def _documents(stream: BinaryIO, name: str, batch_docs: int) -> Iterator[list[bytes]]:
    docs: list[bytes] = []
    while True:
        try:
            head = stream.read(4)
        except (OSError, EOFError) as exc:
            raise DumpFileError(f"{name} is corrupt: {exc}", hint="the file is damaged; use another copy") from exc
        if not head:
            break
        if len(head) < 4:
            raise DumpFileError(f"{name} is truncated", hint="the file is incomplete; use a complete copy")
        size = int.from_bytes(head, "little", signed=True)
        if size < 5 or size > MAX_DOCUMENT:
            raise DumpFileError(f"{name} is corrupt: a document of {size} bytes", hint="the file is damaged")
        raw = head + read_exact(stream, size - 4, name)
        if raw[-1] != 0:
            raise DumpFileError(f"{name} is corrupt: a document is not terminated", hint="the file is damaged")
        docs.append(raw)
        if len(docs) >= batch_docs:
            yield docs
            docs = []
    if docs:
        yield docs
