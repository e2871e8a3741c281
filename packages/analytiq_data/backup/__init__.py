"""Verified, resumable copies of a MongoDB database (knows nothing of migrations).

    from analytiq_data.backup import BackupOptions, backup, verify

    result = await backup(BackupOptions(src_uri=..., src_db="prod", dest_db="prod_backup"))
    result.verified  # True: counts, content hashes, indexes and options all match

Rooms: ``options`` (what to do, validated before connecting), ``identity`` (same-server
detection), ``catalog`` (every ``listCollections``/``listIndexes`` read), ``ddl`` (``create``,
``collMod``, ``createIndexes``), ``plan`` (one intent per collection), ``copy`` (readers feeding
writers), ``pipeline`` (one collection start to finish), ``compare`` (comparisons: digests,
indexes, options), ``verify`` (the ``--verify-only`` verb), ``state`` (resume), ``engine`` (the
run), ``files`` (mongodump's archive and directory formats: ``dump``).
"""

from analytiq_data.backup.digest import Digest
from analytiq_data.backup.engine import backup
from analytiq_data.backup.files import DumpFileError, DumpOptions, dump
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.results import BackupResult, CollectionReport, CopyFailed, CopyMismatch
from analytiq_data.backup.verify import verify

__all__ = [
    "BackupOptions",
    "BackupResult",
    "CollectionReport",
    "CopyFailed",
    "CopyMismatch",
    "Digest",
    "DumpFileError",
    "DumpOptions",
    "backup",
    "dump",
    "verify",
]
