"""mongodump's files as a backup destination: the ``Destination`` a dump hands its batches to.

The metadata (options, indexes, views) is written up front by the sink's ``begin`` (an archive's
prelude, a directory's ``.metadata.json`` files), so creating a collection and building its
indexes write nothing here; batches go to the sink (``ArchiveWriter`` or ``DirWriter``) in a worker
thread, and ``finish`` closes the namespace (an archive's EOF header with its CRC-64). The sink is
not thread-safe: one writer at a time (the dump's single writer task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

from bson.raw_bson import RawBSONDocument

from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.stream import DumpSink
from analytiq_data.backup.plan import Intent


class FileDestination:
    """A dump being written (archive or directory); a ``backup.destination.Destination``."""

    def __init__(self, sink: DumpSink, metas: Mapping[str, Metadata]) -> None:
        self.sink = sink
        self.metas = metas

    async def create_collection(self, intent: Intent) -> list[str]:
        """Nothing to do: the namespace's metadata was written with the dump's header."""
        return []

    async def write_batch(self, intent: Intent, docs: list[RawBSONDocument]) -> None:
        """Append the batch's raw bytes to the namespace (one archive segment, or its ``.bson`` file)."""
        raw = cast(list[bytes], [d.raw for d in docs])
        await asyncio.to_thread(self.sink.write, self.metas[intent.name], raw)

    async def create_indexes(self, intent: Intent, specs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Nothing to do: the indexes are in the namespace's metadata."""
        return []

    async def finish(self, intent: Intent) -> list[str]:
        """Close the namespace: an archive writes its EOF header and CRC, a directory closes its file."""
        await asyncio.to_thread(self.sink.end, self.metas[intent.name])
        return []
