"""Benchmark the backup: this tool vs the original script vs mongodump|mongorestore vs the destination's limit.

``python -m benchmarks.backup [--case sample|analytiq|both|restore] [--trials N] [--quick]`` starts its own
two SecantusDB servers (tools.testserver) — or, with ``--src-uri URI --dest-uri URI``, runs on two
servers given (two mongod, say; only ``bench_*`` databases are written, and dropped at the end).

Two cases:

- ``sample`` (the issue's case): ``analytiq-db sample --docs 20000`` (89,205 documents in 6
  collections, GridFS chunks), generated once in the source; the destination already holds two
  other copies of it (``bench_other1``, ``bench_other2``), as a backup server holding earlier
  backups does. Before each run the destination is put back in that state (its storage restored
  from a snapshot taken after loading them; servers given by URI: the copy's database dropped).
- ``analytiq``: 200,000 Analytiq-shaped documents (``--docs``; llm.runs with nested llm_result
  dicts, docs, prompts, schemas, with the application's indexes: one collection holds 80%), into a
  destination restarted empty before each run.

The copiers (``benchmarks/copiers.py``), each in its own process, interleaved (order rotated per
trial), medians of ``--trials`` (default 3): the original script re-created, mongodump|mongorestore
(real binaries from ``MONGO_TOOLS_BIN``), this tool ``--no-verify`` and by default (verified), and
the destination's write-only limit. Also two reads alone: the source read whole, and the copy read
back whole right after a default run (what verification reads). Targets: ``--no-verify`` no slower
than the original script and than mongodump|mongorestore; the default verified run at most 1.5x
the original; client CPU at most half the original's.

``--case restore`` (``benchmarks/restorers.py``): the sample restored into a new database of the
destination (which holds two other copies of it and a backup of it), interleaved, medians of
``--trials``: ``analytiq-db restore --archive``/``--dir`` against ``mongorestore`` from the same
mongodump files, and ``restore --from`` against the server copy of the same data (``analytiq-db
backup`` of that backup). Targets: each at most 1.2x; the spread (max/min) and the load are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, MongoClient

from analytiq_data.backup.copy import READ_AHEAD
from analytiq_data.uri import redact_uri, resolve_uri
from benchmarks import restorers
from benchmarks._common import ChildRun, load, run_child, wait_idle
from benchmarks.copiers import (
    child_idle,
    child_limit,
    child_original,
    child_ours,
    mongo_tools_available,
    read_alone,
    run_mongo_tools,
)
from benchmarks.figures import md_table, write_figures
from tools.testserver import TestServer

MODULE = "benchmarks.backup"
#: The copiers compared in the table; the runs also read the source alone.
COPIERS = ("original", "mongo-tools", "ours --no-verify", "ours", "limit")
KINDS = (*COPIERS, "source read")
#: Measured right after each default run, on the copy it left in the destination.
READBACK = "read-back"
#: ratio name -> (numerator copier, denominator copier, figure, target)
TARGETS: dict[str, tuple[str, str, str, float]] = {
    "no-verify / original": ("ours --no-verify", "original", "seconds", 1.0),
    "no-verify / mongo-tools": ("ours --no-verify", "mongo-tools", "seconds", 1.0),
    "default / original": ("ours", "original", "seconds", 1.5),
    "default / mongo-tools": ("ours", "mongo-tools", "seconds", 1.5),
    "CPU no-verify / original": ("ours --no-verify", "original", "cpu", 0.5),
    "CPU default / original": ("ours", "original", "cpu", 0.5),
    "no-verify / limit": ("ours --no-verify", "limit", "seconds", 1.15),
}
SAMPLE_DOCS = 20_000
OTHER_DBS = ("bench_other1", "bench_other2")
DEST_DB = "bench_copy"


def child(kind: str, params: str) -> int:
    """Run one measured copy in this (child) process and print its report as JSON."""
    p = json.loads(params)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "original": lambda: child_original(p),
        "ours --no-verify": lambda: child_ours(p, verify=False),
        "ours": lambda: child_ours(p, verify=True),
        "limit": lambda: child_limit(p),
        "source read": lambda: read_alone(p["src_uri"], p["src_db"]),
        READBACK: lambda: read_alone(p["dst_uri"], p["dst_db"]),
        "idle": lambda: child_idle(p),
    }
    print(json.dumps(runners[kind]()))
    return 0


def restart_from(server: TestServer, snapshot: Path | None) -> None:
    """Restart ``server`` on the same port with its storage as ``snapshot`` left it (None: empty)."""
    server.stop()
    shutil.rmtree(server.storage, ignore_errors=True)
    if snapshot is None:
        server.storage.mkdir(parents=True)
    else:
        shutil.copytree(snapshot, server.storage)
    server.restart()


@dataclass
class Bench:
    """The two servers a case runs on, and how to bring the destination back to the same state before each run.

    Started here (SecantusDB, the default): the destination is restarted from its snapshot (or
    empty), and both servers are left to go idle. Given by URI (``--src-uri``/``--dest-uri``, e.g.
    two mongod): the copy's database is dropped; the servers are not ours to restart or watch.
    """

    src_uri: str
    dst_uri: str
    src: TestServer | None = None
    dst: TestServer | None = None
    snapshot: Path | None = None

    def take_snapshot(self) -> None:
        """Remember the destination's present state as the one every run starts from."""
        if self.dst is None:
            return
        self.snapshot = self.dst.storage.parent / f"{self.dst.storage.name}-snapshot"
        self.dst.stop()
        shutil.rmtree(self.snapshot, ignore_errors=True)
        shutil.copytree(self.dst.storage, self.snapshot)
        self.dst.restart()

    def reset(self) -> None:
        """Put the destination back in the state runs start from."""
        if self.dst is not None:
            restart_from(self.dst, self.snapshot)
        else:
            client: MongoClient[dict[str, Any]] = MongoClient(self.dst_uri)
            client.drop_database(DEST_DB)
            client.close()

    def settle(self) -> None:
        """Wait for servers started here to go idle (servers given by URI are not watched)."""
        if self.src is not None and self.dst is not None:
            wait_idle([self.src.pid, self.dst.pid])

    def drop(self, *names: str) -> None:
        """Drop the benchmark's databases (servers given by URI are left as found)."""
        for uri in (self.src_uri, self.dst_uri):
            client: MongoClient[dict[str, Any]] = MongoClient(uri)
            for name in names:
                client.drop_database(name)
            client.close()


