"""The DDL builders: one ``create``/``collMod``/``createIndexes`` per catalog entry (no server)."""

from __future__ import annotations

from analytiq_data.backup.ddl import coll_mod_command, create_command, create_indexes_command


def test_create_keeps_creation_options_and_defers_validator_and_ttl() -> None:
    options = {"capped": True, "size": 4096, "validator": {"a": {"$type": "int"}}, "expireAfterSeconds": 5}
    command = create_command("events", options)
    assert list(command.items()) == [("create", "events"), ("capped", True), ("size", 4096)]
    mod = coll_mod_command("events", options)
    assert mod is not None
    assert list(mod.items()) == [
        ("collMod", "events"),
        ("validator", {"a": {"$type": "int"}}),
        ("expireAfterSeconds", 5),
    ]


def test_coll_mod_is_none_without_deferred_options() -> None:
    assert coll_mod_command("plain", {"collation": {"locale": "fr"}}) is None


def test_create_indexes_keeps_every_option_and_leaves_out_id_and_ns() -> None:
    specs = [
        {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        {
            "v": 2,
            "key": {"b": 1, "a": -1},
            "name": "b_a",
            "unique": True,
            "ns": "db.c",
            "partialFilterExpression": {"b": 1},
        },
    ]
    command = create_indexes_command("c", specs)
    assert command is not None
    assert command["createIndexes"] == "c"
    assert command["indexes"] == [
        {"v": 2, "key": {"b": 1, "a": -1}, "name": "b_a", "unique": True, "partialFilterExpression": {"b": 1}}
    ]
    assert list(command["indexes"][0]["key"]) == ["b", "a"]
    assert create_indexes_command("c", specs[:1]) is None


def test_a_view_is_created_from_its_definition() -> None:
    command = create_command("v", {"viewOn": "c", "pipeline": [{"$match": {"x": 1}}]})
    assert list(command.items()) == [("create", "v"), ("viewOn", "c"), ("pipeline", [{"$match": {"x": 1}}])]
