"""listIndexes for each index kind: what it reports, and that its output recreates the same index.

The backup engine copies indexes by reading listIndexes on the source and passing each spec to
createIndexes on the destination; these tests pin what it can trust.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import GEOSPHERE, HASHED, TEXT
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from tests.servers import using_real_server

# (keys, options, what listIndexes must report besides key and name)
INDEX_KINDS: list[tuple[list[tuple[str, Any]], dict[str, Any], dict[str, Any]]] = [
    ([("u", 1)], {"unique": True}, {"unique": True}),
    ([("created_at", 1)], {"expireAfterSeconds": 3600}, {"expireAfterSeconds": 3600}),
    (
        [("p", 1)],
        {"partialFilterExpression": {"p": {"$exists": True}, "q": {"$gt": 5}}},
        {"partialFilterExpression": {"p": {"$exists": True}, "q": {"$gt": 5}}},
    ),
    ([("s", 1)], {"sparse": True}, {"sparse": True}),
    ([("c1", 1), ("c2", -1)], {}, {}),
    ([("loc", GEOSPHERE)], {}, {"2dsphereIndexVersion": 3}),
    ([("$**", 1)], {}, {}),
    ([("w.$**", 1)], {}, {}),
    (
        [("$**", 1)],
        {"name": "wild_xy", "wildcardProjection": {"x": 1, "y": 1}},
        {"wildcardProjection": {"x": 1, "y": 1}},
    ),
    ([("h", 1)], {"hidden": True}, {"hidden": True}),
]


async def _indexes(coll: AsyncCollection[Any]) -> dict[str, dict[str, Any]]:
    return {ix["name"]: _plain(ix) for ix in await (await coll.list_indexes()).to_list()}


def _plain(value: Any) -> Any:
    """Turn SON (as listIndexes returns) into plain dicts, keeping key order."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


KIND_IDS = [
    "unique",
    "ttl",
    "partial",
    "sparse",
    "compound",
    "2dsphere",
    "wildcard",
    "wildcard_path",
    "wildcard_projection",
    "hidden",
]


@pytest.mark.parametrize(("keys", "options", "reported"), INDEX_KINDS, ids=KIND_IDS)
async def test_list_indexes_reports_each_index_option(
    db: AsyncDatabase[Any], keys: list[tuple[str, Any]], options: dict[str, Any], reported: dict[str, Any]
) -> None:
    name = await db.docs.create_index(keys, **options)
    spec = (await _indexes(db.docs))[name]
    assert list(spec["key"].items()) == keys
    assert {k: spec[k] for k in reported} == reported
    assert set(spec) - {"v", "key", "name"} == set(reported)


async def test_list_indexes_reports_collation(db: AsyncDatabase[Any]) -> None:
    """On both: locale and strength as given. On mongod: every collation field, defaults filled in
    (caseLevel, caseFirst, numericOrdering, alternate, maxVariable, normalization, backwards, version).
    On SecantusDB: only the fields given."""
    given = {"locale": "en", "strength": 2}
    name = await db.docs.create_index("title", collation=given)
    collation = (await _indexes(db.docs))[name]["collation"]
    assert {k: collation[k] for k in given} == given
    if using_real_server():
        assert {"caseLevel", "caseFirst", "numericOrdering", "alternate", "version"} <= set(collation)
    else:
        assert collation == given


async def test_list_indexes_output_recreates_the_same_indexes(db: AsyncDatabase[Any]) -> None:
    for keys, options, _ in INDEX_KINDS:
        await db.source.create_index(keys, **options)
    await db.source.create_index("title", collation={"locale": "en", "strength": 2})
    source = await _indexes(db.source)
    specs = [spec for name, spec in source.items() if name != "_id_"]
    await db.command("createIndexes", "copy", indexes=specs)
    assert await _indexes(db.copy) == source


async def test_list_indexes_order(db: AsyncDatabase[Any]) -> None:
    """On mongod: creation order, _id_ first. On SecantusDB: sorted by name. Never rely on the order."""
    for field in ("b", "a", "c"):
        await db.docs.create_index(field)
    names = list(await _indexes(db.docs))
    if using_real_server():
        assert names == ["_id_", "b_1", "a_1", "c_1"]
    else:
        assert names == sorted(names)


async def test_hashed_index(db: AsyncDatabase[Any]) -> None:
    """On mongod: created and listed. On SecantusDB: refused with code 67 (CannotCreateIndex)."""
    if using_real_server():
        name = await db.docs.create_index([("h", HASHED)])
        assert (await _indexes(db.docs))[name]["key"] == {"h": "hashed"}
    else:
        with pytest.raises(OperationFailure) as info:
            await db.docs.create_index([("h", HASHED)])
        assert info.value.code == 67


async def test_text_index(db: AsyncDatabase[Any]) -> None:
    """On mongod: created, listed with its weights and language, and recreated from that listing.
    On SecantusDB: refused with code 67 (CannotCreateIndex), naming text."""
    if using_real_server():
        name = await db.docs.create_index([("body", TEXT)], default_language="english", weights={"body": 5})
        spec = (await _indexes(db.docs))[name]
        assert spec["key"] == {"_fts": "text", "_ftsx": 1}
        assert spec["weights"] == {"body": 5}
        assert spec["default_language"] == "english"
        assert "textIndexVersion" in spec
        await db.command("createIndexes", "copy", indexes=[spec])
        assert (await _indexes(db.copy))[name] == spec
    else:
        with pytest.raises(OperationFailure) as info:
            await db.docs.create_index([("body", TEXT)])
        assert info.value.code == 67
        assert "text" in str(info.value)
