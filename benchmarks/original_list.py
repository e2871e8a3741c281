"""Benchmark a 35-class list written for the original runner: the original runner vs this engine.

``python -m benchmarks.original_list [--quick]`` (also the last part of ``python -m
benchmarks.migrations``) starts its own SecantusDB server, writes the pre-migration data of
``tests.migrations_fixtures.original_app.seed`` (``--scale`` multiplies the documents the
per-document steps walk; --quick: 4, else 40) into a fresh database per runner, and runs the list
up to version 35 and back down to version 2 (versions 1–2 have downs that return False by design):

- original: the original runner re-created from NOTES.md — the app's motor database, each step's
  ``up``/``down`` then the version write, no lock, no history, no transactions;
- engine/motor: ``run_migrations`` with the app's motor client (every step outside a transaction);
- engine/pymongo: ``run_migrations`` with a PyMongo client (steps in a transaction where the server
  allows it, re-run outside when refused — their round trips include the refused attempt).

Per step: round trips (every command the clients send, counted by a CommandListener the engine's
clients inherit from the app's client, engine bookkeeping included) and wall time, the median of
``--rounds`` rounds (default 3) in which the three runners take turns in a rotating order (so a
loaded machine slows each about as much). Then the totals, and the engine's overhead per step.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, monitoring

import analytiq_data as ad
from benchmarks.figures import md_table, write_figures
from tests.migrations_fixtures.original_app import MIGRATIONS
from tests.migrations_fixtures.original_app.seed import seed
from tools.testserver import TestServer

DOWN_TO = 2
RUNNERS = ("original", "engine/motor", "engine/pymongo")


class Counter(monitoring.CommandListener):
    """Count every command sent by the clients carrying it."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


@dataclass
class Figures:
    """Round trips and wall time of each (version, direction) of one runner, plus its totals."""

    steps: dict[tuple[int, str], tuple[int, float]] = field(default_factory=dict)
    notes: dict[tuple[int, str], str] = field(default_factory=dict)
    total_cmds: int = 0
    total_s: float = 0.0


class StepMeter:
    """A Progress that measures each step of an engine run between its ``start`` and ``finish``."""

    def __init__(self, counter: Counter, figures: Figures, direction: str) -> None:
        self.counter, self.figures, self.direction = counter, figures, direction
        self._open: dict[str, tuple[int, float]] = {}

    def start(self, task: str, total: int | None = None, unit: str = "docs", **event: Any) -> None:
        self._open[task] = (self.counter.count, time.perf_counter())

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        return None

    def finish(self, task: str, message: str | None = None, **event: Any) -> None:
        if task not in self._open or not task.startswith("version "):
            return
        cmds, t0 = self._open.pop(task)
        version = int(task.split()[1])
        key = (version, self.direction)
        self.figures.steps[key] = (self.counter.count - cmds, time.perf_counter() - t0)
        self.figures.notes[key] = "tx" if message and "in a transaction" in message else "out"
        if message and "refused" in message:
            self.figures.notes[key] = "tx→out"

    def note(self, message: str) -> None:
        return None


async def run_original(app: Any, counter: Counter, figures: Figures) -> None:
    """The original runner: each step on the app's database, then the version write; stop on False."""
    db = app.mongodb_async[app.env]

    async def write(version: int) -> None:
        now = datetime.now(UTC)
        await db.migrations.update_one({"_id": "schema_version"}, {"$set": {"version": version, "updated_at": now}},
                                       upsert=True)  # fmt: skip

    head = len(MIGRATIONS)
    plan = [(v, "up") for v in range(1, head + 1)] + [(v, "down") for v in range(head, DOWN_TO, -1)]
    for version, direction in plan:
        migration = MIGRATIONS[version - 1]
        cmds, t0 = counter.count, time.perf_counter()
        ok = await (migration.up(db) if direction == "up" else migration.down(db))
        if not ok:
            raise RuntimeError(f"original runner: version {version} {direction} returned {ok!r}")
        await write(version if direction == "up" else version - 1)
        figures.steps[(version, direction)] = (counter.count - cmds, time.perf_counter() - t0)
        figures.notes[(version, direction)] = "out"


async def run_engine(app: Any, counter: Counter, figures: Figures) -> None:
    """This engine: run_migrations up to the newest, then down to version 2, measured per step."""
    await ad.migrations.run_migrations(app, migrations=MIGRATIONS, progress=StepMeter(counter, figures, "up"))
    await ad.migrations.run_migrations(
        app, target_version=DOWN_TO, migrations=MIGRATIONS, progress=StepMeter(counter, figures, "down")
    )


class App:
    """The app's client object: ``mongodb_async`` and ``env``."""

    def __init__(self, client: Any, env: str) -> None:
        self.mongodb_async, self.env = client, env


