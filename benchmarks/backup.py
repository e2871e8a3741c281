"""Benchmark the backup: this tool vs the original backup_db.py vs the destination's own limit.

``python -m benchmarks.backup [--docs N] [--trials N] [--quick]`` starts its own two SecantusDB
servers (tools.testserver) — or, with ``--src-uri URI --dest-uri URI``, runs on two servers given
(two mongod, say; only the databases ``bench_analytiq`` and ``bench_copy`` are written, and dropped
at the end) — fills the source with an Analytiq-shaped database (default 200,000
documents: llm.runs with nested llm_result dicts, docs, prompts, schemas, with the application's
indexes), then, on the same two servers, runs each copier in its own child process:

- original: a re-creation of the original script (sync PyMongo, decoded dicts, ``insert_many`` of
  1,000, no indexes, no options, no verification);
- ours --no-verify: this tool's copy phase (documents, indexes, options);
- ours: this tool as run by default (copy, then verification);
- limit: the destination's own limit: the documents already read into memory as raw BSON are
  inserted (one writer, batches of 1,000) and the same indexes built, nothing else running.

Two reads alone show where the time goes on these servers (each read as raw BSON with ``find``, in
batches of 1,000, nothing else running): the source read whole (with the wait for the first batch
of its largest collection), and the destination's copy read back whole right after a default run
(what verification has to read). A server that runs writes and reads on one thread cannot take a
verified copy faster than its limit plus that read-back.

Each figure is the median of ``--trials`` runs (default 3; tools interleaved; before each run the
destination server is restarted empty on the same port, as a server copies its first database
faster than later ones, and both servers are left to go idle). Wall time and client CPU are measured inside each child
around the copy only; peak memory is the child's ``ru_maxrss``. Targets: copy phase within 1.15x
of the limit; default run (verification included) no slower than the original's unverified
copy; client CPU at most 1/3 of the original's; memory bounded by batch x parallelism.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from analytiq_data.backup.copy import READ_AHEAD
from analytiq_data.uri import redact_uri, resolve_uri
from benchmarks._common import ChildRun, load, run_child, wait_idle
from tools.testserver import TestServer

MODULE = "benchmarks.backup"
#: The copiers compared in the table; the runs also read the source alone.
COPIERS = ("original", "ours --no-verify", "ours", "limit")
KINDS = (*COPIERS, "source read")
#: Measured right after each default run, on the copy it left in the destination.
READBACK = "read-back"
TARGETS = {"copy_vs_limit": 1.15, "default_vs_original": 1.0, "copy_cpu_vs_original": 1 / 3, "cpu_vs_original": 1 / 3}
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
SOURCE_DB, DEST_DB = "bench_analytiq", "bench_copy"


def child_original(p: dict[str, Any]) -> dict[str, Any]:
    """The original script: list collections, find() into insert_many batches of 1,000 decoded dicts."""
    src: MongoClient[dict[str, Any]] = MongoClient(p["src_uri"])
    dst: MongoClient[dict[str, Any]] = MongoClient(p["dst_uri"])
    out = open(os.devnull, "w")  # the original printed progress: keep its cost, not its text
    started, cpu = time.perf_counter(), time.process_time()
    copied_all = 0
    for name in src[p["src_db"]].list_collection_names():
        total = src[p["src_db"]][name].estimated_document_count()
        batch: list[dict[str, Any]] = []
        copied = 0
        for document in src[p["src_db"]][name].find():
            batch.append(document)
            if len(batch) == 1000:
                dst[p["dst_db"]][name].insert_many(batch)
                copied += len(batch)
                print(f"copied {copied}/{total}", file=out)
                batch = []
        if batch:
            dst[p["dst_db"]][name].insert_many(batch)
            copied += len(batch)
        copied_all += copied
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "documents": copied_all}


def child_ours(p: dict[str, Any], verify: bool) -> dict[str, Any]:
    """This tool through its Python API, with its defaults (``verify`` as given)."""
    from analytiq_data.backup import BackupOptions, backup

    options = BackupOptions(
        src_uri=p["src_uri"], dest_uri=p["dst_uri"], src_db=p["src_db"], dest_db=p["dst_db"], verify=verify
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(backup(options))
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "documents": result.documents,
        "verified": result.verified,
        "parallel": options.parallel,
        "batch_size": options.batch_size,
    }


def child_limit(p: dict[str, Any]) -> dict[str, Any]:
    """The destination's limit: insert documents already in memory (raw) and build the same indexes."""
    src: MongoClient[dict[str, Any]] = MongoClient(p["src_uri"])
    dst: MongoClient[dict[str, Any]] = MongoClient(p["dst_uri"])
    db = src[p["src_db"]]
    names = db.list_collection_names()
    docs = {n: list(db.get_collection(n, codec_options=RAW).find()) for n in names}
    indexes = {n: [s for s in db[n].list_indexes() if s["name"] != "_id_"] for n in names}
    started = time.perf_counter()
    for name in names:
        target = dst[p["dst_db"]].get_collection(name, codec_options=RAW)
        for i in range(0, len(docs[name]), 1000):
            target.insert_many(docs[name][i : i + 1000], ordered=False)
        if indexes[name]:
            dst[p["dst_db"]].command("createIndexes", name, indexes=indexes[name])
    return {"seconds": time.perf_counter() - started, "documents": sum(map(len, docs.values()))}


