"""The copiers the backup benchmark compares, each run in its own child process (or, mongo-tools, a pipe).

- original: the original script re-created (sync PyMongo, ``list_collection_names()``, ``find()``
  into ``insert_many`` batches of 1,000 decoded dicts with a "copied/total" line; no indexes, no
  options, no verification);
- mongo-tools: ``mongodump --archive | mongorestore --archive`` (the real binaries, from
  ``MONGO_TOOLS_BIN``, default ``/work/shared/mongo-tools``), renaming with ``--nsFrom/--nsTo``;
- ours --no-verify / ours: this tool through its Python API, without and with verification; a
  command listener and ``serverStatus`` opcounters say where its time went;
- limit: the destination's own limit: the documents already in memory as raw BSON inserted (one
  writer, batches of 1,000) and the same indexes built, nothing else running.

Wall time and client CPU of the Python copiers are measured inside the child around the copy only;
mongo-tools' CPU is the kernel's figure for both processes (they start in milliseconds).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, monitoring

from benchmarks._common import ChildRun

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
MONGO_TOOLS = Path(os.environ.get("MONGO_TOOLS_BIN", "/work/shared/mongo-tools"))


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


class Commands(monitoring.CommandListener):
    """Per server and command name: how many, and how long each took (from the driver's side)."""

    def __init__(self) -> None:
        self.open: dict[int, tuple[float, str, str]] = {}
        self.took: dict[tuple[str, str], list[float]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        host = f"{event.connection_id[0]}:{event.connection_id[1]}"
        self.open[event.request_id] = (time.perf_counter(), host, event.command_name)

    def ended(self, request_id: int) -> None:
        begun = self.open.pop(request_id, None)
        if begun is not None:
            self.took.setdefault((begun[1], begun[2]), []).append(time.perf_counter() - begun[0])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.ended(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.ended(event.request_id)

    def summary(self, hosts: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Return ``{"dst insert": {n, median_s, max_s, sum_s}, ...}`` with hosts named by ``hosts``."""
        out: dict[str, dict[str, Any]] = {}
        for (host, name), values in sorted(self.took.items()):
            key = f"{hosts.get(host, host)} {name}"
            out[key] = {
                "n": len(values),
                "median_s": round(statistics.median(values), 4),
                "max_s": round(max(values), 4),
                "sum_s": round(sum(values), 3),
            }
        return out


def opcounters(uri: str) -> dict[str, int]:
    """Return the server's ``serverStatus.opcounters``."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return {k: int(v) for k, v in client.admin.command("serverStatus")["opcounters"].items()}
    finally:
        client.close()


def _host(uri: str) -> str:
    return uri.split("://", 1)[1].split("/", 1)[0].split(",")[0]


def child_ours(p: dict[str, Any], verify: bool) -> dict[str, Any]:
    """This tool through its Python API, with its defaults (``verify`` as given); what its commands took."""
    listener = Commands()
    monitoring.register(listener)
    from analytiq_data.backup import BackupOptions, backup

    options = BackupOptions(
        src_uri=p["src_uri"], dest_uri=p["dst_uri"], src_db=p["src_db"], dest_db=p["dst_db"], verify=verify
    )
    before = {side: opcounters(p[f"{side}_uri"]) for side in ("src", "dst")}
    listener.took.clear()
    started, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(backup(options))
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    after = {side: opcounters(p[f"{side}_uri"]) for side in ("src", "dst")}
    concurrency = result.concurrency.to_dict() if result.concurrency else {}
    return {
        "seconds": seconds,
        "cpu": cpu_s,
        "documents": result.documents,
        "bytes": result.nbytes,
        "verified": result.verified,
        "parallel": options.parallel,
        "batch_size": options.batch_size,
        "concurrency": concurrency,
        "commands": listener.summary({_host(p["src_uri"]): "src", _host(p["dst_uri"]): "dst"}),
        "opcounters": {s: {k: after[s][k] - before[s][k] for k in after[s]} for s in after},
        "collections": {c.name: round(c.seconds, 2) for c in result.collections},
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


def mongo_tools_available() -> bool:
    """Return whether ``mongodump`` and ``mongorestore`` are in ``MONGO_TOOLS_BIN``."""
    return all(os.access(MONGO_TOOLS / tool, os.X_OK) for tool in ("mongodump", "mongorestore"))


def run_mongo_tools(p: dict[str, Any]) -> ChildRun:
    """Run ``mongodump --archive | mongorestore --archive`` (renaming the database); time it, with its CPU."""
    dump = [str(MONGO_TOOLS / "mongodump"), f"--uri={p['src_uri']}", f"--db={p['src_db']}", "--archive", "--quiet"]
    restore = [
        str(MONGO_TOOLS / "mongorestore"),
        f"--uri={p['dst_uri']}",
        "--archive",
        f"--nsFrom={p['src_db']}.*",
        f"--nsTo={p['dst_db']}.*",
        "--quiet",
    ]
    command = f"{shlex.join(dump)} | {shlex.join(restore)}"
    started = time.perf_counter()
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", command])
    _, status, usage = os.wait4(proc.pid, 0)  # the shell's figures include both tools (its waited children)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"mongodump | mongorestore failed ({os.waitstatus_to_exitcode(status)})")
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun({"seconds": seconds, "cpu": cpu}, cpu, usage.ru_maxrss / 1024)