@dataclass
class Case:
    """One database to copy: its name in the source, and how the source and destination are prepared."""

    name: str
    source_db: str
    describe: str
    kinds: tuple[str, ...] = KINDS
    others: tuple[str, ...] = field(default=())


def prepare_sample(bench: Bench, sample_docs: int = SAMPLE_DOCS) -> Case:
    """Generate ``analytiq-db sample --docs 20000`` in the source; two copies of it in the destination."""
    from analytiq_data.backup import BackupOptions, backup
    from analytiq_data.migrations.sample import generate_sample

    async def generate() -> int:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(bench.src_uri)
        try:
            summary = await generate_sample(client["bench_sample"], sample_docs, seed=0, drop=True)
        finally:
            await client.close()
        return sum(summary.counts.values())

    print(f"generating the sample (--docs {sample_docs:,}) in the source ...", flush=True)
    documents = asyncio.run(generate())
    for other in OTHER_DBS:
        print(f"loading another copy into the destination: {other} ...", flush=True)
        options = BackupOptions(bench.src_uri, "bench_sample", other, dest_uri=bench.dst_uri, drop=True, verify=False)
        asyncio.run(backup(options))
    bench.take_snapshot()
    return Case(
        "sample",
        "bench_sample",
        f"analytiq-db sample --docs {sample_docs:,}: {documents:,} documents in 6 collections (GridFS);"
        f" the destination holds {len(OTHER_DBS)} other copies",
        others=OTHER_DBS,
    )


def prepare_analytiq(bench: Bench, docs: int) -> Case:
    """Load ``docs`` Analytiq-shaped documents into the source; the destination starts empty."""
    print(f"loading {docs:,} Analytiq-shaped documents into the source ...", flush=True)
    bench.drop("bench_analytiq")
    loaded = load(bench.src_uri, "bench_analytiq", docs)
    bench.snapshot = None
    return Case("analytiq", "bench_analytiq", f"{loaded:,} Analytiq-shaped documents; the destination starts empty")


