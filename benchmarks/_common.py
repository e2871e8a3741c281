"""Shared by the benchmarks: an Analytiq-shaped database, and running a measured step in a child process."""

from __future__ import annotations

import datetime
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import ObjectId, encode
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from analytiq_data.migrations.analytiq.shapes import fields_to_json_schema

UTC = datetime.UTC
START = datetime.datetime(2024, 1, 1, tzinfo=UTC)

#: Share of the documents in each collection, and the indexes each has (as the application creates them).
COLLECTIONS: dict[str, float] = {"llm.runs": 0.80, "docs": 0.15, "prompts": 0.03, "schemas": 0.02}
INDEXES: dict[str, list[dict[str, Any]]] = {
    "llm.runs": [{"key": {"document_id": 1, "prompt_revid": 1}, "name": "document_id_1_prompt_revid_1"}],
    "docs": [{"key": {"organization_id": 1, "upload_date": -1}, "name": "organization_id_1_upload_date_-1"}],
    "schemas": [{"key": {"organization_id": 1, "name": 1}, "name": "organization_id_1_name_1", "unique": True}],
    "prompts": [{"key": {"organization_id": 1}, "name": "organization_id_1"}],
}
FIELDS = ["invoice_number", "vendor_name", "total_amount", "due_date", "currency", "customer_name", "tax", "po_number"]


def _ids(rng: random.Random, n: int) -> list[str]:
    return [str(ObjectId(rng.randbytes(12))) for _ in range(n)]


def llm_run(i: int, rng: random.Random, docs: list[str], prompts: list[str]) -> dict[str, Any]:
    """Return an ``llm.runs`` document: a prompt's result for a document, with nested ``llm_result``."""
    result: dict[str, Any] = {
        f: rng.choice([f"value {i}", rng.random() * 1000, None, True]) for f in FIELDS[: rng.randint(3, 8)]
    }
    result["line_items"] = [
        {"description": f"item {k}", "quantity": rng.randint(1, 9), "amount": round(rng.random() * 500, 2)}
        for k in range(rng.randint(0, 5))
    ]
    created = START + datetime.timedelta(seconds=i * 7)
    return {
        "_id": ObjectId(),
        "prompt_id": rng.choice(prompts),
        "prompt_revid": rng.choice(prompts),
        "prompt_version": rng.randint(0, 6),
        "document_id": rng.choice(docs),
        "llm_result": result,
        "updated_llm_result": dict(result),
        "is_edited": False,
        "is_verified": rng.random() < 0.3,
        "created_at": created,
        "updated_at": created,
    }


def doc(i: int, rng: random.Random, orgs: list[str]) -> dict[str, Any]:
    """Return a ``docs`` document: an uploaded file's metadata."""
    return {
        "_id": ObjectId(),
        "organization_id": rng.choice(orgs),
        "user_file_name": f"scan_{i:06d}.pdf",
        "mongo_file_name": f"{ObjectId()}.pdf",
        "document_id": str(ObjectId()),
        "upload_date": START + datetime.timedelta(minutes=i),
        "uploaded_by": f"user{rng.randint(1, 40)}@example.com",
        "state": rng.choice(["uploaded", "ocr_completed", "llm_completed"]),
        "tag_ids": _ids(rng, rng.randint(0, 3)),
        "metadata": {"pages": rng.randint(1, 30), "source": "upload"},
    }


def schema(i: int, rng: random.Random, orgs: list[str]) -> dict[str, Any]:
    """Return a ``schemas`` document in the current ``response_format`` shape."""
    fields = [{"name": f, "type": "str"} for f in rng.sample(FIELDS, rng.randint(2, 6))]
    return {
        "_id": ObjectId(),
        "name": f"schema {i}",
        "response_format": fields_to_json_schema(fields),
        "schema_version": rng.randint(1, 4),
        "created_at": START + datetime.timedelta(hours=i),
        "created_by": f"user{rng.randint(1, 40)}",
        "organization_id": orgs[i % len(orgs)],
    }


def prompt(i: int, rng: random.Random, orgs: list[str]) -> dict[str, Any]:
    """Return a ``prompts`` document."""
    return {
        "_id": ObjectId(),
        "name": f"prompt {i}",
        "content": "Extract the fields of this invoice. " * rng.randint(3, 15),
        "schema_id": str(ObjectId()),
        "model": rng.choice(["gpt-4o-mini", "claude-3-5-sonnet", "gemini-1.5-pro"]),
        "tag_ids": _ids(rng, rng.randint(0, 2)),
        "organization_id": rng.choice(orgs),
        "created_at": START + datetime.timedelta(hours=i),
    }


def analytiq_documents(total: int, seed: int = 1) -> Iterator[tuple[str, RawBSONDocument]]:
    """Yield ``(collection, raw document)`` pairs: ``total`` documents shaped like Analytiq's data."""
    rng = random.Random(seed)
    orgs, prompts, docs = _ids(rng, 20), _ids(rng, 60), _ids(rng, 5000)
    makers = {"llm.runs": lambda i: llm_run(i, rng, docs, prompts), "docs": lambda i: doc(i, rng, orgs)}
    makers |= {"schemas": lambda i: schema(i, rng, orgs), "prompts": lambda i: prompt(i, rng, orgs)}
    for name, share in COLLECTIONS.items():
        for i in range(int(total * share)):
            yield name, RawBSONDocument(encode(makers[name](i)))


def load(uri: str, db_name: str, total: int) -> int:
    """Fill ``db_name`` with ``total`` Analytiq-shaped documents and the application's indexes; return the count."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        db = client[db_name]
        batch: list[RawBSONDocument] = []
        current, count = "", 0
        for name, raw in analytiq_documents(total):
            if name != current and batch:
                db[current].insert_many(batch, ordered=False)
                batch = []
            current = name
            batch.append(raw)
            count += 1
            if len(batch) == 1000:
                db[current].insert_many(batch, ordered=False)
                batch = []
        if batch:
            db[current].insert_many(batch, ordered=False)
        for name, specs in INDEXES.items():
            db.command("createIndexes", name, indexes=specs)
        return count
    finally:
        client.close()


def cpu_seconds(pid: int) -> float:
    """Return the CPU time a process has used so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pids: list[int], *, window_s: float = 0.5, limit_s: float = 120.0) -> None:
    """Wait until the processes use under 5% of a CPU over ``window_s`` (e.g. a drop finishing its work)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = sum(map(cpu_seconds, pids))
        time.sleep(window_s)  # measuring a rate over a window, not waiting for an event
        if sum(map(cpu_seconds, pids)) - before < 0.05 * window_s * len(pids):
            return


@dataclass(frozen=True)
class ChildRun:
    """What a measured child process reported (its own JSON) and what the kernel says it used."""

    report: dict[str, Any]
    cpu_s: float  # user + system CPU of the child, from its resource usage
    max_rss_mb: float  # peak resident memory of the child


def run_child(module: str, *args: str) -> ChildRun:
    """Run ``python -m module args`` and return its JSON report (last stdout line) and resource usage."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {module} {args} failed with exit code {proc.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    return ChildRun(report, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
