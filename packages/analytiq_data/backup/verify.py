"""``--verify-only``: compare two existing databases namespace by namespace, without copying."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from analytiq_data.backup.batches import Turnstile
from analytiq_data.backup.catalog import collection_infos, index_specs
from analytiq_data.backup.compare import check_definition, compare_digests, digest_collection
from analytiq_data.backup.copy import gather_all, raw_collection
from analytiq_data.backup.ddl import is_id_index
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.endpoints import Endpoints, Side, open_endpoints
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.plan import Kind, kind_of
from analytiq_data.backup.results import BackupResult, CollectionReport, CopyMismatch
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import NULL_PROGRESS, Outcome, Progress, TaskKind, compatible


async def verify(options: BackupOptions, progress: Progress = NULL_PROGRESS) -> BackupResult:
    """Compare the source and destination databases: documents (count and hash), indexes, options.

    Both are read in full (the two servers at the same time). Returns the result when they
    match; raises ``CopyMismatch`` (exit code 7) carrying it when anything differs. Nothing is
    written to either side. On a live source, collections written meanwhile will differ.
    """
    started = time.monotonic()
    progress = compatible(progress)
    async with open_endpoints(options) as ends:
        src_infos = await _selected(ends.src, options)
        if not src_infos:
            raise ConfigurationError(
                f"source database {options.src_db!r} on {ends.src.where} has no collections to compare",
                hint="check --src, --src-uri and --include/--exclude",
            )
        dst_infos = await _selected(ends.dst, options)
        slots = asyncio.Semaphore(max(1, options.parallel // 2))  # collections read at once: 4 by default
        gates = (Turnstile(), Turnstile())
        names = sorted(src_infos.keys() | dst_infos.keys())
        reports = await gather_all(
            _check(ends, name, src_infos.get(name), dst_infos.get(name), options, slots, gates, progress)
            for name in names
        )
    result = BackupResult.of(
        reports,
        mode="verify-only",
        src_db=options.src_db,
        dest_db=options.dest_db,
        source=ends.src_uri,
        destination=ends.dst_uri,
        seconds=time.monotonic() - started,
    )
    if result.verified is False:
        raise CopyMismatch(result)
    return result


async def _selected(side: Side, options: BackupOptions) -> dict[str, dict[str, Any]]:
    return await collection_infos(side, keep=options.selects)


async def _check(
    ends: Endpoints,
    name: str,
    src_info: dict[str, Any] | None,
    dst_info: dict[str, Any] | None,
    options: BackupOptions,
    slots: asyncio.Semaphore,
    gates: tuple[Turnstile, Turnstile],
    progress: Progress,
) -> CollectionReport:
    """Compare one namespace present on either side."""
    started = time.monotonic()
    info = src_info or dst_info or {}
    kind = kind_of(info)
    if src_info is None or dst_info is None:
        where = "destination" if src_info is None else "source"
        return CollectionReport(name, kind.value, verified=False, differences=(f"exists only in the {where}",))
    if kind_of(dst_info) is not kind:
        diff = f"is a {kind.value} in the source but a {kind_of(dst_info).value} in the destination"
        return CollectionReport(name, kind.value, verified=False, differences=(diff,))
    if kind is Kind.VIEW:
        differences = await check_definition(ends.src, ends.dst, name, indexes=False)
        return CollectionReport(name, kind.value, ranges=0, verified=not differences, differences=tuple(differences))
    async with slots:
        progress.start(name, total=None, unit="docs", kind=TaskKind.VERIFY)
        source, destination = await gather_all(
            [_digest(ends.src, name, options, gates[0]), _digest(ends.dst, name, options, gates[1])]
        )
        differences = compare_digests(source, destination)
        differences += await check_definition(ends.src, ends.dst, name, indexes=True)
        indexes = [s for s in await index_specs(ends.src, name) if not is_id_index(s)]
        progress.advance(name, destination.count, destination.nbytes)
        progress.finish(
            name,
            f"{destination.count:,} documents, {'matches' if not differences else 'DIFFERS'}",
            outcome=Outcome.DIFFERS if differences else Outcome.OK,
        )
    return CollectionReport(
        name=name,
        kind=kind.value,
        documents=source.count,
        nbytes=source.nbytes,
        seconds=time.monotonic() - started,
        indexes=len(indexes),
        source=source,
        destination=destination,
        verified=not differences,
        differences=tuple(differences),
    )


async def _digest(side: Side, name: str, options: BackupOptions, gate: Turnstile) -> Digest:
    async with side.errors(f"reading {name!r}"):
        coll = raw_collection(side, name)
        size = await coll.estimated_document_count()
        return await digest_collection(coll, batch_size=options.batch_size, gate=gate, priority=size)
