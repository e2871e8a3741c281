"""Benchmark point-in-time recovery: follower lag and RSS under a writer, replay speed, segment size.

``python -m benchmarks.pitr [--seconds 20] [--events 0]`` starts its own SecantusDB server
(tools.testserver) and prints three figures, each against a baseline measured in the same run:

1. **Follower under a writer**: a writer process sends inserts, updates and deletes as fast as the
   server takes them (its write-only limit: one writer, batches of 100) for ``--seconds`` (the
   issue's long run: ``--seconds 600``, or ``--events 1000000`` to stop after that many events);
   ``analytiq-db follow --json`` logs them. Reported: max and final lag (seconds behind the source's
   cluster time), events/s of the follower vs the writer, the follower's RSS at start, max and end.
2. **Replay vs plain bulk writes**: the logged events replayed on a fresh copy of the seed
   (``backup.log.replay``, as ``restore --from-log`` does), against the same inserts, updates and
   deletes sent as plain ordered bulk writes by ``_id`` (target: replay ≤ 1.5x).
3. **Segment bytes per event** vs the events' raw BSON size, without gzip (target ≤ 1.2x) and
   with gzip (level 6, as ``--gzip`` closes a segment).

The machine is shared: the ``uptime`` load averages are printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, DeleteOne, InsertOne, MongoClient, UpdateOne

from analytiq_data.backup.log.catalog import load_catalog
from analytiq_data.backup.log.format import previous
from analytiq_data.backup.log.replay import Replay
from analytiq_data.backup.log.segment import parse, read_file
from benchmarks.figures import md_table, write_figures
from tools.testserver import TestServer

SEED = 10_000
ADB = str(Path(sys.executable).parent / "analytiq-db")

WRITER = r"""
import sys, time
from pymongo import MongoClient
uri, db, seconds, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
coll = MongoClient(uri)[db].items
n, events, end = 0, 0, time.monotonic() + seconds
while time.monotonic() < end and (limit == 0 or events < limit):
    ids = list(range(1_000_000 + n * 100, 1_000_000 + n * 100 + 100))
    coll.insert_many([{"_id": i, "v": i, "tag": "w", "nested": {"n": i}} for i in ids], ordered=True)
    coll.update_many({"_id": {"$in": ids[:50]}}, {"$inc": {"v": 1}, "$set": {"nested.m": n}})
    coll.delete_many({"_id": {"$in": ids[90:]}})
    events += 160
    n += 1
