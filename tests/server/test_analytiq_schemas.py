"""SchemaJsonSchemaMigration and RenameJsonSchemaToResponseFormat on the ``schemas`` collection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.analytiq.shapes import fields_to_json_schema
from analytiq_data.migrations.migration import RenameJsonSchemaToResponseFormat, SchemaJsonSchemaMigration
from analytiq_data.migrations.sample import generate_sample
from tests.server.test_analytiq_support import snapshot

CONVERT = SchemaJsonSchemaMigration
RENAME = RenameJsonSchemaToResponseFormat


async def test_fields_become_json_schema_and_newer_shapes_are_left_alone(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=400, seed=12)
    before = {s["_id"]: s for s in await db.schemas.find().to_list()}
    raw_before = await snapshot(db, "schemas")
    await CONVERT(batch_size=17).up(db)
    raw_after = await snapshot(db, "schemas")
    converted = 0
    for schema_id, old in before.items():
        new = await db.schemas.find_one({"_id": schema_id})
        assert new is not None
        key = b"\x07" + schema_id.binary
        if "fields" in old:
            converted += 1
            assert "fields" not in new
            assert new["schema_format"] == "json_schema"
            assert new["json_schema"] == fields_to_json_schema(old["fields"])
            others = set(raw_before[key]) - {"fields"}
            assert {k: raw_after[key][k] for k in others} == {k: raw_before[key][k] for k in others}
        else:  # already json_schema or response_format: not touched
            assert raw_after[key] == raw_before[key]
    assert converted > 50


async def test_datetime_fields_come_back_as_datetime(db: AsyncDatabase[Any]) -> None:
    fields = [{"name": "due_date", "type": "datetime"}, {"name": "name", "type": "str"}]
    await db.schemas.insert_one({"_id": 1, "name": "Invoice", "fields": fields, "version": 1})
    await CONVERT().up(db)
    converted = await db.schemas.find_one({"_id": 1})
    assert converted is not None
    assert converted["json_schema"]["json_schema"]["schema"]["properties"]["due_date"]["type"] == "string"
    await CONVERT().down(db)
    assert await db.schemas.find_one({"_id": 1}) == {"_id": 1, "name": "Invoice", "version": 1, "fields": fields}


async def test_rename_moves_only_the_top_level_key(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=200, seed=13)
    await CONVERT().up(db)
    before = await snapshot(db, "schemas")
    await RENAME(batch_size=9).up(db)
    after = await snapshot(db, "schemas")
    renamed = 0
    for key, old in before.items():
        new = after[key]
        if "json_schema" in old and "response_format" not in old:
            renamed += 1
            assert "json_schema" not in new and new["response_format"] == old["json_schema"]
            assert {k: v for k, v in new.items() if k != "response_format"} == {
                k: v for k, v in old.items() if k != "json_schema"
            }
        else:
            assert new == old
    assert renamed > 20
    one = await db.schemas.find_one({"response_format": {"$exists": True}})
    assert one is not None and "json_schema" in one["response_format"]  # the nested key keeps its name


async def test_down_leaves_schemas_created_or_edited_after_the_upgrade(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=120, seed=14)
    original = await snapshot(db, "schemas")
    await CONVERT(batch_size=8).up(db)
    await RENAME(batch_size=8).up(db)
    converted = await db.schemas.find({"response_format": {"$exists": True}}).sort("_id", 1).to_list()
    edited = converted[2]
    properties = "response_format.json_schema.schema.properties"
    await db.schemas.update_one({"_id": edited["_id"]}, {"$set": {f"{properties}.added_later": {"type": "string"}}})
    created_id = ObjectId()
    created = {
        "_id": created_id,
        "name": "NewSchema",
        "schema_format": "json_schema",
        "response_format": fields_to_json_schema([{"name": "total", "type": "float"}]),
        "version": 1,
        "created_at": datetime.now(UTC).replace(microsecond=0),
    }
    await db.schemas.insert_one(created)

    await RENAME(batch_size=8).down(db)
    assert await db.schemas.find_one({"_id": created["_id"]}) == created  # new shape, untouched
    carried = await db.schemas.find_one({"_id": edited["_id"]})
    assert carried is not None and "added_later" in carried["json_schema"]["json_schema"]["schema"]["properties"]

    await CONVERT(batch_size=8).down(db)
    assert await db.schemas.find_one({"_id": created["_id"]}) == created
    assert await db.schemas.find_one({"_id": edited["_id"]}) == carried  # the edit stays, in the new shape
    back = await snapshot(db, "schemas")
    key = b"\x07" + edited["_id"].binary
    assert {k: v for k, v in back.items() if k != key and k[1:] != created_id.binary} == {
        k: v for k, v in original.items() if k != key
    }


async def test_unconvertible_schemas_fail_up_by_name_after_converting_the_rest(db: AsyncDatabase[Any]) -> None:
    await db.schemas.insert_many(
        [
            {"_id": 1, "name": "ok", "fields": [{"name": "a", "type": "int"}]},
            {"_id": 2, "name": "bad", "fields": [{"name": "a", "type": "list"}]},
            {"_id": 3, "name": "ok2", "fields": []},
        ]
    )
    with pytest.raises(MigrationError) as info:
        await CONVERT().up(db)
    line = info.value.user_line()
    assert "1 document(s) of schemas cannot be migrated: _id 2: field 'a' has type 'list'" in line
    assert "fix or remove those documents" in line
    assert await db.schemas.count_documents({"json_schema": {"$exists": True}}) == 2
    await db.schemas.update_one({"_id": 2}, {"$set": {"fields.0.type": "str"}})
    assert await CONVERT().up(db) is True
    assert await db.schemas.count_documents({"fields": {"$exists": True}}) == 0
