"""What engines report, on the test server: counts that match what was written, steps numbered,
a sizing phase during a dry run, outcomes as values."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import run_migrations
from analytiq_data.migrations.sample import generate_sample
from analytiq_data.progress import Outcome, TaskKind
from tests.migrations_fixtures import basic


@dataclass
class Events:
    """A Progress keeping typed events: starts with their keywords, counts, outcomes."""

    starts: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def start(
        self,
        task: str,
        total: int | None = None,
        unit: str = "docs",
        *,
        kind: TaskKind = TaskKind.WORK,
        label: str | None = None,
        step: tuple[int, int] | None = None,
    ) -> None:
        self.starts[task] = {"total": total, "unit": unit, "kind": kind, "label": label, "step": step}
        self.done[task] = 0

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        self.done[task] += amount

    def finish(self, task: str, message: str | None = None, *, outcome: Outcome = Outcome.OK) -> None:
        self.outcomes[task] = outcome

    def note(self, message: str) -> None:
        return None


async def test_sample_counts_every_document_it_writes(db: AsyncDatabase[Any]) -> None:
    events = Events()
    summary = await generate_sample(db, docs=40, seed=3, progress=events)
    written = sum([await db[name].count_documents({}) for name in summary.counts])
    assert events.done["sample"] == written == sum(summary.counts.values())
    assert written > 40 * 3  # documents, OCR files and chunks, runs: far more than the 40 uploads
    assert events.starts["sample"]["total"] is None  # not known in advance: a count, no bar


async def test_steps_are_numbered_i_of_n(aclient: AnalytiqClient) -> None:
    events = Events()
    await run_migrations(aclient, migrations=basic.MIGRATIONS, progress=events)
    steps = [s["step"] for s in events.starts.values() if s["kind"] is TaskKind.STEP]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert all(events.outcomes[t] is Outcome.OK for t, s in events.starts.items() if s["kind"] is TaskKind.STEP)


async def test_dry_run_shows_sizing_and_a_copy_reports_kinds(
    db: AsyncDatabase[Any], mongo_uri: str, db_name: str
) -> None:
    await db["a"].insert_many([{"n": i} for i in range(5)])
    await db["b"].insert_one({"n": 1})
    events = Events()
    options = BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=f"{db_name}_copy")
    await backup(replace(options, dry_run=True), events)
    sizing = [t for t, s in events.starts.items() if s["kind"] is TaskKind.PHASE]
    assert len(sizing) == 1 and events.done[sizing[0]] == 2 and events.starts[sizing[0]]["total"] == 2
    copy = Events()
    await backup(options, copy)
    kinds = {t: s["kind"] for t, s in copy.starts.items()}
    assert kinds["a"] is TaskKind.COPY and copy.done["a"] == 5
    assert {s["label"] for s in copy.starts.values() if s["kind"] is TaskKind.VERIFY} == {"a", "b"}
    assert all(o is Outcome.OK for o in copy.outcomes.values())
