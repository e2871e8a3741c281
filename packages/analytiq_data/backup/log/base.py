"""Bases of an event log: take one with the consistent dump machinery, or adopt a consistent dump already in DIR."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import bson

from analytiq_data.backup.consistent.dumpfile import CATCHUP_COLLECTION, HEADER_ID
from analytiq_data.backup.files.crc64 import crc64
from analytiq_data.backup.files.dump import dump
from analytiq_data.backup.files.options import DumpOptions
from analytiq_data.backup.files.source import open_source
from analytiq_data.backup.files.stream import Batch
from analytiq_data.backup.log.catalog import BASES, Catalog, now_text
from analytiq_data.backup.log.format import ts_doc
from analytiq_data.backup.log.segment import LogDamaged, fsync_path
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import Progress


def _file_facts(path: Path) -> tuple[int, str]:
    crc, size = 0, 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 22):
            crc = crc64(chunk, crc)
            size += len(chunk)
    return size, f"{crc:016x}"


async def take_base(
    catalog: Catalog, src_uri: str, src_db: str, *, gzip: bool, timeout_s: float, progress: Progress
) -> dict[str, Any]:
    """Dump the source consistently into ``DIR/bases`` (published only when complete), record it, return its entry."""
    folder = catalog.folder / BASES
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".archive.gz" if gzip else ".archive"
    pending = folder / f"base-new{suffix}"
    progress.note(f"taking a base: a consistent dump of {src_db} into {folder}")
    options = DumpOptions(
        src_uri=src_uri, src_db=src_db, archive=str(pending), gzip=gzip, drop=True, consistent=True, timeout_s=timeout_s
    )
    result = await dump(options, progress)
    point = result.point_in_time
    assert point is not None
    final = folder / f"base-{point.at.time}-{point.at.inc}{suffix}"
    await asyncio.to_thread(_publish, pending, final)
    size, crc = await asyncio.to_thread(_file_facts, final)
    entry = {
        "file": f"{BASES}/{final.name}",
        "at": ts_doc(point.at),
        "start": ts_doc(point.start),
        "events": point.events,
        "documents": sum(c.documents or 0 for c in result.collections),
        "bytes": size,
        "crc64": crc,
        "gzip": gzip,
        "created": now_text(),
    }
    await asyncio.to_thread(catalog.add_base, entry)
    return entry


def _publish(pending: Path, final: Path) -> None:
    """Give a complete dump its final name, durably: fsync it, rename it, fsync the directory."""
    fsync_path(pending)
    os.replace(pending, final)
    fsync_path(final.parent)


def _catchup_header(path: Path) -> dict[str, Any] | None:
    source = open_source(archive=str(path))
    try:
        last: bytes | None = None
        for event in source.events(1000):
            if isinstance(event, Batch) and event.collection == CATCHUP_COLLECTION and event.docs:
                last = event.docs[-1]
        return None if last is None else dict(bson.decode(last))
    finally:
        source.close()


async def adopt_base(catalog: Catalog, file: str) -> dict[str, Any]:
    """Record a consistent archive already inside DIR as a base; ConfigurationError if it is not one."""
    path = Path(file)
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        relative = path.resolve().relative_to(catalog.folder.resolve())
    except ValueError:
        raise ConfigurationError(
            f"{file} is not inside the log directory {catalog.folder}", hint=f"move it into {catalog.folder} first"
        ) from None
    header = await asyncio.to_thread(_catchup_header, path)
    if header is None or header.get("_id") != HEADER_ID:
        raise ConfigurationError(
            f"{file} is not a consistent dump (no {CATCHUP_COLLECTION} section closed by its T)",
            hint="make one with analytiq-db backup --consistent --archive FILE, or let follow take the base",
        )
    size, crc = await asyncio.to_thread(_file_facts, path)
    entry = {
        "file": str(relative),
        "at": ts_doc(header["at"]),
        "start": ts_doc(header["start"]),
        "events": int(header.get("events", 0)),
        "bytes": size,
        "crc64": crc,
        "gzip": path.name.endswith(".gz"),
        "created": now_text(),
        "adopted": True,
    }
    await asyncio.to_thread(catalog.add_base, entry)
    return entry


def check_base(catalog: Catalog, entry: dict[str, Any]) -> Path:
    """Return the base's path after checking its size and CRC-64 against the catalog; LogDamaged if they differ."""
    path = catalog.folder / str(entry["file"])
    if not path.exists():
        raise LogDamaged(f"base {path} is missing", hint="restore from another range (analytiq-db log ranges)")
    size, crc = _file_facts(path)
    if size != int(entry["bytes"]) or crc != entry["crc64"]:
        raise LogDamaged(
            f"base {path} is damaged (size or CRC-64 differs from the catalog)",
            hint="restore from another range (analytiq-db log ranges)",
        )
    return path
