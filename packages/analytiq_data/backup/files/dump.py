"""``dump``: write a database to mongodump's archive or directory format, then read it back and check it.

One source reader per collection (at most ``parallel`` at once, largest first; a capped collection
in ``$natural`` order) puts raw batches on one bounded queue; one writer hands them to the sink
(``ArchiveWriter`` or ``DirWriter``) in a worker thread, so compression and disk writes overlap the
reads. Memory stays bounded by ``batch_size`` times the queue length. The source side of the check
is hashed as it is read (``Digest``); after writing, the files are read back (the archive's CRCs
checked on the way) and compared namespace by namespace: counts, content hashes and metadata.

Files appear under their final name only when complete: an archive is written to ``FILE.partial``
and a directory to ``DIR/.<db>.partial``, renamed at the end and removed on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bson.raw_bson import RawBSONDocument

from analytiq_data.backup.busy import Busy, busy_error, busy_marker, watched
from analytiq_data.backup.consistent.dumpfile import (
    CATCHUP_COLLECTION,
    DumpCatchUp,
    catchup_metadata,
    catchup_report,
)
from analytiq_data.backup.copy import gather_all
from analytiq_data.backup.destination import Destination
from analytiq_data.backup.digest import Digest, digest_batch
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.archive import ArchiveReader, ArchiveWriter
from analytiq_data.backup.files.checksums import SUMS_FILE
from analytiq_data.backup.files.destination import FileDestination
from analytiq_data.backup.files.dumpdir import DirReader, DirWriter
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.options import DumpOptions
from analytiq_data.backup.files.server import dump_catalog, open_server
from analytiq_data.backup.files.stream import (
    Batch,
    DumpFileError,
    DumpSink,
    DumpSource,
    open_read,
    open_write,
    writing,
)
from analytiq_data.backup.plan import Intent, Kind, Plan
from analytiq_data.backup.reader import read_batches
from analytiq_data.backup.results import BackupResult, CollectionReport, CopyMismatch
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.text import plural

PARTIAL = ".partial"
#: Batches read and not yet written, per ``--parallel`` slot.
QUEUE_PER_SLOT = 2

Item = tuple[Intent, list[RawBSONDocument] | None]


@dataclass(frozen=True)
class _Target:
    """Where the dump is written while running (``work``) and where it ends up (``final``).

    ``created`` is the outermost directory this run created to hold them (None if all existed):
    a dump that fails or is refused removes it again when it is empty, leaving nothing behind.
    """

    work: Path | None
    final: Path | None
    created: Path | None = None


async def dump(
    options: DumpOptions, progress: Progress = NULL_PROGRESS, *, stdout: BinaryIO | None = None
) -> BackupResult:
    """Write the source database to files, read them back and check them; return what was written.

    ``stdout`` is the binary stream an archive to ``-`` goes to (default: ``sys.stdout.buffer``).

    Raises ConfigurationError (no such database, existing destination without ``drop``,
    time-series collections), DatabaseConnectionError, FileIOError (a file write failed: disk
    full, I/O error; the partial files are removed) or CopyMismatch (the files read back differ
    from what was read from the server).
    """
    started = time.monotonic()
    target = _prepare(options)
    notes: list[str] = []
    try:
        async with open_server(options.src_uri, options.src_db, options.timeout_s) as (side, server_version):
            written = await _write_files(side, server_version, options, target, progress, stdout)
        reports = await _checked(options, target, written, progress, notes)
        if all(r.verified is not False for r in reports):
            with writing(options.destination):
                _publish(target)  # a dump that does not read back never appears under its name
        else:
            _discard(target)
    except BaseException:
        _discard(target)
        raise
    result = BackupResult.of(
        reports,
        mode="archive" if options.archive is not None else "directory",
        src_db=options.src_db,
        dest_db=options.src_db,
        source=side.where,
        destination=options.destination,
        seconds=time.monotonic() - started,
        notes=tuple(notes),
        point_in_time=written.tail.point if written.tail is not None else None,
    )
    if result.verified is False:
        raise CopyMismatch(result)
    return result


@dataclass(frozen=True)
class _Written:
    """What a dump wrote: the collections planned, their metadata and digests, the catch-up (``--consistent``)."""

    plan: Plan
    metas: dict[str, Metadata]
    digests: dict[str, Digest]
    tail: DumpCatchUp | None


async def _write_files(
    side: Side,
    server_version: str,
    options: DumpOptions,
    target: _Target,
    progress: Progress,
    stdout: BinaryIO | None,
) -> _Written:
    """Write the source's collections (and, with ``--consistent``, the change events after them) into the
    sink; refuse a source another tool is changing, before and after."""
    await _refuse_busy(side, during=False)
    tail = await DumpCatchUp.begin(side) if options.consistent else None  # before anything is read
    plan, metas = await dump_catalog(side, options.plan_options())
    progress.note(f"Found {len(plan.intents)} collections to dump to {options.destination}")
    sink = _open_sink(options, target, stdout)
    try:
        names = [metas[i.name] for i in plan.intents]
        if tail is not None:
            metas[CATCHUP_COLLECTION] = catchup_metadata(options.src_db)
            names.append(metas[CATCHUP_COLLECTION])
        with writing(options.destination):
            await asyncio.to_thread(sink.begin, names, server_version)

        async def stopped(busy: Busy) -> BaseException:
            return busy_error(busy, side.db.name, side.where, during=True)

        destination = FileDestination(sink, metas)
        digests = await watched(_write(side, options, plan, destination, progress, tail), side.db, stopped)
    finally:
        with writing(options.destination):
            await asyncio.to_thread(sink.close)
    await _refuse_busy(side, during=True)  # a migration that started and ended between two looks
    return _Written(plan, metas, digests, tail)


async def _checked(
    options: DumpOptions, target: _Target, written: _Written, progress: Progress, notes: list[str]
) -> list[CollectionReport]:
    """Return a report per collection written, compared with the files read back (``verify``); add to
    ``notes`` what was not read back and what the files hold beside mongodump's."""
    plan, metas, digests = written.plan, written.metas, written.digests
    reports = [_report(i, metas[i.name], digests.get(i.name)) for i in plan.intents]
    if written.tail is not None:
        reports.append(catchup_report(digests.get(CATCHUP_COLLECTION) or Digest()))
    if options.verify and target.work is not None:
        progress.note(f"Reading {options.destination} back to verify it")
        reports = await asyncio.to_thread(_read_back, options, target.work, metas, reports)
    elif options.verify:
        notes.append("written to standard output: not read back (read the file with restore to check it)")
    if options.out is not None:
        notes.append(f"{SUMS_FILE} holds the SHA-256 of every file: restore checks it, mongorestore skips it")
    return reports


