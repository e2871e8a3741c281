"""A writer process for the point-in-time tests: every kind of write, each logged with its cluster time.

    python pitr_writer.py URI DB LOG COUNT [RENAME_AT DROP_AT]

Writes to ``c0``, ``c1``, ``c2`` (seeded by the test with ``seed_doc``): inserts, updates (``$set``
nested, ``$unset``, ``$push``, ``$inc``, array truncation by a pipeline update), replaces and
deletes; at write RENAME_AT it renames ``c2`` to ``c2r``, at DROP_AT it drops ``c1``. It stops
after COUNT writes (0: at SIGTERM). Each acknowledged write is one JSON line in LOG with its
operation time (``session.operation_time``), so ``pitr_model.state_at`` rebuilds the database as of
any cluster time. One write at a time: the log's order is the server's order.
"""

from __future__ import annotations

import json
import random
import signal
import sys
from typing import Any

from pymongo import MongoClient

SEED = 20


def seed_doc(coll: str, i: int) -> dict[str, Any]:
    """Return document ``i`` of collection ``coll`` as the test seeds it."""
    return {"_id": i, "v": i, "tag": f"{coll}-{i}", "nested": {"n": i, "keep": True}, "arr": [0, 1, 2, 3]}


def _write(
    db: Any, session: Any, names: list[str], live: dict[str, set[int]], rng: random.Random, n: int
) -> dict[str, Any]:
    name = rng.choice(names)
    coll = db[name]
    kinds = ["insert", "set", "unset", "push", "inc", "truncate", "replace", "delete"]
    kind = rng.choice(kinds) if live[name] else "insert"
    entry: dict[str, Any] = {"op": kind, "coll": name}
    if kind == "insert":
        doc: dict[str, Any] = {
            "_id": 1000 + n,
            "v": n,
            "tag": "new",
            "nested": {"n": n, "keep": False},
            "arr": [n, n + 1, n + 2],
        }
        coll.insert_one(doc, session=session)
        live[name].add(doc["_id"])
        entry["doc"] = doc
        return entry
    target = rng.choice(sorted(live[name]))
    entry["id"] = target
    query = {"_id": target}
    if kind == "set":
        coll.update_one(query, {"$set": {"nested.n": -n, "nested.deep.x": n, "v": n}}, session=session)
    elif kind == "unset":
        coll.update_one(query, {"$unset": {"tag": ""}}, session=session)
    elif kind == "push":
        coll.update_one(query, {"$push": {"arr": n}}, session=session)
    elif kind == "inc":
        coll.update_one(query, {"$inc": {"v": 1}}, session=session)
    elif kind == "truncate":
        coll.update_one(query, [{"$set": {"arr": {"$slice": ["$arr", 2]}}}], session=session)
    elif kind == "replace":
        entry["doc"] = {"_id": target, "v": n, "replaced": True, "arr": [n]}
        coll.replace_one(query, entry["doc"], session=session)
    else:
        coll.delete_one(query, session=session)
        live[name].discard(target)
    entry["n"] = n
    return entry


def main() -> None:
    uri, db_name, log_path, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rename_at = int(sys.argv[5]) if len(sys.argv) > 5 else -1
    drop_at = int(sys.argv[6]) if len(sys.argv) > 6 else -1
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    rng = random.Random(7)
    names = ["c0", "c1", "c2"]
    live = {name: set(range(SEED)) for name in names}
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client[db_name]
    with open(log_path, "a", buffering=1) as log, client.start_session() as session:
        n = 0
        while not stopping and (count == 0 or n < count):
            if n == rename_at:
                db["c2"].rename("c2r", session=session)
                names[names.index("c2")] = "c2r"
                live["c2r"] = live.pop("c2")
                entry: dict[str, Any] = {"op": "rename", "coll": "c2", "to": "c2r"}
            elif n == drop_at:
                db["c1"].drop(session=session)
                names.remove("c1")
                entry = {"op": "drop", "coll": "c1"}
            else:
                entry = _write(db, session, names, live, rng, n)
            t = session.operation_time
            assert t is not None
            entry["t"] = [t.time, t.inc]
            log.write(json.dumps(entry) + "\n")
            n += 1
    client.close()


if __name__ == "__main__":
    main()
