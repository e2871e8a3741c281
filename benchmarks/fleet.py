"""Benchmark many tenant databases: the fan-out with --jobs 1, 4, 8 against a plain loop of single runs.

``python -m benchmarks.fleet [--dbs N] [--docs D] [--quick]`` starts its own SecantusDB server
(tools.testserver; a fresh one for each measurement), and for each variant writes N fresh tenant
databases of a realistic small size (``migrations.sample.generate_sample`` with D uploaded
documents each: documents, OCR files in GridFS, LLM runs, schemas, prompts; about 4.7 D documents
per tenant, in Analytiq's version-0 shapes), then brings them all to Analytiq's newest version
(the four migrations), timed:

- loop: what a team would write without this feature, one ``run_migrations`` per tenant in a
  ``for`` loop on one client;
- fan-out, --jobs 1 / 4 / 8: ``run_migrations_many(client, databases="tenant_*", jobs=J)``.

Every command the client sends is counted (a CommandListener on the client, which the engine's own
per-run clients inherit), so the fan-out's own cost per database (selecting by glob, the default
``jobs``, its bookkeeping) shows as commands per database beyond the loop's. Target: at most 5
round trips per database beyond a single-database run. The server's load (``os.getloadavg``)
before each variant is printed, as this machine is shared. Full runs write ``docs/figures/fleet.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.migrations import run_migrations, run_migrations_many
from analytiq_data.migrations.engine.target import Target
from analytiq_data.migrations.migration import MIGRATIONS
from analytiq_data.migrations.sample import generate_sample
from benchmarks.figures import md_table, write_figures
from benchmarks.migrations import CommandCounter
from tools.testserver import TestServer

TARGET_EXTRA_COMMANDS = 5
VARIANTS = ("loop", "jobs 1", "jobs 4", "jobs 8")


@dataclass
class Measured:
    """One variant, measured."""

    variant: str
    seconds: float
    commands: int
    dbs: int
    load: float
    ok: bool
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def per_db(self) -> float:
        """Return the commands sent per database."""
        return self.commands / self.dbs


async def populate(client: AsyncMongoClient[Any], prefix: str, dbs: int, docs: int) -> list[str]:
    """Write ``dbs`` fresh tenant databases ``<prefix>_NNN`` of ``docs`` uploaded documents each."""
    names = [f"{prefix}_{i:03d}" for i in range(dbs)]
    for i, name in enumerate(names):
        await client.drop_database(name)
        await generate_sample(client[name], docs, seed=i % 7, batch_size=500)
    return names


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) process ``pid`` has used so far, from /proc (0 where unknown)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


async def measure(variant: str, dbs: int, docs: int) -> Measured:
    """Start a server of its own, populate fresh tenants, then bring them to the newest version one way;
    count and time it. (A fresh server each time: SecantusDB grows slower as its history of writes
    grows, which would favour whichever variant runs first.)"""
    server = TestServer(name="bench-fleet").start()
    try:
        return await _measure(server.uri, variant, dbs, docs, server.pid)
    finally:
        server.cleanup()


async def _measure(uri: str, variant: str, dbs: int, docs: int, server_pid: int) -> Measured:
    counter = CommandCounter()
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[counter], tz_aware=True)
    prefix = "tenant"
    try:
        names = await populate(client, prefix, dbs, docs)
        load = os.getloadavg()[0]
        counter.count, counter.active = 0, True
        server0, client0 = cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        if variant == "loop":
            ok = True
            for name in names:  # the script a team would write: one run per tenant, one after another
                result = await run_migrations(Target(client, name, uri), migrations=MIGRATIONS)
                ok = ok and result.to_version == len(MIGRATIONS)
        else:
            many = await run_migrations_many(
                Target(client, "admin", uri), databases=f"{prefix}_*", migrations=MIGRATIONS, jobs=int(variant[5:])
            )
            ok = many.ok and len(many.databases) == dbs
        seconds = time.perf_counter() - started
        server_cpu, client_cpu = cpu_seconds(server_pid) - server0, time.process_time() - client0
        counter.active = False
    finally:
        await client.close()
    return Measured(variant, seconds, counter.count, dbs, load, ok, server_cpu, client_cpu)


def _median(runs: list[Measured]) -> Measured:
    """Return the run of median wall time (its other figures with it), with the median load."""
    ordered = sorted(runs, key=lambda m: m.seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    middle.load = statistics.median(m.load for m in runs)
    return middle


def report(rows: list[Measured], args: argparse.Namespace, uptime: str) -> str:
    """Print the table (and return it as Markdown): time, ratio to the loop, commands per database."""
    loop = next(r for r in rows if r.variant == "loop")
    table = []
    for r in rows:
        extra = r.per_db - loop.per_db
        table.append(
            [
                r.variant,
                f"{r.seconds:.1f}s",
                f"{loop.seconds / r.seconds:.2f}x",
                f"{r.dbs / r.seconds:.1f}",
                f"{r.per_db:.1f}",
                "" if r.variant == "loop" else f"{extra:+.1f}",
                f"{r.server_cpu:.1f}s ({r.server_cpu / r.seconds:.0%})",
                f"{r.client_cpu:.1f}s",
                f"{r.load:.2f}",
                "yes" if r.ok else "NO",
            ]
        )
    headers = ["variant", "wall time", "speed-up vs loop", "databases/s", "commands per database",
               "fan-out extra per database", "server CPU (busy)", "client CPU", "load (1 min) before",
               "all at the target"]  # fmt: skip
    body = md_table(headers, table)
    worst = max(r.per_db - loop.per_db for r in rows if r.variant != "loop")
    verdict = "met" if worst <= TARGET_EXTRA_COMMANDS else "NOT met"
    text = (
        f"{args.dbs} tenant databases of {args.docs} uploaded documents each (about {args.docs * 47 // 10} "
        f"documents per tenant), Analytiq's four migrations, one SecantusDB server on this machine.\n\n{body}\n\n"
        f"Fan-out cost beyond a single-database run: at most {worst:+.1f} commands per database "
        f"(target: ≤ {TARGET_EXTRA_COMMANDS}: {verdict}). `uptime` at the start: {uptime}."
    )
    print(text)
    return text


async def bench(args: argparse.Namespace, uptime: str) -> int:
    """Run every variant on one server and print (and, for a full run, write) the figures."""
    print(f"uptime: {uptime}", flush=True)
    found: dict[str, list[Measured]] = {v: [] for v in VARIANTS}
    for run in range(args.runs):  # the order alternates, so a change in the machine's load is shared out
        for variant in VARIANTS if run % 2 == 0 else tuple(reversed(VARIANTS)):
            m = await measure(variant, args.dbs, args.docs)
            found[variant].append(m)
            print(f"{variant}: {m.seconds:.1f}s, server CPU {m.server_cpu:.1f}s, load {m.load:.2f}", flush=True)
    rows = [_median(found[v]) for v in VARIANTS]
    text = report(rows, args, uptime)
    if not args.quick:
        command = f"python -m benchmarks.fleet --dbs {args.dbs} --docs {args.docs} --runs {args.runs}"
        write_figures("fleet", command, text)
    return 0 if all(r.ok for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--dbs", type=int, default=200, help="tenant databases (default 200)")
    parser.add_argument("--docs", type=int, default=40, help="uploaded documents per tenant (default 40)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs per variant, median reported (default 1)")
    parser.add_argument("--quick", action="store_true", help="10 tenants, 1 run, no figures written")
    args = parser.parse_args(argv)
    if args.quick:
        args.dbs = min(args.dbs, 10)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return asyncio.run(bench(args, uptime))


if __name__ == "__main__":
    sys.exit(main())