async def _refuse_busy(side: Side, *, during: bool) -> None:
    """Raise LockError if another tool is changing the source (a live busy marker such as the migration lock)."""
    async with side.errors("reading the busy markers"):
        busy = await busy_marker(side.db)
    if busy is not None:
        raise busy_error(busy, side.db.name, side.where, during=during)


def _prepare(options: DumpOptions) -> _Target:
    """Refuse an existing destination unless ``drop``; return the working and final paths."""
    if options.to_stdout:
        return _Target(None, None)
    final = Path(options.archive) if options.archive is not None else Path(str(options.out)) / options.src_db
    exists = final.exists() and (final.is_file() or any(final.iterdir()))
    if exists and not options.drop:
        raise ConfigurationError(f"{final} already exists", hint="choose another path, or pass --drop to replace it")
    work = (
        final.with_name(final.name + PARTIAL)
        if options.archive is not None
        else final.with_name(f".{final.name}{PARTIAL}")
    )
    _remove(work)
    created = _first_missing(work.parent)
    try:
        work.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create {work.parent}: {exc.strerror}", hint="check the path") from exc
    return _Target(work, final, created)


def _first_missing(path: Path) -> Path | None:
    """Return the outermost directory of ``path`` that does not exist yet (None if it exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _publish(target: _Target) -> None:
    if target.work is None or target.final is None:
        return
    _remove(target.final)
    os.replace(target.work, target.final)


def _discard(target: _Target) -> None:
    """Remove the partial dump, and the directories this run created for it if they are empty."""
    if target.work is None:
        return
    _remove(target.work)
    if target.created is None:
        return
    folder = target.work.parent
    while True:
        try:
            folder.rmdir()  # only an empty directory: files someone put there meanwhile stay
        except OSError:
            return
        if folder == target.created:
            return
        folder = folder.parent


def _open_sink(options: DumpOptions, target: _Target, stdout: BinaryIO | None) -> DumpSink:
    if options.archive is not None:
        path = "-" if target.work is None else str(target.work)
        try:
            stream = open_write(path, compress=options.gzip, stdout=stdout)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {options.archive}: {exc.strerror}", hint="check --archive") from exc
        return ArchiveWriter(stream, concurrent=options.parallel)
    assert target.work is not None
    return DirWriter(target.work.parent, target.work.name, compress=options.gzip)


async def _write(
    side: Side,
    options: DumpOptions,
    plan: Plan,
    dest: Destination,
    progress: Progress,
    tail: DumpCatchUp | None = None,
) -> dict[str, Digest]:
    """Read every collection (``parallel`` at once) into ``dest``, then ``tail``'s events; return the digests.

    The readers are the copy's (``reader.read_batches``); one writer task hands their batches to
    the destination, one at a time (a file sink is not thread-safe).
    """
    queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=options.parallel * QUEUE_PER_SLOT)
    slots = asyncio.Semaphore(options.parallel)
    digests: dict[str, Digest] = {}

    async def read(intent: Intent) -> None:
        async with slots:
            progress.start(intent.name, total=intent.count)
            digest = Digest()
            if intent.kind is not Kind.VIEW:
                batches = read_batches(side, intent, batch_size=options.batch_size)
                async with side.errors(f"reading {intent.name!r}"), contextlib.aclosing(batches):
                    async for docs, part in batches:
                        digest += part
                        await queue.put((intent, docs))
                        progress.advance(intent.name, part.count, part.nbytes)
            digests[intent.name] = digest
            await queue.put((intent, None))
            progress.finish(intent.name, plural(digest.count, "document"))

    async def readers() -> None:
        await gather_all(read(i) for i in plan.intents)
        if tail is not None:
            await catch_up(tail)

    async def catch_up(tail: DumpCatchUp) -> None:
        section = Intent(CATCHUP_COLLECTION, Kind.COLLECTION)

        async def put(docs: list[bytes]) -> None:
            digests[CATCHUP_COLLECTION] = digests.get(CATCHUP_COLLECTION, Digest()) + digest_batch(b"".join(docs))
            await queue.put((section, [RawBSONDocument(d) for d in docs]))

        await tail.write(put, progress)
        await queue.put((section, None))

    async def writer() -> None:
        remaining = len(plan.intents) + (tail is not None)
        while remaining:
            intent, docs = await queue.get()
            with writing(options.destination):
                if docs is None:
                    await dest.finish(intent)
                    remaining -= 1
                else:
                    await dest.write_batch(intent, docs)

    await gather_all([readers(), writer()])
    return digests


def _report(intent: Intent, meta: Metadata, digest: Digest | None) -> CollectionReport:
    indexes = sum(1 for s in meta.indexes if s.get("name") != "_id_")
    note = f"view on {intent.view_on}" if intent.view_on else None
    count = digest.count if digest else 0
    nbytes = digest.nbytes if digest else 0
    return CollectionReport(
        intent.name, intent.kind.value, count, nbytes, indexes=indexes, source=digest, note=note, ranges=1
    )


def _read_back(
    options: DumpOptions, path: Path, metas: dict[str, Metadata], reports: Sequence[CollectionReport]
) -> list[CollectionReport]:
    """Read the written files and compare each namespace with what was read from the server."""
    found, digests = read_written(options, path)
    return compare_written(options.src_db, found, digests, metas, reports)


Namespace = tuple[str, str]


def read_written(options: DumpOptions, path: Path) -> tuple[dict[Namespace, Metadata], dict[Namespace, Digest]]:
    """Read the files written at ``path`` once; return each namespace's metadata and content digest
    (every database of an archive; ``options.src_db``'s directory)."""
    source: DumpSource
    if options.archive is not None:
        source = ArchiveReader(open_read(str(path), "archive"), str(path))
    else:
        source = DirReader(path, options.src_db)
    try:
        found = {(m.db, m.collection): m for m in source.namespaces}
        digests: dict[Namespace, Digest] = {}
        for event in source.events(options.batch_size):
            if isinstance(event, Batch):
                part = digest_batch(b"".join(event.docs))
                key = (event.db, event.collection)
                digests[key] = digests.get(key, Digest()) + part
    except DumpFileError as exc:
        raise VerificationError(f"the dump written to {path} does not read back: {exc}") from exc
    finally:
        source.close()
    return found, digests


def compare_written(
    db: str,
    found: dict[Namespace, Metadata],
    digests: dict[Namespace, Digest],
    metas: dict[str, Metadata],
    reports: Sequence[CollectionReport],
) -> list[CollectionReport]:
    """Return ``reports`` of database ``db`` with what the files read back hold compared to what was read."""
    out: list[CollectionReport] = []
    for report in reports:
        differences: list[str] = []
        meta = found.get((db, report.name))
        if meta is None:
            differences.append("missing from the files")
        elif meta.to_json() != metas[report.name].to_json():
            differences.append("metadata (options or indexes) read back differs from what was written")
        written = digests.get((db, report.name), Digest())
        if report.kind != Kind.VIEW.value and report.source is not None:
            if written.count != report.source.count:
                differences.append(f"{report.source.count:,} documents read, {written.count:,} in the files")
            elif written.total != report.source.total:
                differences.append(f"document contents differ (hash {report.source.hex} vs {written.hex})")
        out.append(
            CollectionReport(
                report.name,
                report.kind,
                report.documents,
                report.nbytes,
                ranges=report.ranges,
                indexes=report.indexes,
                source=report.source,
                destination=written if report.kind != Kind.VIEW.value else None,
                verified=not differences,
                differences=tuple(differences),
                note=report.note,
            )
        )
    return out
