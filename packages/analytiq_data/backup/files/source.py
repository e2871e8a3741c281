"""Opening a dump for reading, whatever its format: an archive file (or stdin) or a dump directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analytiq_data.backup.files.archive import ArchiveReader
from analytiq_data.backup.files.dumpdir import DirReader, database_dir
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.stream import DumpSource, close_quietly, open_read
from analytiq_data.errors import ConfigurationError


def open_source(*, archive: str | None = None, directory: str | None = None, db: str | None = None) -> DumpSource:
    """Open an archive (``-``: stdin; gzip recognised) or one database of a dump directory.

    Reads the archive's header and prelude, or the directory's metadata files, so a file that is not
    a dump fails here with one DumpFileError line.
    """
    if (archive is None) == (directory is None):
        raise ConfigurationError("give one of --archive FILE or --dir DIR", hint="e.g. --archive prod.archive")
    if archive is not None:
        stream = open_read(archive, "archive")
        try:
            return ArchiveReader(stream, "standard input" if archive == "-" else archive)
        except BaseException:
            close_quietly(stream)
            raise
    db_dir = database_dir(Path(str(directory)), db)
    return DirReader(db_dir, db or db_dir.name)


def databases(namespaces: Sequence[Metadata]) -> list[str]:
    """Return the databases a dump holds, sorted (the oplog of ``mongodump --oplog``, in no database, left out)."""
    return sorted({m.db for m in namespaces if m.db})


def choose_db(namespaces: Sequence[Metadata], wanted: str | None, where: str) -> str:
    """Return the database to restore: ``wanted``, or the dump's only one; ConfigurationError otherwise."""
    dbs = databases(namespaces)
    if wanted is not None:
        if wanted not in dbs:
            raise ConfigurationError(
                f"{where} holds no database {wanted!r} (it has: {', '.join(dbs) or 'none'})", hint="check --from-db"
            )
        return wanted
    if len(dbs) == 1:
        return dbs[0]
    if not dbs:
        raise ConfigurationError(f"{where} holds no collections", hint="check the file")
    raise ConfigurationError(f"{where} holds several databases: {', '.join(dbs)}", hint="add --from-db NAME")