def read_alone(uri: str, db_name: str) -> dict[str, Any]:
    """Read every collection of ``db_name`` whole as raw BSON, largest first; time the first batch and all."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client[db_name]
    names = sorted(db.list_collection_names(), key=lambda n: -db[n].estimated_document_count())
    started = time.perf_counter()
    first_batch = None
    documents = 0
    for name in names:
        for _ in db.get_collection(name, codec_options=RAW).find({}, batch_size=1000):
            if first_batch is None:
                first_batch = time.perf_counter() - started
            documents += 1
    return {"seconds": time.perf_counter() - started, "first_batch": first_batch or 0.0, "documents": documents}


def child_idle(p: dict[str, Any]) -> dict[str, Any]:
    """A client that imports everything and connects, copying nothing: the memory floor."""
    from analytiq_data.backup import BackupOptions  # noqa: F401

    client: MongoClient[dict[str, Any]] = MongoClient(p["src_uri"])
    client.admin.command("ping")
    return {"seconds": 0.0}


def child(kind: str, params: str) -> int:
    """Run one measured copy in this (child) process and print its report as JSON."""
    p = json.loads(params)
    runners = {
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


def reset(server: TestServer) -> None:
    """Restart ``server`` empty, on the same port: every copier starts from the same state."""
    server.stop()
    shutil.rmtree(server.storage, ignore_errors=True)
    server.storage.mkdir(parents=True)
    server.restart()


@dataclass
class Bench:
    """The two servers a benchmark runs on, and how to bring them back to the same state before each run.

    Started here (SecantusDB, the default): the destination is restarted empty and both servers are
    left to go idle. Given by URI (``--src-uri``/``--dest-uri``, e.g. two mongod): the destination
    database is dropped; the servers are not ours to restart or watch.
    """

    src_uri: str
    dst_uri: str
    src: TestServer | None = None
    dst: TestServer | None = None

    def reset(self) -> None:
        """Make the destination empty."""
        if self.dst is not None:
            reset(self.dst)
        else:
            client: MongoClient[dict[str, Any]] = MongoClient(self.dst_uri)
            client.drop_database(DEST_DB)
            client.close()

    def settle(self) -> None:
        """Wait for servers started here to go idle (servers given by URI are not watched)."""
        if self.src is not None and self.dst is not None:
            wait_idle([self.src.pid, self.dst.pid])


def measure(bench: Bench, trials: int) -> dict[str, list[ChildRun]]:
    """Run every copier ``trials`` times (order rotated per trial) and return their runs.

    Before each run the destination is made empty (servers started here are restarted: a server
    copies its first database faster than later ones, and the data of dropped databases lingers),
    and both servers are idle.
    """
    runs: dict[str, list[ChildRun]] = {k: [] for k in (*KINDS, READBACK)}
    params = {"src_uri": bench.src_uri, "dst_uri": bench.dst_uri, "src_db": SOURCE_DB, "dst_db": DEST_DB}
    for trial in range(trials):
        order = KINDS[trial % len(KINDS) :] + KINDS[: trial % len(KINDS)]
        for kind in order:
            bench.reset()
            bench.settle()
            run = run_child(MODULE, "--child", kind, json.dumps(params))
            runs[kind].append(run)
            print(f"  trial {trial + 1}: {kind:18s} {run.report['seconds']:7.2f}s", flush=True)
            if kind == "ours":  # the verified copy is in the destination: read it back alone
                bench.settle()
                back = run_child(MODULE, "--child", READBACK, json.dumps(params))
                runs[READBACK].append(back)
                print(f"  trial {trial + 1}: {READBACK:18s} {back.report['seconds']:7.2f}s", flush=True)
    bench.reset()
    return runs


def median(runs: Sequence[ChildRun], key: str) -> float:
    """Return the median of one figure over runs (``cpu_s``/``max_rss_mb`` from the kernel, else the report)."""
    values = [float(getattr(r, key)) if key in ("max_rss_mb",) else float(r.report.get(key, 0.0)) for r in runs]
    return statistics.median(values)


def report(runs: dict[str, list[ChildRun]], idle: ChildRun, docs: int, data_mb: float) -> dict[str, Any]:
    """Print the table and the ratios against the targets; return the figures."""
    fig = {
        k: {
            "seconds": median(v, "seconds"),
            "cpu": median(v, "cpu"),
            "rss": median(v, "max_rss_mb"),
            "first_batch": median(v, "first_batch"),
        }
        for k, v in runs.items()
    }
    print(f"\n{docs:,} documents, {data_mb:,.0f} MB of BSON; medians of {len(runs['ours'])} runs")
    print(f"{'copier':18s} {'wall s':>8s} {'client CPU s':>13s} {'peak RSS MB':>12s}")
    for kind in COPIERS:
        f = fig[kind]
        cpu = f"{f['cpu']:.2f}" if kind != "limit" else "-"
        print(f"{kind:18s} {f['seconds']:8.2f} {cpu:>13s} {f['rss']:12.0f}")
    ours = runs["ours"][0].report
    budget_docs = ours["batch_size"] * ours["parallel"] * READ_AHEAD
    budget_mb = budget_docs * data_mb / docs
    ratios = {
        "copy_vs_limit": fig["ours --no-verify"]["seconds"] / fig["limit"]["seconds"],
        "default_vs_original": fig["ours"]["seconds"] / fig["original"]["seconds"],
        "copy_cpu_vs_original": fig["ours --no-verify"]["cpu"] / fig["original"]["cpu"],
        "cpu_vs_original": fig["ours"]["cpu"] / fig["original"]["cpu"],
    }
    src_read, back = fig["source read"], fig[READBACK]
    floor = fig["limit"]["seconds"] + back["seconds"]
    print(
        f"\nreads alone: source {src_read['seconds']:.2f} s (first batch of the largest collection after"
        f" {src_read['first_batch']:.2f} s); destination read-back {back['seconds']:.2f} s"
        f" (first batch after {back['first_batch']:.2f} s)"
    )
    print(
        f"where the destination reads and writes on one thread (SecantusDB), a verified copy needs at least"
        f" limit + read-back = {floor:.2f} s; the original's unverified copy took {fig['original']['seconds']:.2f} s"
    )
    print()
    for name, value in ratios.items():
        verdict = "ok" if value <= TARGETS[name] else "MISSED"
        print(f"{name:20s} {value:5.2f}  (target <= {TARGETS[name]:.2f}) {verdict}")
    extra = fig["ours"]["rss"] - idle.max_rss_mb
    print(
        f"{'memory':20s} {extra:5.0f} MB above an idle client ({idle.max_rss_mb:.0f} MB)"
        f" for {data_mb:,.0f} MB of data;"
        f" read-ahead budget (batch {ours['batch_size']:,} x parallel {ours['parallel']} x {READ_AHEAD})"
        f" = {budget_docs:,} documents = {budget_mb:.0f} MB of BSON"
    )
    return {
        "figures": fig,
        "ratios": ratios,
        "verified_floor_s": floor,
        "memory_extra_mb": extra,
        "read_ahead_mb": budget_mb,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backup", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=200_000, help="documents in the source (default: %(default)s)")
    parser.add_argument("--trials", type=int, default=3, help="runs per copier; the median is shown")
    parser.add_argument("--quick", action="store_true", help="20,000 documents, one run")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--storage",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="where the servers keep their data (default: /dev/shm, a RAM disk, if present: "
        "disk noise on a shared machine would otherwise swamp the comparison)",
    )
    parser.add_argument("--src-uri", help="run on this server instead of starting one (env:NAME and file:PATH work)")
    parser.add_argument("--dest-uri", help="... and this one as the destination (its database 'bench_copy' is dropped)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    docs, trials = (20_000, 1) if args.quick else (args.docs, args.trials)
    if bool(args.src_uri) != bool(args.dest_uri):
        parser.error("--src-uri and --dest-uri go together")
    homes: list[Path] = []
    if args.src_uri:
        bench = Bench(str(resolve_uri(args.src_uri)), str(resolve_uri(args.dest_uri)))
        print(f"servers: {redact_uri(bench.src_uri)} and {redact_uri(bench.dst_uri)} (given; not restarted)")
    else:
        homes = [Path(tempfile.mkdtemp(prefix=f"bench-{n}-", dir=args.storage)) for n in ("src", "dst")]
        src, dst = TestServer(homes[0], name="bench-src").start(), TestServer(homes[1], name="bench-dst").start()
        bench = Bench(src.uri, dst.uri, src, dst)
        print(f"servers: pid {src.pid} and {dst.pid}, storage under {args.storage or tempfile.gettempdir()}")
    try:
        print(f"loading {docs:,} Analytiq-shaped documents into the source ...", flush=True)
        client: MongoClient[dict[str, Any]] = MongoClient(bench.src_uri)
        client.drop_database(SOURCE_DB)
        loaded = load(bench.src_uri, SOURCE_DB, docs)
        data_mb = client[SOURCE_DB].command("dbStats")["dataSize"] / 1024 / 1024
        idle = run_child(MODULE, "--child", "idle", json.dumps({"src_uri": bench.src_uri}))
        figures = report(measure(bench, trials), idle, loaded, data_mb)
        if args.json:
            print(json.dumps(figures, indent=2))
        client.drop_database(SOURCE_DB)  # servers given by URI are left without the benchmark's databases
        client.close()
    finally:
        for server in (bench.src, bench.dst):
            if server is not None:
                server.cleanup()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
