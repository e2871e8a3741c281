"""Dumps in the shapes other mongodump versions and other tools write, made by hand from the documented
formats (``ARCHIVE-FORMAT.md``, mongorestore's reading of them), since no older binary is at hand.

Each shape holds the same small database ``shop`` (what each version could express of it) and is
written by ``write(name, folder)``; ``python -m tests.data.dumps.shapes OUT`` writes them all under
``OUT`` for a look, or to feed them to a real mongorestore. README.md (beside this file) says how each
differs from what today's mongodump writes and why.
"""

from __future__ import annotations

import datetime
import gzip
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson import Int64, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.son import SON

from analytiq_data.backup.files.crc64 import crc64, to_int64

DB = "shop"
MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"
TEN_YEARS = 10 * 365 * 86400
NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)  # far ahead: nothing expires during a test
#: The full collation a server lists for ``{locale: "fr", strength: 2}`` (ICU "57.1" since 3.4).
FR = SON(
    [
        ("locale", "fr"),
        ("caseLevel", False),
        ("caseFirst", "off"),
        ("strength", 2),
        ("numericOrdering", False),
        ("alternate", "non-ignorable"),
        ("maxVariable", "punct"),
        ("normalization", False),
        ("backwards", False),
        ("version", "57.1"),
    ]
)

USERS = [SON([("_id", i), ("email", f"u{i}@example.com"), ("age", 10 * i)]) for i in range(1, 6)]
LOG = [SON([("_id", i), ("line", f"started {i}")]) for i in range(3)]
EVENTS = [SON([("_id", i), ("at", NOW), ("kind", "login")]) for i in range(4)]
NAMES = [SON([("_id", n), ("name", n)]) for n in ("élan", "Elan", "zèbre")]
ADULTS = SON([("viewOn", "users"), ("pipeline", [{"$match": {"age": {"$gte": 18}}}])])


@dataclass(frozen=True)
class Shape:
    """What a shape holds, to compare a restore with: documents, indexes (name → key), options, views."""

    kind: str  # "archive" or "dir"
    documents: Mapping[str, list[SON[str, Any]]]
    indexes: Mapping[str, Mapping[str, list[tuple[str, Any]]]]
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    views: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    assumed: tuple[str, ...] = ()  # the lines restore prints (each after "assumed for ")
    mongorestore: bool = True  # whether the real mongorestore restores it on the test servers


def _legacy(value: Any) -> str:
    """Return JSON as mongodump before 100.x wrote metadata (legacy extended JSON: plain numbers)."""
    return json.dumps(json.loads(json_util.dumps(value)), separators=(",", ":"))


