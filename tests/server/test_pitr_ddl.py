"""Point-in-time recovery replays DDL: a restore to each moment has the collections, options and indexes of then.

Found by trying it: an index drop in the log made every later restore fail (the replayed
``dropIndexes`` sent its name as an array, which SecantusDB refuses; mongod takes a string too).

SecantusDB differs from mongod here (the product is written for mongod): its ``createIndexes``
change events carry only an index's key and name, not ``unique`` or ``expireAfterSeconds``, so a
replayed index has only what the log holds. The test compares index options when the log holds
them (mongod), keys and names always.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bson.timestamp import Timestamp
from pymongo.database import Database

from tests.server.test_pitr import adb, logged_events, restore_at, sync_client

_IGNORED = frozenset({"migration_lock"})  # the restore's own lock collection


def definitions(db: Database[Any]) -> dict[str, Any]:
    """Return each collection's options, indexes (name → spec without ``v``) and document count."""
    out: dict[str, Any] = {}
    for name in sorted(db.list_collection_names()):
        if name.startswith("system.") or name in _IGNORED:
            continue
        indexes = {
            k: {f: v for f, v in spec.items() if f not in ("v", "ns")}
            for k, spec in db[name].index_information().items()
        }
        out[name] = {"options": db[name].options(), "indexes": indexes, "count": db[name].count_documents({})}
    return out


def index_options_logged(folder: Path) -> bool:
    """Return whether the log's index builds carry the indexes' options (mongod: yes; SecantusDB: key and name only)."""
    built = [e for e in logged_events(folder) if e["operationType"] == "createIndexes"]
    assert built, "no index build was logged"
    return all(set(spec) - {"v", "key", "name"} for e in built for spec in e["operationDescription"]["indexes"])


def keys_only(defs: dict[str, Any]) -> dict[str, Any]:
    """Return ``defs`` with each index reduced to its key (what SecantusDB's log holds of an index)."""
    return {n: {**d, "indexes": {k: {"key": spec["key"]} for k, spec in d["indexes"].items()}} for n, d in defs.items()}


def test_ddl_is_replayed_at_every_moment(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """Create (validator, capped), index builds and drops, collMod, a view, a rename, a drop: three moments."""
    folder = tmp_path / "log"
    follow = ["follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up"]
    shots: list[tuple[dict[str, Any], Timestamp]] = []
    with sync_client(mongo_uri) as client:
        db = client[db_name]
        db.keep.insert_one({"_id": 1})
        assert adb(*follow).returncode == 0
        with client.start_session() as s:

            def shot() -> None:
                now = definitions(db)
                db.command("ping", session=s)
                assert s.operation_time is not None
                shots.append((now, s.operation_time))

            db.create_collection("v", validator={"$jsonSchema": {"required": ["a"]}}, session=s)
            db.v.insert_one({"a": 1, "b": 2}, session=s)
            db.create_collection("capped", capped=True, size=4096, session=s)
            db.v.create_index("a", name="a_1", unique=True, session=s)
            db.v.create_index("b", name="b_ttl", expireAfterSeconds=3600, session=s)
            shot()
            db.command("collMod", "v", validator={"$jsonSchema": {"required": ["a", "b"]}}, session=s)
            db.command("collMod", "v", index={"name": "b_ttl", "expireAfterSeconds": 60}, session=s)
            db.v.drop_index("a_1", session=s)
            db.command("create", "view", viewOn="v", pipeline=[{"$match": {"a": 1}}], session=s)
            shot()
            db.v.rename("w", session=s)
            db.drop_collection("capped", session=s)
            shot()
        assert adb(*follow).returncode == 0
        full = index_options_logged(folder)
        for i, (want, moment) in enumerate(shots):
            target = f"{db_name}_{i}"
            done = restore_at(mongo_uri, target, folder, moment)
            assert done.returncode == 0, (i, done.stderr)
            have = definitions(client[target])
            assert have == want if full else keys_only(have) == keys_only(want), f"moment {i}"
