"""One collection from start to finish, while others run beside it: data, indexes, check, options.

For each collection: copy its ranges (each holding a slot; ranges finished by an interrupted run
are skipped), build its indexes right away, read it back and compare it with what was read from
the source, then build its TTL indexes and apply its validator (so nothing is rejected or expires
between the read and the check), then compare indexes and options. Views are created last, each
after the view it reads.

Slots (ranges being copied, index builds, read-backs) follow the write pacer: one more than the
inserts it allows in flight, at most ``--parallel``. A destination that takes one insert at a time
gets two ranges at once, the second one's cursor opening on the source while the first is written;
one that takes eight gets up to nine. The source is never asked for more scans than the copy can use.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from analytiq_data.backup.batches import Turnstile
from analytiq_data.backup.compare import check_definition, compare_digests, digest_collection
from analytiq_data.backup.copy import Flow, bounded, copy_range, gather_all, raw_collection
from analytiq_data.backup.ddl import is_ttl
from analytiq_data.backup.destination import ServerDestination
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.pacing import ConcurrencyReport, Gate
from analytiq_data.backup.plan import IdRange, Intent, Kind
from analytiq_data.backup.reconcile import SeenIds
from analytiq_data.backup.results import CollectionReport
from analytiq_data.backup.state import BackupState
from analytiq_data.progress import Outcome, Progress, TaskKind
from analytiq_data.text import plural

T = TypeVar("T")


@dataclass
class Pipeline:
    """Runs collection intents concurrently: heavy steps at most one more than the inserts allowed in flight."""

    src: Side
    dst: Side
    options: BackupOptions
    progress: Progress
    state: BackupState
    done_ranges: Mapping[tuple[str, int], Digest] = field(default_factory=dict)
    resumed: bool = False  # an earlier run may have written (and may still write) the unfinished ranges
    slots: Gate = field(init=False)
    flow: Flow = field(init=False)
    begun: set[str] = field(init=False, default_factory=set)
    dst_gate: Turnstile = field(init=False, default_factory=Turnstile)
    dest: ServerDestination = field(init=False)

    def __post_init__(self) -> None:
        self.dest = ServerDestination(self.dst)
        parallel = self.options.parallel
        self.flow = Flow(parallel)
        pacer = self.flow.pacer
        self.slots = Gate(lambda: min(parallel, pacer.limit + 1))
        pacer.follow(self.slots)

    def concurrency(self) -> ConcurrencyReport:
        """Return the levels of inserts in flight the run used."""
        return self.flow.pacer.report()

    async def _slot(self, work: Callable[[], Awaitable[T]]) -> T:
        result: T = await bounded(self.slots, work)
        return result

    def pending(self, intent: Intent) -> list[IdRange]:
        """Return the ranges of ``intent`` an earlier run did not finish."""
        return [r for r in intent.ranges if (intent.name, r.index) not in self.done_ranges]

    async def run(self, intent: Intent) -> CollectionReport:
        """Copy, index, check and finish one collection; return its report."""
        started = time.monotonic()
        name = intent.name
        finished = [d for r in intent.ranges if (d := self.done_ranges.get((name, r.index))) is not None]
        source, resumed = sum(finished, Digest()), len(finished)
        pending = self.pending(intent)
        if not pending:
            self._begin(intent, source)
        parts = await gather_all(self._copy(intent, rng, source) for rng in pending)
        for part in parts:
            source += part
        self.progress.finish(name, plural(source.count, "document"))
        differences, destination = await self._finish(intent, source)
        verified = (not differences) if self.options.verify else (False if differences else None)
        report = CollectionReport(
            name=name,
            kind=intent.kind.value,
            documents=source.count,
            nbytes=source.nbytes,
            seconds=time.monotonic() - started,
            ranges=len(intent.ranges),
            resumed_ranges=resumed,
            indexes=len(intent.indexes),
            source=source,
            destination=destination,
            verified=verified,
            differences=tuple(differences),
        )
        async with self.dst.errors(f"recording progress of {name!r}"):
            if verified is False:  # a collection that differs is copied again by the next --resume
                await self.state.redo([name])
            else:
                await self.state.collection_done(report)
        return report

    def _begin(self, intent: Intent, resumed: Digest) -> None:
        """Report a collection as started (once: when its first range gets a slot)."""
        if intent.name in self.begun:
            return
        self.begun.add(intent.name)
        self.progress.start(intent.name, total=intent.count, unit="docs", kind=TaskKind.COPY)
        if resumed.count:
            self.progress.advance(intent.name, resumed.count, resumed.nbytes)

    async def _copy(self, intent: Intent, rng: IdRange, resumed: Digest) -> Digest:
        def advance(docs: int, nbytes: int) -> None:
            self.progress.advance(intent.name, docs, nbytes)

        # A resumed range is reconciled in place (see ``reconcile``), bar time-series (cleared beforehand).
        seen = SeenIds() if self.resumed and intent.kind is not Kind.TIMESERIES else None

        async def work() -> Digest:
            self._begin(intent, resumed)
            digest = await copy_range(
                self.src,
                self.dst,
                intent,
                rng,
                batch_size=self.options.batch_size,
                advance=advance,
                flow=self.flow,
                destination=self.dest,
                seen=seen,
            )
            if seen is not None:
                await self.dest.remove_unread(intent, rng, seen, self.options.batch_size)
            return digest

        digest = await self._slot(work)
        async with self.dst.errors(f"recording progress of {intent.name!r}"):
            await self.state.range_done(intent.name, rng.index, digest)
        return digest

    async def _finish(self, intent: Intent, source: Digest) -> tuple[list[str], Digest | None]:
        """Build indexes, check the documents, then TTL indexes and deferred options; return differences."""
        verify = self.options.verify
        ttl = [s for s in intent.indexes if is_ttl(s)] if verify else []
        regular = [s for s in intent.indexes if s not in ttl]
        differences = await self._build_indexes(intent, regular)
        destination = None
        if verify:
            destination = await self._slot(lambda: self._read_back(intent, source))
            differences += compare_digests(source, destination)
        differences += await self._build_indexes(intent, ttl)
        differences += await self._apply_deferred(intent)
        if verify:
            differences += await check_definition(self.src, self.dst, intent.name, indexes=True, dest=intent.dest)
        return differences, destination

    async def _read_back(self, intent: Intent, source: Digest) -> Digest:
        task = f"{intent.name} (verify)"
        self.progress.start(task, total=source.count, unit="docs", kind=TaskKind.VERIFY, label=intent.name)
        async with self.dst.errors(f"reading back {intent.name!r}"):
            digest = await digest_collection(
                raw_collection(self.dst, intent.dest),
                batch_size=self.options.batch_size,
                gate=self.dst_gate,
                priority=source.count,
            )
        self.progress.advance(task, digest.count, digest.nbytes)
        matches = digest.matches(source)
        said = f"{digest.count:,} documents, {'matches' if matches else 'DIFFERS'}"
        self.progress.finish(task, said, outcome=Outcome.OK if matches else Outcome.DIFFERS)
        return digest

    async def _build_indexes(self, intent: Intent, specs: list[Mapping[str, Any]]) -> list[str]:
        """Build ``specs`` (holding a slot); a server refusing one is a difference, not a crash."""
        if not specs:
            return []
        return await self._slot(lambda: self.dest.create_indexes(intent, specs))

    async def _apply_deferred(self, intent: Intent) -> list[str]:
        """Apply the validator and TTL options held back at creation (``collMod``)."""
        return await self.dest.finish(intent)


async def create_view(src: Side, dst: Side, intent: Intent, *, exists: bool, verify: bool) -> CollectionReport:
    """Create a view on the destination (unless an interrupted run did) and compare its definition."""
    started = time.monotonic()
    differences: list[str] = []
    if not exists:
        differences += await ServerDestination(dst).create_collection(intent)
    if verify and not differences:
        differences += await check_definition(src, dst, intent.name, indexes=False)
    return CollectionReport(
        name=intent.name,
        kind=intent.kind.value,
        seconds=time.monotonic() - started,
        ranges=0,
        verified=(not differences) if verify else (False if differences else None),
        differences=tuple(differences),
        note=f"view on {intent.view_on}",
    )
