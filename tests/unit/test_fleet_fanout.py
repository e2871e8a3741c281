"""The fan-out's scheduling and its drawing, in process: which database starts when, failures, stops, views.

The work here is plain coroutines gated by asyncio events (no database, no sleeps): what is tested is
the scheduler's decisions and the renderers' lines, which need no server.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import replace

import pytest
from rich.console import Console

from analytiq_data.cli.fleet_reads import version_rows
from analytiq_data.cli.fleet_render import FleetLines, FleetTable, database_line, summary_rows, verdict
from analytiq_data.errors import ExitCode, LockError, MigrationError
from analytiq_data.fleet.fanout import Deferred, Policy, Turn, fan_out, give_way
from analytiq_data.fleet.migrate import needs_a_person
from analytiq_data.fleet.progress import NullFleetProgress, ProgressAsFleet
from analytiq_data.fleet.results import DatabaseResult, FleetResult, Outcome, worst
from analytiq_data.migrations.engine.lockinfo import LockInfo, held_error
from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.results import StatusResult
from analytiq_data.progress import Progress, TaskKind

NAMES = ("t_a", "t_b", "t_c", "t_d", "t_e")


class Gated:
    """Work whose databases each wait for their own event; records starts, concurrency and stop requests."""

    def __init__(self, fail: Sequence[str] = ()) -> None:
        self.fail = set(fail)
        self.gates = {n: asyncio.Event() for n in NAMES}
        self.started: list[str] = []
        self.active = 0
        self.most = 0
        self.requests: dict[str, StopRequest] = {}
        self.changed = asyncio.Event()

    async def __call__(self, name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        self.started.append(name)
        self.requests[name] = turn.stop
        self.active += 1
        self.most = max(self.most, self.active)
        self.changed.set()
        progress.start("v1", kind=TaskKind.STEP, label="version 1 (A) up", step=(1, 2))
        try:
            await self.gates[name].wait()
        finally:
            self.active -= 1
            self.changed.set()
        if name in self.fail:
            raise MigrationError(f"step 2 failed on {name}")
        return DatabaseResult(name, Outcome.OK, 2, 0, 2)

    async def until(self, condition: object) -> None:
        while not callable(condition) or not condition():
            self.changed.clear()
            await self.changed.wait()


async def test_at_most_jobs_databases_run_at_once_and_each_runs_once() -> None:
    work = Gated()
    run = asyncio.create_task(fan_out(NAMES, work, Policy(jobs=2), NullFleetProgress()))
    await work.until(lambda: len(work.started) == 2)
    work.gates["t_a"].set()  # the only way a third starts: one of the two ends
    await work.until(lambda: len(work.started) == 3)
    assert work.started == ["t_a", "t_b", "t_c"] and work.active == 2
    for gate in work.gates.values():
        gate.set()
    results = await run
    assert [r.database for r in results] == list(NAMES) and work.most == 2
    assert sorted(work.started) == list(NAMES)


async def test_after_a_failure_no_new_database_starts_but_those_running_finish() -> None:
    work = Gated(fail=["t_b"])
    versions: list[str] = []

    async def version_of(name: str) -> int | None:
        versions.append(name)
        return 1

    run = asyncio.create_task(fan_out(NAMES, work, Policy(jobs=2), NullFleetProgress(), version_of=version_of))
    await work.until(lambda: len(work.started) == 2)
    work.gates["t_b"].set()  # t_b fails while t_a still runs
    await work.until(lambda: work.active == 1)
    work.gates["t_a"].set()
    results = await run
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.FAILED, *[Outcome.SKIPPED] * 3]
    failed = results[1]
    assert (failed.version, failed.exit_code, failed.error) == (1, 6, "step 2 failed on t_b")
    assert versions == ["t_b"]  # "failed at version V": read once, for the failed database only
    assert results[2].error == "not started: t_b failed (run again to continue; --keep-going tries them all)"
    assert work.started == ["t_a", "t_b"]


async def test_keep_going_tries_every_database() -> None:
    work = Gated(fail=["t_b", "t_d"])
    for gate in work.gates.values():
        gate.set()
    results = await fan_out(NAMES, work, Policy(jobs=1, keep_going=True), NullFleetProgress())
    assert [r.outcome.value for r in results] == ["ok", "failed", "ok", "failed", "ok"]


async def test_a_stop_starts_no_new_database_and_is_passed_to_those_running() -> None:
    work = Gated()
    stop = StopRequest()
    run = asyncio.create_task(fan_out(NAMES, work, Policy(jobs=2), NullFleetProgress(), stop=stop))
    await work.until(lambda: len(work.started) == 2)
    stop.request()
    assert [work.requests[n].count for n in ("t_a", "t_b")] == [1, 1]  # each stops at its next safe point
    stop.request()
    assert [work.requests[n].count for n in ("t_a", "t_b")] == [2, 2]  # the second aborts its step
    work.gates["t_a"].set()
    work.gates["t_b"].set()
    results = await run
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK, *[Outcome.SKIPPED] * 3]
    assert (results[4].error, results[4].exit_code) == ("not started: a stop was asked for", 130)


async def test_work_without_steps_is_cancelled_by_the_second_stop() -> None:
    work = Gated()
    stop = StopRequest()
    run = asyncio.create_task(fan_out(NAMES[:1], work, Policy(jobs=1, steps=False), NullFleetProgress(), stop=stop))
    await work.until(lambda: work.started == ["t_a"])
    stop.request()
    work.gates["t_a"].set()
    (finished,) = await run
    assert finished.outcome is Outcome.OK  # the first request lets it finish

    work, stop = Gated(), StopRequest()
    run = asyncio.create_task(fan_out(NAMES[:1], work, Policy(jobs=1, steps=False), NullFleetProgress(), stop=stop))
    await work.until(lambda: work.started == ["t_a"])
    stop.request()
    stop.request()  # its gate never opens: only the cancel ends it
    (result,) = await run
    assert (result.outcome, result.exit_code) == (Outcome.INTERRUPTED, 130)


async def test_errors_become_records_with_their_exit_codes() -> None:
    async def work(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        if name == "t_a":
            raise LockError("migration lock held by host (pid 1)", hint="wait")
        raise KeyError("bug")

    lock, bug = await fan_out(NAMES[:2], work, Policy(jobs=1, keep_going=True), NullFleetProgress())
    assert (lock.exit_code, lock.error) == (5, "migration lock held by host (pid 1) — wait")
    assert (bug.exit_code, bug.error) == (70, "internal error: KeyError: 'bug'")
    assert worst([0, 5, 70, 6]) == 70 and worst([0, 1, 5]) == 5 and worst([130, 70]) == 130 and worst([]) == 0


async def test_a_database_whose_lock_is_held_comes_back_after_the_others_once() -> None:
    turns: list[tuple[str, bool]] = []

    async def work(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        turns.append((name, turn.patient))
        if name == "t_a" and not turn.patient:
            waited: list[float | None] = []

            async def run(options: RunOptions, shown: Progress) -> DatabaseResult:
                waited.append(options.lock_wait_s)
                shown.note("waiting up to 0s for the migration lock held by other-host (pid 9)")
                raise held_error(LockInfo.from_doc({"host": "other-host", "pid": 9}, live=True), 0)

            try:
                return await give_way(turn, progress, RunOptions(), run)
            finally:
                assert waited == [0.0]  # the first turn does not wait
        return DatabaseResult(name, Outcome.OK)

    out = io.StringIO()
    results = await fan_out(NAMES[:3], work, Policy(jobs=1), FleetLines(out))
    assert turns == [("t_a", False), ("t_b", False), ("t_c", False), ("t_a", True)]  # its second turn waits
    assert [r.outcome for r in results] == [Outcome.OK] * 3
    assert out.getvalue().splitlines()[0] == (
        "t_a: its migration lock is held by other-host (pid 9): coming back to it after the others"
    )  # the impatient turn's own "waiting up to 0s" note was kept back, never shown
    assert "waiting up to" not in out.getvalue()
    with pytest.raises(Deferred):
        raise Deferred("x")


@pytest.mark.parametrize(
    "error",
    [
        LockError("lost the migration lock: its lease expired and another runner took it over", hint="stopped"),
        LockError("another restore of database 't_a' is running: its lock is held by h (pid 3) (waited 0s)"),
        LockError("a migration run took the migration lock of 't_a' during the restore (h (pid 3)): ..."),
    ],
    ids=["lost lease", "restore lock", "migration during a restore"],
)
async def test_only_a_held_migration_lock_defers_a_database(error: LockError) -> None:
    """Every LockError used to defer the database, its holder cut out of the message's text."""
    turns: list[bool] = []

    async def work(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        turns.append(turn.patient)

        async def run(options: RunOptions, shown: Progress) -> DatabaseResult:
            raise error

        return await give_way(turn, progress, RunOptions(), run)

    out = io.StringIO()
    first, _ = await fan_out(NAMES[:2], work, Policy(jobs=1), FleetLines(out))
    assert turns == [False]  # one turn: not put back, and the failure stops the rest
    assert (first.outcome, first.exit_code, first.error) == (Outcome.FAILED, 5, error.user_line())
    assert "coming back to it" not in out.getvalue()


def _result() -> FleetResult:
    rows = (
        DatabaseResult("t_a", Outcome.OK, 4, 0, 4, seconds=1.2),
        DatabaseResult("t_b", Outcome.OK, 4, 4, 0),
        DatabaseResult("t_c", Outcome.FAILED, 2, error="version 3 (X) up failed: bad email", exit_code=6),
        DatabaseResult("t_d", Outcome.AHEAD, 5, 5),
        DatabaseResult("t_e", Outcome.SKIPPED, error="not started: t_c failed"),
    )
    return FleetResult("up", rows, jobs=2, jobs_why="2: --jobs", seconds=3.0, selection="5 databases: t_*")


def test_the_summary_groups_databases_by_outcome() -> None:
    result = _result()
    assert summary_rows(result) == [
        ("at version 4", "2 databases", "t_a, t_b"),
        ("ahead of the code", "1 database", "t_d"),
        ("failed at version 2", "t_c", "version 3 (X) up failed: bad email"),
        ("skipped", "1 database", "not started: t_c failed: t_e"),
    ]
    assert verdict(result) == "up: 5 databases (2 ok, 1 ahead, 1 failed, 1 skipped) in 3.0s, 2 at a time"
    assert result.exit_code == ExitCode.MIGRATION and not result.ok
    data = result.to_json()
    assert data["counts"] == {"ok": 2, "ahead": 1, "failed": 1, "skipped": 1}
    assert [d["database"] for d in data["databases"]] == ["t_a", "t_b", "t_c", "t_d", "t_e"]
    with pytest.raises(Exception, match="2 of 5 databases did not finish: first t_c") as failed:
        result.raise_for_failure()
    assert getattr(failed.value, "exit_code", None) == 6


def test_plain_lines_say_each_database_that_ends() -> None:
    out = io.StringIO()
    view = FleetLines(out, interval=0)
    view.begin("up", NAMES, 2)
    view.started("t_a")
    view.note("t_a", "waiting up to 120s for the migration lock held by host (pid 7)")
    for r in _result().databases:
        view.finished(r)
    lines = out.getvalue().splitlines()
    assert lines[0] == "t_a: waiting up to 120s for the migration lock held by host (pid 7)"
    assert lines[1] == "✓ t_a: version 0 → 4 (4 steps) (1.2s)"
    assert lines[2] == "up: 1/5 done, 0 running (" + lines[2].split("(", 1)[1]  # the count line
    assert "✗ t_c: failed at version 2: version 3 (X) up failed: bad email" in lines
    assert "- t_e: skipped: not started: t_c failed" in lines
    assert database_line(_result().databases[3]) == "! t_d: at version 5, newer than the code: nothing done"


def test_the_live_table_shows_each_running_database_and_its_step() -> None:
    buffer = io.StringIO()
    view = FleetTable(Console(file=buffer, force_terminal=True, width=100, color_system=None))
    view.tally.verb, view.tally.total = "up", 5
    view.started("t_a")
    view.activity("t_a", "version 2 (LlmResultFieldsMigration) up", TaskKind.STEP, (2, 4))
    view.finished(DatabaseResult("t_b", Outcome.OK, 4, 0, 4))
    probe = Console(file=io.StringIO(), width=100, color_system=None)
    with probe.capture() as captured:
        probe.print(view.render())
    text = captured.get()
    assert "up: 1/5 done, 1 running" in text
    assert "t_a" in text and "step 2 of 4: version 2 (LlmResultFieldsMigration) up" in text
    assert "✓ t_b: version 0 → 4 (4 steps)" in buffer.getvalue()


def test_a_plain_progress_sees_one_task_per_database() -> None:
    seen: list[str] = []

    class Sink:
        def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
            seen.append(f"start {task}")

        def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
            seen.append(f"advance {task}")

        def finish(self, task: str, message: str | None = None) -> None:
            seen.append(f"finish {task} {message}")

        def note(self, message: str) -> None:
            seen.append(message)

    view = ProgressAsFleet(Sink())  # type: ignore[arg-type]  # a sink written before kind/label/step
    view.started("t_a")
    view.activity("t_a", "version 1 (A) up", TaskKind.STEP, (1, 2))
    view.finished(DatabaseResult("t_a", Outcome.FAILED, error="boom", exit_code=6))
    assert seen == ["start t_a", "advance t_a", "finish t_a boom"]


def _status(name: str, current: int, head: int = 4) -> StatusResult:
    return StatusResult(name, current, head, None, True, (), current > head, (), (), None, None)


def test_status_over_many_counts_each_version_and_marks_the_newest_and_those_ahead() -> None:
    found = [_status("t_a", 4), _status("t_b", 4), _status("t_c", 1), _status("t_d", 5)]
    assert version_rows(found) == [
        ("5 (ahead of the code)", "1", "t_d"),
        ("4 (the newest)", "2", "t_a, t_b"),
        ("1 (3 steps pending)", "1", "t_c"),
    ]
    assert [needs_a_person(s) for s in found] == [False, False, False, True]


def test_a_stopped_restore_needs_a_person_over_many_as_status_on_one_says() -> None:
    # status on one database exits 1 for it; over many it was counted as fine (exit 0, "0 needing a person")
    stopped = replace(_status("t_a", 4), restore="a restore into 't_a' stopped while loading (…)")
    assert needs_a_person(stopped)