def _canonical(value: Any) -> str:
    """Return JSON as mongodump 100.x writes metadata (canonical Extended JSON v2)."""
    return json_util.dumps(value, json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"))


def _index(name: str, key: list[tuple[str, Any]], *, v: int, ns: str | None, **options: Any) -> SON[str, Any]:
    spec = SON([("v", v), ("key", SON(key)), ("name", name)])
    if ns is not None:
        spec["ns"] = ns
    spec.update(options)
    return spec


def _bson(docs: list[SON[str, Any]]) -> bytes:
    return b"".join(bson.encode(d) for d in docs)


def _file(path: Path, data: bytes, *, gz: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


# --- directory dumps -------------------------------------------------------------------------


def mongodump_32_dir(folder: Path) -> Shape:
    """mongodump 3.2 of a 3.2 server: legacy JSON, index version 1 with ``ns``, no uuid, name or type;
    a capped log from the 2.x days without an ``_id`` index (``autoIndexId: false``); no prelude.json."""
    root = folder / DB
    ns = f"{DB}."
    meta = {
        "users": {
            "options": {},
            "indexes": [
                _index("_id_", [("_id", 1)], v=1, ns=ns + "users"),
                _index("email_1", [("email", 1)], v=1, ns=ns + "users", unique=True),
            ],
        },
        "log": {
            "options": SON([("capped", True), ("size", 4096), ("max", 100), ("autoIndexId", False)]),
            "indexes": [],
        },
        "events": {
            "options": {},
            "indexes": [
                _index("_id_", [("_id", 1)], v=1, ns=ns + "events"),
                _index("at_1", [("at", 1)], v=1, ns=ns + "events", expireAfterSeconds=TEN_YEARS),
            ],
        },
    }
    for name, docs in (("users", USERS), ("log", LOG), ("events", EVENTS)):
        _file(root / f"{name}.bson", _bson(docs), gz=False)
        _file(root / f"{name}.metadata.json", _legacy(meta[name]).encode(), gz=False)
    return Shape(
        "dir",
        {"users": USERS, "log": LOG, "events": EVENTS},
        {
            "users": {"_id_": [("_id", 1)], "email_1": [("email", 1)]},
            "log": {"_id_": [("_id", 1)]},
            "events": {"_id_": [("_id", 1)], "at_1": [("at", 1)]},
        },
        options={"log": {"capped": True, "size": 4096, "max": 100}},
        assumed=(
            f"{DB}.events, {DB}.users: indexes of version 1 rebuilt at the server's default version",
            f"{DB}.log: autoIndexId: false ignored (servers since 4.0 always build the _id index); "
            "no _id index listed; the server builds it",
        ),
    )


def mongodump_34_dir_gzip(folder: Path) -> Shape:
    """mongodump 3.4 ``--gzip`` of a 3.4 server: every file gzipped, legacy JSON, index version 2 with
    ``ns``; a view (``viewOn``/``pipeline`` in the options, no ``type``, no ``.bson``) and a collection
    with a default collation (its ``_id`` index listing the collation too)."""
    root = folder / DB
    ns = f"{DB}."
    meta = {
        "users": {
            "options": {},
            "indexes": [
                _index("_id_", [("_id", 1)], v=2, ns=ns + "users"),
                _index("email_1", [("email", 1)], v=2, ns=ns + "users", unique=True),
            ],
        },
        "names": {
            "options": {"collation": FR},
            "indexes": [_index("_id_", [("_id", 1)], v=2, ns=ns + "names", collation=FR)],
        },
        "adults": {"options": ADULTS, "indexes": []},
    }
    for name, docs in (("users", USERS), ("names", NAMES)):
        _file(root / f"{name}.bson", _bson(docs), gz=True)
    for name, value in meta.items():
        _file(root / f"{name}.metadata.json", _legacy(value).encode(), gz=True)
    return Shape(
        "dir",
        {"users": USERS, "names": NAMES},
        {"users": {"_id_": [("_id", 1)], "email_1": [("email", 1)]}, "names": {"_id_": [("_id", 1)]}},
        options={"names": {"collation": {"locale": "fr", "strength": 2}}},
        views={"adults": ADULTS},
    )


def mongodump_40_dir(folder: Path) -> Shape:
    """mongodump 4.0 of a 4.0 server: as 3.4, plus the collection's ``uuid`` (3.6+); still no
    ``collectionName`` or ``type``; index specs with ``ns``; a TTL index."""
    root = folder / DB
    ns = f"{DB}."
    meta = {
        "users": {
            "options": {},
            "indexes": [
                _index("_id_", [("_id", 1)], v=2, ns=ns + "users"),
                _index("age_-1_email_1", [("age", -1), ("email", 1)], v=2, ns=ns + "users"),
            ],
            "uuid": "5b0c3e1f0d6e4b7c9a1e2f3a4b5c6d7e",
        },
        "events": {
            "options": {},
            "indexes": [
                _index("_id_", [("_id", 1)], v=2, ns=ns + "events"),
                _index("at_1", [("at", 1)], v=2, ns=ns + "events", expireAfterSeconds=TEN_YEARS),
            ],
            "uuid": "0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        },
    }
    for name, docs in (("users", USERS), ("events", EVENTS)):
        _file(root / f"{name}.bson", _bson(docs), gz=False)
        _file(root / f"{name}.metadata.json", _legacy(meta[name]).encode(), gz=False)
    return Shape(
        "dir",
        {"users": USERS, "events": EVENTS},
        {
            "users": {"_id_": [("_id", 1)], "age_-1_email_1": [("age", -1), ("email", 1)]},
            "events": {"_id_": [("_id", 1)], "at_1": [("at", 1)]},
        },
    )


def other_tool_dir(folder: Path) -> Shape:
    """What other tools (and people) write: a ``.bson`` without metadata, metadata listing no ``_id``
    index, and an empty metadata file. mongorestore restores each with default options."""
    root = folder / DB
    _file(root / "users.bson", _bson(USERS), gz=False)
    _file(root / "log.bson", _bson(LOG), gz=False)
    _file(root / "log.metadata.json", b'{"indexes":[]}', gz=False)
    _file(root / "events.bson", _bson(EVENTS), gz=False)
    _file(root / "events.metadata.json", b"", gz=False)
    return Shape(
        "dir",
        {"users": USERS, "log": LOG, "events": EVENTS},
        {name: {"_id_": [("_id", 1)]} for name in ("users", "log", "events")},
        assumed=(
            f"{DB}.events: an empty metadata file; restored with default options and the _id index",
            f"{DB}.log: no _id index listed; the server builds it",
            f"{DB}.users: no metadata file; restored with default options and the _id index",
        ),
    )


def legacy_index_options_dir(folder: Path) -> Shape:
    """A 2.x/3.0-era index with options no server knows today (``safe``, ``dropDups``). mongod since
    4.1.9 drops them when asked (``ignoreUnknownIndexOptions``, as mongorestore asks); SecantusDB refuses
    them all the same, so the real mongorestore fails on the test servers (see README)."""
    root = folder / DB
    spec = _index("email_1", [("email", 1)], v=1, ns=f"{DB}.users", unique=True, safe=True, dropDups=True)
    meta = {"options": {}, "indexes": [_index("_id_", [("_id", 1)], v=1, ns=f"{DB}.users"), spec]}
    _file(root / "users.bson", _bson(USERS), gz=False)
    _file(root / "users.metadata.json", _legacy(meta).encode(), gz=False)
    return Shape(
        "dir",
        {"users": USERS},
        {"users": {"_id_": [("_id", 1)], "email_1": [("email", 1)]}},
        assumed=(
            f"{DB}.users: indexes of version 1 rebuilt at the server's default version; "
            "index 'email_1': unknown option 'safe', 'dropDups' left out",
        ),
        mongorestore=False,
    )


# --- archives ----------------------------------------------------------------------------------


def _archive(
    path: Path,
    header: Mapping[str, Any],
    namespaces: list[tuple[str, str, list[SON[str, Any]]]],
    *,
    types: bool,
    gz: bool,
) -> None:
    """Write an archive by hand: magic, header, one prelude per namespace (``type`` only if ``types``), the
    terminator, then per namespace one segment of its documents and its EOF header with the CRC-64."""
    out = bytearray(MAGIC + bson.encode(SON(header)))
    for coll, metadata, _ in namespaces:
        prelude = SON([("db", DB), ("collection", coll), ("metadata", metadata), ("size", 0)])
        if types:
            prelude["type"] = "view" if '"viewOn"' in metadata else "collection"
        out += bson.encode(prelude)
    out += TERMINATOR
    for coll, _, docs in namespaces:
        body = _bson(docs)
        head = SON([("db", DB), ("collection", coll), ("EOF", False), ("CRC", Int64(0))])
        out += bson.encode(head) + body + TERMINATOR
        end = SON([("db", DB), ("collection", coll), ("EOF", True), ("CRC", Int64(to_int64(crc64(body))))])
        out += bson.encode(end) + TERMINATOR
    path.write_bytes(gzip.compress(bytes(out), mtime=0) if gz else bytes(out))


def mongodump_36_archive_gzip(folder: Path) -> Shape:
    """mongodump 3.6 ``--archive --gzip``: the whole stream gzipped; preludes without ``type``; metadata in
    legacy JSON with ``ns`` and ``uuid``; a view."""
    ns = f"{DB}."
    users = {
        "options": {},
        "indexes": [
            _index("_id_", [("_id", 1)], v=2, ns=ns + "users"),
            _index("email_1", [("email", 1)], v=2, ns=ns + "users", unique=True),
        ],
        "uuid": "c2a1d0e9f8b74a6c8d5e4f3a2b1c0d9e",
    }
    header = SON([("concurrent_collections", 4), ("version", "0.1"), ("server_version", "3.6.8")])
    header["tool_version"] = "r3.6.8"
    namespaces = [
        ("users", _legacy(users), USERS),
        ("adults", _legacy({"options": ADULTS, "indexes": []}), []),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    _archive(folder / "shop.archive.gz", header, namespaces, types=False, gz=True)
    return Shape(
        "archive",
        {"users": USERS},
        {"users": {"_id_": [("_id", 1)], "email_1": [("email", 1)]}},
        views={"adults": ADULTS},
    )


EMAIL_100 = SON([("v", 2), ("key", SON([("email", 1)])), ("name", "email_1"), ("unique", True)])


def _mongodump_100_archive(folder: Path, *, gz: bool) -> Shape:
    users = SON(
        [
            ("indexes", [_index("_id_", [("_id", 1)], v=2, ns=None), EMAIL_100]),
            ("uuid", "9f8e7d6c5b4a49382716a5b4c3d2e1f0"),
            ("collectionName", "users"),
            ("type", "collection"),
        ]
    )
    log = SON(
        [
            ("options", SON([("capped", True), ("size", 4096), ("max", 100)])),
            ("indexes", [_index("_id_", [("_id", 1)], v=2, ns=None)]),
            ("uuid", "1f2e3d4c5b6a47988796a5b4c3d2e1f0"),
            ("collectionName", "log"),
            ("type", "collection"),
        ]
    )
    header = SON([("concurrent_collections", 4), ("version", "0.1"), ("server_version", "7.0.12")])
    header["tool_version"] = "100.9.4"
    namespaces = [("users", _canonical(users), USERS), ("log", _canonical(log), LOG)]
    folder.mkdir(parents=True, exist_ok=True)
    _archive(folder / ("shop.archive.gz" if gz else "shop.archive"), header, namespaces, types=True, gz=gz)
    return Shape(
        "archive",
        {"users": USERS, "log": LOG},
        {"users": {"_id_": [("_id", 1)], "email_1": [("email", 1)]}, "log": {"_id_": [("_id", 1)]}},
        options={"log": {"capped": True, "size": 4096, "max": 100}},
    )


def mongodump_100_archive(folder: Path) -> Shape:
    """mongodump 100.x ``--archive`` of a 7.0 server: canonical Extended JSON v2 metadata with ``uuid``,
    ``collectionName`` and ``type``, no ``ns``; preludes with ``type``."""
    return _mongodump_100_archive(folder, gz=False)


def mongodump_100_archive_gzip(folder: Path) -> Shape:
    """The same, ``--gzip``: one gzip member around the whole stream."""
    return _mongodump_100_archive(folder, gz=True)


SHAPES: dict[str, Callable[[Path], Shape]] = {
    "mongodump-3.2-dir": mongodump_32_dir,
    "mongodump-3.4-dir-gzip": mongodump_34_dir_gzip,
    "mongodump-4.0-dir": mongodump_40_dir,
    "mongodump-3.6-archive-gzip": mongodump_36_archive_gzip,
    "mongodump-100.x-archive": mongodump_100_archive,
    "mongodump-100.x-archive-gzip": mongodump_100_archive_gzip,
    "other-tool-dir": other_tool_dir,
    "legacy-index-options-dir": legacy_index_options_dir,
}


def write(name: str, folder: Path) -> tuple[Shape, Path]:
    """Write shape ``name`` under ``folder``; return what it holds and the path to restore (file or directory)."""
    shape = SHAPES[name](folder)
    if shape.kind == "dir":
        return shape, folder
    return shape, next(folder.glob("shop.archive*"))


if __name__ == "__main__":  # python -m tests.data.dumps.shapes OUT
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "dump-shapes")
    for shape_name in SHAPES:
        _, where = write(shape_name, out / shape_name)
        print(where)