def measure(bench: Bench, case: Case, trials: int) -> dict[str, list[ChildRun]]:
    """Run every copier ``trials`` times (order rotated per trial) and return their runs.

    Before each run the destination is put back in the case's starting state (servers started
    here are restarted from a snapshot: a server copies its first database faster than later ones,
    and the data of dropped databases lingers), and both servers are idle.
    """
    kinds = tuple(k for k in case.kinds if k != "mongo-tools" or mongo_tools_available())
    runs: dict[str, list[ChildRun]] = {k: [] for k in (*kinds, READBACK)}
    params = {"src_uri": bench.src_uri, "dst_uri": bench.dst_uri, "src_db": case.source_db, "dst_db": DEST_DB}
    for trial in range(trials):
        order = kinds[trial % len(kinds) :] + kinds[: trial % len(kinds)]
        for kind in order:
            bench.reset()
            bench.settle()
            if kind == "mongo-tools":
                run = run_mongo_tools(params)
            else:
                run = run_child(MODULE, "--child", kind, json.dumps(params))
            runs[kind].append(run)
            print(f"  trial {trial + 1}: {kind:18s} {run.report['seconds']:7.2f}s{levels(run)}", flush=True)
            if kind == "ours":  # the verified copy is in the destination: read it back alone
                bench.settle()
                back = run_child(MODULE, "--child", READBACK, json.dumps(params))
                runs[READBACK].append(back)
                print(f"  trial {trial + 1}: {READBACK:18s} {back.report['seconds']:7.2f}s", flush=True)
    bench.reset()
    return runs


def levels(run: ChildRun) -> str:
    """Return the inserts-in-flight levels a run of this tool chose, for the progress line."""
    c = run.report.get("concurrency")
    return f"  (inserts in flight {c['lowest']}-{c['highest']}, mean {c['mean']})" if c else ""


def median(runs: Sequence[ChildRun], key: str) -> float:
    """Return the median of one figure over runs (``max_rss_mb`` from the kernel, else the report)."""
    values = [float(r.max_rss_mb) if key == "max_rss_mb" else float(r.report.get(key, 0.0)) for r in runs]
    return statistics.median(values)