async def measure(uri: str, runner: str, scale: int) -> Figures:
    """Seed a fresh database and run ``runner`` over it; return its figures."""
    name = f"bench_original_list_{runner.replace('/', '_')}"
    counter = Counter()
    setup: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    await setup.drop_database(name)
    await seed(setup[name], scale)
    client: Any
    if runner == "engine/pymongo":
        client = AsyncMongoClient(uri, tz_aware=True, event_listeners=[counter])
    else:
        client = AsyncIOMotorClient(uri, tz_aware=True, event_listeners=[counter])
    figures = Figures()
    cmds, t0 = counter.count, time.perf_counter()
    try:
        await (run_original if runner == "original" else run_engine)(App(client, name), counter, figures)
    finally:
        figures.total_cmds, figures.total_s = counter.count - cmds, time.perf_counter() - t0
        closing = client.close()
        if closing is not None:
            await closing
        await setup.drop_database(name)
        await setup.close()
    return figures


def report(scale: int, rounds: int, table: dict[str, Figures]) -> None:
    """Print round trips and wall time per step for each runner, then totals and overhead."""
    print(f"\n## the original-app list ({len(MIGRATIONS)} classes), seed scale {scale}: up to {len(MIGRATIONS)}, "
          f"down to {DOWN_TO}; median of {rounds} round(s)\n")  # fmt: skip
    heads = " ".join(f"{r + ' cmds':>20} {'ms':>7}" for r in RUNNERS)
    print(f"{'step':<36} {'dir':<5} {heads}")
    for key in table["original"].steps:
        version, direction = key
        cells = []
        for runner in RUNNERS:
            cmds, seconds = table[runner].steps.get(key, (0, 0.0))
            note = table[runner].notes.get(key, "")
            cells.append(f"{note:>7} {cmds:>12} {seconds * 1000:>7.1f}")
        print(f"{version:>2} {MIGRATIONS[version - 1].name:<33} {direction:<5} " + " ".join(cells))
    n = len(table["original"].steps)
    print()
    for runner in RUNNERS:
        f = table[runner]
        print(f"{runner:<16} total {f.total_cmds:>6} commands {f.total_s:>7.2f} s  ({f.total_cmds / n:.1f} per step)")
    base = table["original"]
    for runner in RUNNERS[1:]:
        extra = (table[runner].total_cmds - base.total_cmds) / n
        slower = (table[runner].total_s - base.total_s) / n * 1000
        print(f"{runner} overhead vs original: {extra:+.1f} commands and {slower:+.1f} ms per step")


def figures_markdown(scale: int, rounds: int, table: dict[str, Figures]) -> str:
    """Return the figures file's table: each runner's round trips and wall time, and its overhead per step."""
    steps = len(table["original"].steps)
    base = table["original"]
    rows = []
    for runner in RUNNERS:
        f = table[runner]
        extra = "—" if runner == "original" else f"{(f.total_cmds - base.total_cmds) / steps:+.1f} commands"
        rows.append([runner, f"{f.total_cmds:,}", f"{f.total_cmds / steps:.1f}", extra, f"{f.total_s:.2f} s"])
    heads = ["runner", f"commands ({steps} steps)", "per step", "overhead per step vs original", "wall time"]
    intro = (
        f"The original-app list ({len(MIGRATIONS)} classes) up to {len(MIGRATIONS)} and down to {DOWN_TO}, "
        f"seed scale {scale}, medians of {rounds} round(s):"
    )
    return intro + "\n\n" + md_table(heads, rows)


def median(rounds: list[Figures]) -> Figures:
    """Return per step (and in total) the median round trips and wall time of ``rounds``."""
    out = Figures(notes=rounds[0].notes)
    for key in rounds[0].steps:
        out.steps[key] = (
            int(statistics.median(r.steps[key][0] for r in rounds)),
            statistics.median(r.steps[key][1] for r in rounds),
        )
    out.total_cmds = int(statistics.median(r.total_cmds for r in rounds))
    out.total_s = statistics.median(r.total_s for r in rounds)
    return out


async def bench(quick: bool, scale: int | None = None, rounds: int = 3) -> None:
    """Run the comparison on a server started here and print it."""
    scale = scale or (4 if quick else 40)
    server = TestServer(name="bench-original-list").start()
    try:
        measured: dict[str, list[Figures]] = {runner: [] for runner in RUNNERS}
        for n in range(rounds):
            order = RUNNERS[n % 3 :] + RUNNERS[: n % 3]
            for runner in order:
                measured[runner].append(await measure(server.uri, runner, scale))
            print(f"  round {n + 1}/{rounds}: done", file=sys.stderr, flush=True)
        table = {runner: median(figures) for runner, figures in measured.items()}
        report(scale, rounds, table)
        if not quick:
            body = figures_markdown(scale, rounds, table)
            print(f"figures written to {write_figures('original-list', 'python -m benchmarks.original_list', body)}")
    finally:
        server.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.original_list", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seed scale 4 (about 100 documents per collection)")
    parser.add_argument("--scale", type=int, default=None, help="seed scale (default 40; --quick 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, median reported (default 3)")
    args = parser.parse_args(argv)
    asyncio.run(bench(args.quick, args.scale, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
