"""The pure parts of Analytiq's migrations and the batch helper: shapes, renames, _id ordering (no server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Timestamp
from pymongo import DeleteOne, UpdateOne

from analytiq_data.migrations.analytiq.shapes import (
    fields_to_json_schema,
    llm_fields_to_add,
    ocr_json_name,
    renamed_suffix,
    run_created_at,
)
from analytiq_data.migrations.batch import after_id, as_write
from analytiq_data.migrations.migration import (
    MIGRATIONS,
    LlmResultFieldsMigration,
    OcrKeyMigration,
    RenameJsonSchemaToResponseFormat,
    SchemaJsonSchemaMigration,
)


def test_fields_become_the_documented_json_schema() -> None:
    fields = [
        {"name": "invoice_number", "type": "str"},
        {"name": "total", "type": "float"},
        {"name": "line_count", "type": "int"},
        {"name": "is_paid", "type": "bool"},
        {"name": "due_date", "type": "datetime"},
    ]
    assert fields_to_json_schema(fields) == {
        "type": "json_schema",
        "json_schema": {
            "name": "document_extraction",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "invoice_number": {"type": "string", "description": "invoice number"},
                    "total": {"type": "number", "description": "total"},
                    "line_count": {"type": "integer", "description": "line count"},
                    "is_paid": {"type": "boolean", "description": "is paid"},
                    "due_date": {"type": "string", "description": "due date"},
                },
                "required": ["invoice_number", "total", "line_count", "is_paid", "due_date"],
                "additionalProperties": False,
            },
        },
    }


def test_required_keeps_the_fields_order_and_an_empty_list_is_valid() -> None:
    schema = fields_to_json_schema([{"name": "b", "type": "int"}, {"name": "a", "type": "str"}])["json_schema"]
    assert schema["schema"]["required"] == ["b", "a"]
    assert list(schema["schema"]["properties"]) == ["b", "a"]
    empty = fields_to_json_schema([])["json_schema"]["schema"]
    assert empty["properties"] == {} and empty["required"] == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("not a list", "'fields' is a str, not a list"),
        ([{"type": "str"}], "field 0 has no name"),
        ([{"name": "", "type": "str"}], "field 0 has no name"),
        ([{"name": "a", "type": "list"}], "field 'a' has type 'list'"),
        ([{"name": "a"}], "field 'a' has type None"),
        ([{"name": "a", "type": "str"}, {"name": "a", "type": "int"}], "field 'a' appears twice"),
    ],
)
def test_unconvertible_fields_are_named(fields: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        fields_to_json_schema(fields)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("65a1b2c3d4e5f60718293a4b_list", "65a1b2c3d4e5f60718293a4b_json"),
        ("doc_listing_list", "doc_listing_json"),
        ("my_list_of_lists_list", "my_list_of_lists_json"),
        ("_list", "_json"),
        ("x_json_list", "x_json_json"),
        ("doc_listing", None),
        ("report_list.bak", None),
        ("checklist", None),
        ("abc_json", None),
        ("abc_list\n", None),
        (None, None),
        (42, None),
    ],
)
def test_only_the_final_list_suffix_is_renamed(name: object, expected: str | None) -> None:
    assert ocr_json_name(name) == expected


def test_renamed_suffix_is_reversible() -> None:
    assert renamed_suffix(renamed_suffix("a_list_list", "_list", "_json"), "_json", "_list") == "a_list_list"


def test_llm_fields_added_are_only_the_missing_ones() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    run = {"_id": 1, "llm_result": {"a": 1}, "is_verified": True}
    assert llm_fields_to_add(run, when) == {
        "updated_llm_result": {"a": 1},
        "is_edited": False,
        "created_at": when,
        "updated_at": when,
    }
    assert "updated_llm_result" not in llm_fields_to_add({"_id": 2}, when)  # nothing to copy


def test_run_creation_time_comes_from_the_objectid() -> None:
    oid = ObjectId.from_datetime(datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC))
    fallback = datetime(2030, 1, 1, tzinfo=UTC)
    assert run_created_at(oid, fallback) == datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert run_created_at("run-17", fallback) == fallback


# MongoDB's order across types, lowest first (one sample value per type bracket).
ORDERED_IDS: list[object] = [
    MinKey(),
    None,
    Int64(-5),
    2.5,
    Decimal128("3"),
    "a",
    {"k": 1},
    Binary(b"x", 0),
    uuid.UUID(int=1),
    ObjectId("000000000000000000000001"),
    False,
    datetime(2020, 1, 1, tzinfo=UTC),
    Timestamp(1, 1),
    MaxKey(),
]


@pytest.mark.parametrize("index", range(len(ORDERED_IDS)))
def test_after_id_adds_every_later_type_bracket(index: int) -> None:
    last = ORDERED_IDS[index]
    query = after_id(last)
    if isinstance(last, MaxKey):
        assert query == {"_id": {"$gt": last}}
        return
    greater, later = query["$or"]
    assert greater == {"_id": {"$gt": last}}
    aliases = later["_id"]["$type"]
    assert "maxKey" in aliases and "minKey" not in aliases
    assert len(aliases) == len(set(aliases))
    if isinstance(last, str):
        assert aliases[0] == "object" and "symbol" not in aliases
    if isinstance(last, ObjectId):
        assert aliases[:2] == ["bool", "date"] and "objectId" not in aliases
    if isinstance(last, bool):
        assert aliases[0] == "date" and "number" not in aliases


def test_after_id_refuses_an_unorderable_type() -> None:
    with pytest.raises(TypeError, match="cannot order _id values of type list"):
        after_id([1, 2])


def test_transform_results_become_write_models() -> None:
    op = as_write(7, {"$set": {"a": 1}})
    assert isinstance(op, UpdateOne) and op._filter == {"_id": 7} and op._doc == {"$set": {"a": 1}}
    pipeline = as_write(7, [{"$set": {"a": "$b"}}])
    assert isinstance(pipeline, UpdateOne) and pipeline._doc == [{"$set": {"a": "$b"}}]
    delete = DeleteOne({"_id": 7})
    assert as_write(7, delete) is delete
    with pytest.raises(TypeError, match="return update operators"):
        as_write(7, {"a": 1})
    with pytest.raises(TypeError, match="returned int"):
        as_write(7, 5)  # type: ignore[arg-type]


def test_the_list_is_the_four_migrations_in_order_with_sample_filters() -> None:
    assert [type(m) for m in MIGRATIONS] == [
        OcrKeyMigration,
        LlmResultFieldsMigration,
        SchemaJsonSchemaMigration,
        RenameJsonSchemaToResponseFormat,
    ]
    for migration in MIGRATIONS:
        assert migration.use_transaction is False  # batch migrations run outside transactions
        assert migration.idempotent and migration.reversible
        assert migration.sample_filters, migration.name
        assert migration.description and "\n" not in migration.description
    assert OcrKeyMigration.sample_filters == {"ocr.files": {"filename": {"$regex": "_list$"}}}


def test_batch_size_can_be_set_per_instance() -> None:
    assert OcrKeyMigration(batch_size=7).batch_size == 7
    assert OcrKeyMigration().batch_size == 5000
    with pytest.raises(ValueError, match="at least 1"):
        OcrKeyMigration(batch_size=0)
