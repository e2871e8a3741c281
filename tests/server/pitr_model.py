"""The database the point-in-time tests expect at a moment: the seed plus exactly the logged writes up to it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bson.timestamp import Timestamp

from tests.server.pitr_writer import SEED, seed_doc

COLLECTIONS = ("c0", "c1", "c2")


def seed_state() -> dict[str, dict[Any, dict[str, Any]]]:
    """Return the seeded collections (``_id`` → document)."""
    return {c: {i: seed_doc(c, i) for i in range(SEED)} for c in COLLECTIONS}


def read_log(path: Path) -> list[dict[str, Any]]:
    """Return the writer's log entries, in write order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def when(entry: dict[str, Any]) -> Timestamp:
    """Return the cluster time of a logged write."""
    return Timestamp(int(entry["t"][0]), int(entry["t"][1]))


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value


def _apply(state: dict[str, dict[Any, dict[str, Any]]], e: dict[str, Any]) -> None:
    op, name = e["op"], e["coll"]
    if op == "rename":
        state[e["to"]] = state.pop(name)
        return
    if op == "drop":
        state.pop(name, None)
        return
    docs = state.setdefault(name, {})
    if op == "insert":
        docs[e["doc"]["_id"]] = copy.deepcopy(e["doc"])
        return
    key, n = e["id"], int(e.get("n", 0))
    doc = docs[key]
    if op == "set":
        _set(doc, "nested.n", -n)
        _set(doc, "nested.deep.x", n)
        doc["v"] = n
    elif op == "unset":
        doc.pop("tag", None)
    elif op == "push":
        doc["arr"].append(n)
    elif op == "inc":
        doc["v"] += 1
    elif op == "truncate":
        doc["arr"] = doc["arr"][:2]
    elif op == "replace":
        docs[key] = copy.deepcopy(e["doc"])
    elif op == "delete":
        del docs[key]


def state_at(entries: list[dict[str, Any]], moment: Timestamp) -> dict[str, dict[Any, dict[str, Any]]]:
    """Return the expected database as of ``moment``: the seed plus every write at or before it."""
    state = seed_state()
    for entry in entries:
        if when(entry) <= moment:
            _apply(state, entry)
    return state


def snapshot(db: Any, skip: tuple[str, ...] = ("migration_lock", "migrations", "migration_history")) -> dict[str, Any]:
    """Return a database's collections as ``_id`` → document (tool collections left out), read synchronously."""
    return {
        name: {d["_id"]: d for d in db[name].find()}
        for name in db.list_collection_names()
        if name not in skip and not name.startswith("system.")
    }
