"""Backups as files, in mongodump's formats: an archive (``--archive``) or a directory (``--out``).

    from analytiq_data.backup.files import DumpOptions, dump

    result = await dump(DumpOptions(src_uri=..., src_db="prod", archive="prod.archive", gzip=True))
    result.verified  # True: the file was read back and matches what was read from the server

Restoring such files (ours or mongodump's) is ``analytiq_data.safety.restore_files``. Rooms:
``crc64`` (the archive's checksum), ``metadata`` (``.metadata.json`` and file names), ``stream``
(events, sink interface, file opening), ``archive`` and ``dumpdir`` (the two formats, each a
writer and a reader), ``destination`` (a sink as the backup's ``Destination``), ``source`` (open
either for reading), ``server`` (the source's catalog as metadata), ``dump`` (the dump engine: the
copy's reader, this destination), ``load`` (loading a dump into a database, in one pass).
"""

from analytiq_data.backup.files.dump import dump
from analytiq_data.backup.files.options import DumpOptions
from analytiq_data.backup.files.source import open_source
from analytiq_data.backup.files.stream import DumpFileError

__all__ = ["DumpFileError", "DumpOptions", "dump", "open_source"]