print(events)
"""


def rss_kb(pid: int) -> int:
    """Return a process's resident set size in KiB (0 once it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def follower_under_writer(uri: str, folder: Path, seconds: float, limit: int) -> dict[str, Any]:
    """Run the follower while the writer writes; return lag, rates and RSS."""
    follower = subprocess.Popen(
        [ADB, "follow", "--src-uri", uri, "--src", "bench", "--to", str(folder), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    statuses: list[dict[str, Any]] = []
    rss: list[int] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            doc = json.loads(line)
            if "status" in doc:
                statuses.append(doc["status"])
                rss.append(rss_kb(follower.pid))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not any(s["state"] == "following" for s in statuses):
        time.sleep(0.1)  # a benchmark's poll for the follower to have its base
    t0 = time.monotonic()
    wrote = subprocess.run(
        [sys.executable, "-c", WRITER, uri, "bench", str(seconds), str(limit)], capture_output=True, text=True
    )
    write_s = time.monotonic() - t0
    events = int(wrote.stdout.strip() or 0)
    during = [s for s in statuses]
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        last = client.admin.command("hello")["lastWrite"]["opTime"]["ts"]
    while (
        not statuses
        or statuses[-1]["durable"] is None
        or ((statuses[-1]["durable"]["t"], statuses[-1]["durable"]["i"]) < (last.time, last.inc))
    ):
        time.sleep(0.1)
    caught_s = time.monotonic() - t0
    follower.terminate()
    follower.wait()
    reader.join(timeout=5)
    lags = [s["lag_s"] for s in during if s.get("lag_s") is not None]
    return {
        "events": events,
        "writer_events_per_s": events / write_s,
        "follower_events_per_s": events / caught_s,
        "max_lag_s": max(lags or [0]),
        "caught_up_after_writer_s": caught_s - write_s,
        "rss_mb_start": (rss[0] if rss else 0) / 1024,
        "rss_mb_max": max(rss or [0]) / 1024,
        "rss_mb_end": (rss[-1] if rss else 0) / 1024,
    }


def logged(folder: Path) -> tuple[list[Any], int, int]:
    """Return the log's events, its segments' bytes and the events' raw BSON bytes."""
    catalog = load_catalog(folder)
    events: list[Any] = []
    stored = raw = 0
    for entry in catalog.segments:
        events += parse(read_file(folder / entry["file"]), entry["file"]).events
        stored += int(entry["bytes"])
        raw += int(entry["raw_bytes"])
    return events, stored, raw


def plain_requests(events: list[Any]) -> list[Any]:
    """Return the events as plain ordered bulk writes by ``_id`` (the write-only baseline)."""
    out: list[Any] = []
    for e in events:
        op, key = e["operationType"], (e.get("documentKey") or {}).get("_id")
        if op == "insert":
            out.append(InsertOne(e["fullDocument"]))
        elif op == "update":
            out.append(UpdateOne({"_id": key}, {"$set": dict(e["updateDescription"]["updatedFields"])}))
        elif op == "delete":
            out.append(DeleteOne({"_id": key}))
    return out


async def replay_vs_plain(uri: str, events: list[Any]) -> dict[str, float]:
    """Time the replay and the plain bulk writes of the same events, each on a fresh copy of the seed."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    seed = [{"_id": i, "v": i, "tag": "seed", "nested": {"n": i}} for i in range(SEED)]
    try:
        for name in ("bench_plain", "bench_replay"):
            await client.drop_database(name)
            await client[name].items.insert_many(seed)
        requests = plain_requests(events)
        t0 = time.monotonic()
        for start in range(0, len(requests), 5000):
            await client.bench_plain.items.bulk_write(requests[start : start + 5000], ordered=True)
        plain_s = time.monotonic() - t0
        replay = Replay(client.bench_replay, "bench", lambda name: name == "items")
        first = events[0]["clusterTime"]
        t0 = time.monotonic()
        await replay.apply(events, events[-1]["clusterTime"], previous(first))
        replay_s = time.monotonic() - t0
        same = await client.bench_plain.items.count_documents({}) == await client.bench_replay.items.count_documents({})
        for name in ("bench_plain", "bench_replay"):
            await client.drop_database(name)
    finally:
        await client.close()
    return {"events": len(events), "plain_s": plain_s, "replay_s": replay_s, "ratio": replay_s / plain_s, "same": same}


def main() -> None:
    """Run the three measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the writer writes (default 20)")
    parser.add_argument("--events", type=int, default=0, help="stop the writer after this many events (0: no limit)")
    args = parser.parse_args()
    server = TestServer(name="pitr-bench").start()
    work = Path(tempfile.mkdtemp(prefix="pitr-bench-"))
    try:
        seeder: MongoClient[dict[str, Any]] = MongoClient(server.uri)
        with seeder:
            docs: list[dict[str, Any]] = [{"_id": i, "v": i, "tag": "seed", "nested": {"n": i}} for i in range(SEED)]
            seeder.bench.items.insert_many(docs)
        folder = work / "log"
        follow = follower_under_writer(server.uri, folder, args.seconds, args.events)
        events, stored, raw = logged(folder)
        plain = b"".join(read_file(folder / e["file"]) for e in load_catalog(folder).segments)
        gz = len(gzip.compress(plain, compresslevel=6))
        speed = asyncio.run(replay_vs_plain(server.uri, events))
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)  # the log: about 400 bytes per event
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {load}")
    print(
        f"follower under a writer: {follow['events']:,} events in {args.seconds:g} s; writer "
        f"{follow['writer_events_per_s']:,.0f} events/s, follower {follow['follower_events_per_s']:,.0f} events/s; "
        f"max lag {follow['max_lag_s']:.0f} s, caught up {follow['caught_up_after_writer_s']:.1f} s after the writer "
        f"stopped; RSS {follow['rss_mb_start']:.0f} MB at start, {follow['rss_mb_max']:.0f} MB max, "
        f"{follow['rss_mb_end']:.0f} MB at the end"
    )
    print(
        f"replay: {speed['events']:,} events in {speed['replay_s']:.2f} s "
        f"({speed['events'] / speed['replay_s']:,.0f}/s) "
        f"vs plain ordered bulk writes {speed['plain_s']:.2f} s ({speed['events'] / speed['plain_s']:,.0f}/s): "
        f"{speed['ratio']:.2f}x (target <= 1.5x); same count: {speed['same']}"
    )
    print(
        f"segment size: {stored / raw:.3f}x the events' raw BSON without gzip (target <= 1.2x); "
        f"{gz / raw:.3f}x with gzip ({stored / max(1, len(events)):.0f} bytes per event stored)"
    )
    command = "python -m benchmarks.pitr" + (f" --seconds {args.seconds:g}" if args.seconds != 20.0 else "")
    command += f" --events {args.events}" if args.events else ""
    text = figures_markdown(follow, speed, stored / raw, gz / raw, args.seconds, load)
    written = write_figures("pitr", command, text)
    print(f"figures written to {written}")


def figures_markdown(
    follow: dict[str, Any], speed: dict[str, Any], size: float, gzipped: float, seconds: float, load: str
) -> str:
    """Return the figures file: the follower under a writer, replay against plain bulk writes, segment size."""
    rows = [
        [
            "follower vs writer",
            f"{follow['follower_events_per_s']:,.0f} vs {follow['writer_events_per_s']:,.0f} events/s over "
            f"{seconds:g} s; max lag {follow['max_lag_s']:.0f} s",
            "lag bounded",
        ],
        [
            "follower RSS (start / max / end)",
            f"{follow['rss_mb_start']:.0f} / {follow['rss_mb_max']:.0f} / {follow['rss_mb_end']:.0f} MB",
            "flat",
        ],
        [
            "replay vs plain ordered bulk writes by _id",
            f"{speed['events'] / speed['replay_s']:,.0f} vs {speed['events'] / speed['plain_s']:,.0f} events/s "
            f"= {speed['ratio']:.2f}x",
            "<= 1.5x",
        ],
        ["segment bytes vs the events' raw BSON", f"{size:.2f}x (gzip: {gzipped:.3f}x)", "<= 1.2x"],
    ]
    return f"{load.split('load average:')[-1].strip()} (load averages at the end).\n\n" + md_table(
        ["what", "figure", "target"], rows
    )


if __name__ == "__main__":
    main()