def report(case: Case, runs: dict[str, list[ChildRun]], idle: ChildRun) -> dict[str, Any]:
    """Print the table, the ratios against the targets and where this tool's time went; return the figures."""
    fig = {
        k: {key: median(v, key) for key in ("seconds", "cpu", "max_rss_mb", "first_batch")}
        for k, v in runs.items()
        if v
    }
    ours = runs["ours"][0].report
    data_mb = ours.get("bytes", 0) / 1024 / 1024
    print(f"\n[{case.name}] {case.describe}; {data_mb:,.0f} MB of BSON; medians of {len(runs['ours'])} runs")
    print(f"{'copier':18s} {'wall s':>8s} {'client CPU s':>13s} {'peak RSS MB':>12s}  runs (s)")
    for kind in COPIERS:
        if kind not in fig:
            continue
        f = fig[kind]
        cpu = f"{f['cpu']:.2f}" if kind != "limit" else "-"
        each = ", ".join(f"{r.report['seconds']:.1f}" for r in runs[kind])
        print(f"{kind:18s} {f['seconds']:8.2f} {cpu:>13s} {f['max_rss_mb']:12.0f}  {each}")
    ratios: dict[str, float] = {}
    print()
    for name, (num, den, key, target) in TARGETS.items():
        if num in fig and den in fig and fig[den][key] > 0:
            ratios[name] = value = fig[num][key] / fig[den][key]
            print(f"{name:26s} {value:5.2f}  (target <= {target:.2f}) {'ok' if value <= target else 'MISSED'}")
    src_read, back = fig["source read"], fig[READBACK]
    print(
        f"\nreads alone: source {src_read['seconds']:.2f} s (first batch after {src_read['first_batch']:.2f} s);"
        f" destination read-back {back['seconds']:.2f} s (first batch after {back['first_batch']:.2f} s);"
        f" limit + read-back = {fig['limit']['seconds'] + back['seconds']:.2f} s"
    )
    for kind in ("ours --no-verify", "ours"):
        print(f"\n{kind}: where the time went (median run)")
        explain(sorted(runs[kind], key=lambda r: float(r.report["seconds"]))[len(runs[kind]) // 2])
    budget_docs = ours["batch_size"] * ours["parallel"] * READ_AHEAD
    extra = fig["ours"]["max_rss_mb"] - idle.max_rss_mb
    print(
        f"\nmemory: {extra:.0f} MB above an idle client ({idle.max_rss_mb:.0f} MB) for {data_mb:,.0f} MB of data;"
        f" read-ahead budget batch {ours['batch_size']:,} x parallel {ours['parallel']} x {READ_AHEAD}"
        f" = {budget_docs:,} documents"
    )
    runs_s = {kind: [float(r.report["seconds"]) for r in v] for kind, v in runs.items()}
    return {
        "case": case.name,
        "describe": f"{case.describe}; {data_mb:,.0f} MB of BSON",
        "figures": fig,
        "runs": runs_s,
        "ratios": ratios,
        "memory_extra_mb": extra,
    }


#: How the figures file names each copier.
COPIER_LABELS = {
    "original": "original-style script (no indexes, no verification)",
    "mongo-tools": "`mongodump --archive | mongorestore --archive`",
    "ours --no-verify": "this tool, `--no-verify`",
    "ours": "this tool, default (verified)",
    "limit": "destination write-only limit (inserts + index builds)",
}


def figures_markdown(results: Sequence[dict[str, Any]]) -> str:
    """Return the figures file's tables, per case: each copier's wall time, CPU and memory; the targets."""
    parts = []
    for result in results:
        fig, runs = result["figures"], result.get("runs", {})
        rows = []
        for kind in COPIERS:
            if kind not in fig:
                continue
            each = ", ".join(f"{s:.1f}" for s in runs.get(kind, []))
            cpu = "—" if kind == "limit" else f"{fig[kind]['cpu']:.2f} s"
            wall, rss = f"{fig[kind]['seconds']:.2f} s ({each})", f"{fig[kind]['max_rss_mb']:.0f} MB"
            rows.append([COPIER_LABELS[kind], wall, cpu, rss])
        parts.append(f"**{result['case']}** case: {result.get('describe', '')}; medians:")
        parts.append(md_table(["copier", "wall time (runs)", "client CPU", "peak RSS"], rows))
        targets = [
            [name, f"{value:.2f}×", f"≤ {TARGETS[name][3]:.2f}×", "met" if value <= TARGETS[name][3] else "missed"]
            for name, value in result["ratios"].items()
        ]
        parts.append(md_table(["ratio", "measured", "target", ""], targets))
    return "\n\n".join(parts)


def explain(run: ChildRun) -> None:
    """Print a run's levels, its slowest commands (as the driver saw them) and the servers' opcounters."""
    r = run.report
    c = r.get("concurrency") or {}
    print(f"  {r['seconds']:.2f} s; inserts in flight: {c.get('lowest')}-{c.get('highest')}, mean {c.get('mean')},")
    print(f"  changes (s, level): {c.get('changes')}")
    commands = r.get("commands", {})
    for name, f in sorted(commands.items(), key=lambda kv: -float(kv[1]["sum_s"]))[:8]:
        print(
            f"  {name:22s} n={f['n']:5d}  median {f['median_s'] * 1000:8.1f} ms  max {f['max_s'] * 1000:8.1f} ms"
            f"  sum {f['sum_s']:7.2f} s"
        )
    ops = r.get("opcounters", {})
    for side in ("src", "dst"):
        counted = {k: v for k, v in ops.get(side, {}).items() if v}
        print(f"  {side} opcounters: {counted}")
    print(f"  per collection (s, start to verified): {r.get('collections')}")


def run_case(bench: Bench, case: Case, trials: int) -> dict[str, Any]:
    """Measure one case and print its report."""
    idle = run_child(MODULE, "--child", "idle", json.dumps({"src_uri": bench.src_uri}))
    return report(case, measure(bench, case, trials), idle)


def run_restore_case(bench: Bench, sample_docs: int, trials: int, storage: Path | None) -> dict[str, Any]:
    """Measure the restores (``benchmarks/restorers.py``) on the sample and print their report."""
    if not mongo_tools_available():
        raise SystemExit("the restore case compares with mongorestore: set MONGO_TOOLS_BIN")
    case = prepare_sample(bench, sample_docs)
    folder = Path(tempfile.mkdtemp(prefix="bench-dumps-", dir=storage))
    try:
        params = restorers.prepare(bench, case.source_db, folder)
        start_load = restorers.load_average()
        print(f"start: {start_load}", flush=True)
        runs = restorers.measure(bench, params, trials)
        return {**restorers.report(runs, case.describe + f" and {restorers.BACKUP_DB}"), "start_load": start_load}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backup", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--case", choices=("sample", "analytiq", "both", "restore"), default="both", help="default: both"
    )
    parser.add_argument("--docs", type=int, default=200_000, help="analytiq case: documents (default: %(default)s)")
    parser.add_argument("--sample-docs", type=int, default=SAMPLE_DOCS, help="sample case: --docs of the sample")
    parser.add_argument("--trials", type=int, default=3, help="runs per copier; the median is shown")
    parser.add_argument("--quick", action="store_true", help="one run each; the analytiq case with 20,000 documents")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--storage",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="where the servers keep their data (default: /dev/shm, a RAM disk, if present: "
        "disk noise on a shared machine would otherwise swamp the comparison)",
    )
    parser.add_argument("--src-uri", help="run on this server instead of starting one (env:NAME and file:PATH work)")
    parser.add_argument("--dest-uri", help="... and this one as the destination (its bench_* databases are dropped)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    docs, trials = (20_000, 1) if args.quick else (args.docs, args.trials)
    if bool(args.src_uri) != bool(args.dest_uri):
        parser.error("--src-uri and --dest-uri go together")
    if not mongo_tools_available():
        print("mongodump/mongorestore not found in $MONGO_TOOLS_BIN: that column is left out", flush=True)
    homes: list[Path] = []
    if args.src_uri:
        bench = Bench(str(resolve_uri(args.src_uri)), str(resolve_uri(args.dest_uri)))
        print(f"servers: {redact_uri(bench.src_uri)} and {redact_uri(bench.dst_uri)} (given; not restarted)")
    else:
        homes = [Path(tempfile.mkdtemp(prefix=f"bench-{n}-", dir=args.storage)) for n in ("src", "dst")]
        src, dst = TestServer(homes[0], name="bench-src").start(), TestServer(homes[1], name="bench-dst").start()
        bench = Bench(src.uri, dst.uri, src, dst)
        print(f"servers: pid {src.pid} and {dst.pid}, storage under {args.storage or tempfile.gettempdir()}")
    figures = []
    try:
        if args.case in ("sample", "both"):
            figures.append(run_case(bench, prepare_sample(bench, args.sample_docs), trials))
            bench.drop("bench_sample", DEST_DB, *OTHER_DBS)
        if args.case == "restore":
            figures.append(run_restore_case(bench, args.sample_docs, trials, homes[0].parent if homes else None))
            bench.drop("bench_sample", "bench_restored", restorers.BACKUP_DB, *OTHER_DBS)
        if args.case in ("analytiq", "both"):
            figures.append(run_case(bench, prepare_analytiq(bench, docs), trials))
            bench.drop("bench_analytiq", DEST_DB)
        if args.json:
            print(json.dumps(figures, indent=2))
        if not args.quick and args.case == "restore":
            text = restorers.figures_markdown(figures[0], figures[0]["start_load"])
            written = write_figures("restore", "python -m benchmarks.backup --case restore", text)
            print(f"figures written to {written}")
        elif not args.quick:
            written = write_figures("backup", "python -m benchmarks.backup", figures_markdown(figures))
            print(f"figures written to {written}")
    finally:
        for server in (bench.src, bench.dst):
            if server is not None:
                server.cleanup()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(home.parent / f"{home.name}-snapshot", ignore_errors=True)
            (home.parent / f"{home.name}.log").unlink(missing_ok=True)  # the server's log, beside its storage
    return 0


if __name__ == "__main__":
    sys.exit(main())
