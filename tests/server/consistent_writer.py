"""A writer process for the consistent-backup tests: inserts, updates, replaces and deletes at a steady rate.

    python consistent_writer.py URI DB LOG COLLECTIONS INITIAL [WRITER WRITERS]

Writes to collections ``c0..c{COLLECTIONS-1}`` (each seeded by the test with ``_id`` 0..INITIAL-1,
see ``initial_doc``) until SIGTERM. Each acknowledged write is logged to LOG as one JSON line with
its operation time (``session.operation_time``: the cluster time of the write), so the test can
rebuild the source as of any cluster time T. One writer, one write at a time: the log's order is
the server's order. With WRITER and WRITERS (``k`` of ``n``), several writers run at once, each on
its own documents (``_id`` ≡ k mod n), so their logs merged by operation time are the server's order.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from typing import Any

from pymongo import MongoClient

RATE_S = 0.004  # a steady pace, not a synchronisation: about 250 writes a second at most


def initial_doc(coll: int, i: int) -> dict[str, Any]:
    """Return document ``i`` of collection ``c{coll}`` as the test seeds it."""
    return {"_id": i, "v": i, "tag": f"c{coll}-{i}", "nested": {"n": i, "keep": True}}


def main() -> None:
    uri, db_name, log_path, colls, initial = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    index, writers = (int(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 7 else (0, 1)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    rng = random.Random(13 + index)
    live = {c: {i for i in range(initial) if i % writers == index} for c in range(colls)}
    next_id = initial + index
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client[db_name]
    with open(log_path, "a", buffering=1) as log, client.start_session() as session:
        n = 0
        while not stopping:
            c = rng.randrange(colls)
            coll = db[f"c{c}"]
            kind = rng.choice(["insert", "update", "update", "replace", "delete"]) if live[c] else "insert"
            entry: dict[str, Any] = {"op": kind, "coll": f"c{c}"}
            if kind == "insert":
                doc = {"_id": next_id, "v": n, "tag": "new"}
                coll.insert_one(doc, session=session)
                live[c].add(next_id)
                entry.update(id=next_id, doc=doc)
                next_id += writers
            else:
                target = rng.choice(sorted(live[c]))
                entry["id"] = target
                if kind == "update":
                    update = {"$set": {"v": n, "nested.n": -n}, "$unset": {"tag": ""}}
                    coll.update_one({"_id": target}, update, session=session)
                    entry["update"] = {"set": {"v": n, "nested.n": -n}, "unset": ["tag"]}
                elif kind == "replace":
                    doc = {"_id": target, "v": n, "replaced": True}
                    coll.replace_one({"_id": target}, doc, session=session)
                    entry["doc"] = doc
                else:
                    coll.delete_one({"_id": target}, session=session)
                    live[c].discard(target)
            t = session.operation_time
            assert t is not None
            entry["t"] = [t.time, t.inc]
            log.write(json.dumps(entry) + "\n")
            n += 1
            time.sleep(RATE_S)
    client.close()


if __name__ == "__main__":
    main()
