"""listCollections for each collection kind: what it reports, and that its options recreate the collection.

The backup engine plans from listCollections: which names are views, time series or clustered,
and which options to pass to create on the destination.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from tests.servers import using_real_server

VALIDATOR = {"$jsonSchema": {"bsonType": "object", "required": ["name"]}}
TIMESERIES = {"timeField": "t", "metaField": "m", "granularity": "minutes"}
CLUSTERED = {"key": {"_id": 1}, "unique": True, "name": "by_id"}

# name -> create options
KINDS: dict[str, dict[str, Any]] = {
    "validated": {"validator": VALIDATOR, "validationLevel": "moderate", "validationAction": "warn"},
    "capped": {"capped": True, "size": 4096, "max": 10},
    "collated": {"collation": {"locale": "fr", "strength": 1}},
    "series": {"timeseries": TIMESERIES, "expireAfterSeconds": 86400},
    "clustered": {"clusteredIndex": CLUSTERED, "expireAfterSeconds": 60},
}


def _plain(value: Any) -> Any:
    """Turn SON into plain dicts, keeping key order."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def _infos(db: AsyncDatabase[Any]) -> dict[str, dict[str, Any]]:
    return {info["name"]: _plain(info) for info in await (await db.list_collections()).to_list()}


async def _create_all(db: AsyncDatabase[Any]) -> None:
    for name, options in KINDS.items():
        await db.create_collection(name, **options)
    await db.create_collection("plain")
    await db.create_collection("matching", viewOn="plain", pipeline=[{"$match": {"x": 1}}])


async def test_list_collections_reports_validator_level_and_action(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("validated", **KINDS["validated"])
    info = (await _infos(db))["validated"]
    assert info["type"] == "collection"
    assert info["options"] == KINDS["validated"]


async def test_list_collections_reports_capped_size_and_max(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("capped", **KINDS["capped"])
    info = (await _infos(db))["capped"]
    assert info["options"] == {"capped": True, "size": 4096, "max": 10}


async def test_list_collections_reports_collation(db: AsyncDatabase[Any]) -> None:
    """On mongod: the collation with every default filled in. On SecantusDB: only the fields given."""
    await db.create_collection("collated", **KINDS["collated"])
    collation = (await _infos(db))["collated"]["options"]["collation"]
    assert {k: collation[k] for k in ("locale", "strength")} == {"locale": "fr", "strength": 1}
    if not using_real_server():
        assert collation == {"locale": "fr", "strength": 1}


async def test_list_collections_reports_a_view(db: AsyncDatabase[Any]) -> None:
    """On both: type "view", options viewOn + pipeline, info.readOnly. On mongod a `system.views`
    collection appears beside it; SecantusDB lists no system.* collection."""
    await _create_all(db)
    infos = await _infos(db)
    view = infos["matching"]
    assert view["type"] == "view"
    assert view["options"] == {"viewOn": "plain", "pipeline": [{"$match": {"x": 1}}]}
    assert view["info"]["readOnly"] is True
    assert "idIndex" not in view
    system = {name for name in infos if name.startswith("system.")}
    if using_real_server():
        assert "system.views" in system
    else:
        assert system == set()


async def test_list_indexes_on_a_view(db: AsyncDatabase[Any]) -> None:
    """On mongod: refused, code 166 (CommandNotSupportedOnView). On SecantusDB: answers with an _id_ index."""
    await _create_all(db)
    if using_real_server():
        with pytest.raises(OperationFailure) as info:
            await (await db.matching.list_indexes()).to_list()
        assert info.value.code == 166
    else:
        names = [ix["name"] for ix in await (await db.matching.list_indexes()).to_list()]
        assert names == ["_id_"]


async def test_list_collections_reports_a_time_series_collection(db: AsyncDatabase[Any]) -> None:
    """On mongod: type "timeseries" (plus bucketMaxSpanSeconds in its options). On SecantusDB:
    type "collection" with an idIndex. On both: options.timeseries and expireAfterSeconds.
    Tell a time series collection by `"timeseries" in options`, never by type."""
    await db.create_collection("series", **KINDS["series"])
    info = (await _infos(db))["series"]
    series = info["options"]["timeseries"]
    assert {k: series[k] for k in TIMESERIES} == TIMESERIES
    assert info["options"]["expireAfterSeconds"] == 86400
    if using_real_server():
        assert info["type"] == "timeseries"
    else:
        assert info["type"] == "collection"
        assert series == TIMESERIES
        assert info["idIndex"]["name"] == "_id_"


async def test_list_indexes_on_a_time_series_collection(db: AsyncDatabase[Any]) -> None:
    """On mongod: no _id_ index (6.3+ lists its automatic metaField+timeField index). On SecantusDB: _id_ only."""
    await db.create_collection("series", **KINDS["series"])
    names = [ix["name"] for ix in await (await db.series.list_indexes()).to_list()]
    if using_real_server():
        assert "_id_" not in names
    else:
        assert names == ["_id_"]


async def test_time_series_collection_takes_measurements(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("series", **KINDS["series"])
    hello = await db.client.admin.command("hello")
    await db.series.insert_many([{"t": hello["localTime"], "m": {"sensor": i % 2}, "v": i} for i in range(10)])
    assert await db.series.count_documents({"m.sensor": 1}) == 5


async def test_list_collections_reports_a_clustered_collection(db: AsyncDatabase[Any]) -> None:
    """On both: options.clusteredIndex (with v: 2) and expireAfterSeconds; listIndexes marks the index
    clustered. SecantusDB also reports an idIndex for it, which mongod does not."""
    await db.create_collection("clustered", **KINDS["clustered"])
    info = (await _infos(db))["clustered"]
    assert info["type"] == "collection"
    assert info["options"] == {"clusteredIndex": {**CLUSTERED, "v": 2}, "expireAfterSeconds": 60}
    if not using_real_server():
        assert "idIndex" in info
    indexes = [_plain(ix) for ix in await (await db.clustered.list_indexes()).to_list()]
    assert indexes == [{"v": 2, "key": {"_id": 1}, "name": "by_id", "unique": True, "clustered": True}]


async def test_list_collections_options_recreate_every_kind(db: AsyncDatabase[Any]) -> None:
    """Creating from the reported options (what a backup does) reproduces the reported options."""
    await _create_all(db)
    source = await _infos(db)
    copy = db.client[db.name + "_copy"]
    for name, info in source.items():
        if name.startswith("system."):
            continue
        await copy.create_collection(name, **info["options"])
    copied = await _infos(copy)
    for name, info in source.items():
        if not name.startswith("system."):
            assert (copied[name]["type"], copied[name]["options"]) == (info["type"], info["options"]), name
