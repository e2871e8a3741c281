"""LlmResultFieldsMigration: the five fields added where missing, and a user's edit surviving down."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.analytiq.shapes import LLM_NEW_FIELDS
from analytiq_data.migrations.migration import LlmResultFieldsMigration
from analytiq_data.migrations.sample import generate_sample
from tests.server.test_analytiq_support import snapshot


async def test_up_adds_the_missing_fields_with_honest_values(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=400, seed=4)
    before = await snapshot(db, "llm.runs")
    runs_before = {r["_id"]: r for r in await db["llm.runs"].find().to_list()}
    await LlmResultFieldsMigration(batch_size=35).up(db)
    after = await snapshot(db, "llm.runs")
    runs_after = {r["_id"]: r for r in await db["llm.runs"].find().to_list()}
    id_of = {b"\x07" + run_id.binary: run_id for run_id in runs_before}
    assert after.keys() == before.keys()
    kinds = {"old": 0, "partial": 0, "new": 0, "no result": 0}
    for key, old in before.items():
        new = after[key]
        run_id = id_of[key]
        for name, raw in old.items():  # nothing the run had changes, type for type
            assert new[name] == raw, (run_id, name)
        present = [f for f in LLM_NEW_FIELDS if f in old]
        if "llm_result" not in old:
            kinds["no result"] += 1
            assert "updated_llm_result" not in new
        else:
            assert "updated_llm_result" in new
            if "updated_llm_result" not in old:  # a copy, byte for byte
                assert new["updated_llm_result"] == old["llm_result"]
        kinds["new" if len(present) == 5 else "partial" if present else "old"] += 1
        run = runs_after[run_id]
        created = run_id.generation_time
        for name, expected in (
            ("is_edited", False),
            ("is_verified", False),
            ("created_at", created),
            ("updated_at", created),
        ):
            if name not in old:
                assert run[name] == expected and type(run[name]) is type(expected), (run_id, name)
    assert all(kinds.values()), kinds


async def test_a_run_without_objectid_gets_the_migration_time(db: AsyncDatabase[Any]) -> None:
    await db["llm.runs"].insert_one({"_id": "run-1", "prompt_id": "p", "document_id": "d", "llm_result": {"a": 1}})
    started = datetime.now(UTC).replace(microsecond=0)
    await LlmResultFieldsMigration().up(db)
    run = await db["llm.runs"].find_one({"_id": "run-1"})
    assert run is not None
    assert started <= run["created_at"] == run["updated_at"] <= datetime.now(UTC)
    await LlmResultFieldsMigration().down(db)
    assert await db["llm.runs"].find_one({"_id": "run-1"}) == {
        "_id": "run-1",
        "prompt_id": "p",
        "document_id": "d",
        "llm_result": {"a": 1},
    }


async def test_down_keeps_a_users_edit_and_runs_created_after_the_upgrade(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=150, seed=9)
    original = await snapshot(db, "llm.runs")
    await LlmResultFieldsMigration(batch_size=20).up(db)
    upgraded = await db["llm.runs"].find({"is_edited": False, "is_verified": False}).sort("_id", 1).to_list()
    edited, verified, touched = upgraded[3], upgraded[10], upgraded[20]
    now = datetime.now(UTC).replace(microsecond=0)
    await db["llm.runs"].update_one(
        {"_id": edited["_id"]},
        {"$set": {"updated_llm_result": {"total": "corrected"}, "is_edited": True, "updated_at": now}},
    )
    await db["llm.runs"].update_one({"_id": verified["_id"]}, {"$set": {"is_verified": True}})
    await db["llm.runs"].update_one({"_id": touched["_id"]}, {"$set": {"updated_at": now}})
    fresh = {
        "_id": ObjectId(),
        "prompt_id": "p",
        "document_id": "d",
        "llm_result": {"x": 1},
        "updated_llm_result": {"x": 1},
        "is_edited": False,
        "is_verified": False,
        "created_at": now,
        "updated_at": now,
    }
    await db["llm.runs"].insert_one(fresh)
    kept = {
        r["_id"]: r
        for r in await db["llm.runs"].find({"_id": {"$in": [edited["_id"], verified["_id"], touched["_id"]]}}).to_list()
    }

    await LlmResultFieldsMigration(batch_size=20).down(db)
    for run_id, run in kept.items():  # the app's changes survive, with every field up added
        assert await db["llm.runs"].find_one({"_id": run_id}) == run
    assert await db["llm.runs"].find_one({"_id": fresh["_id"]}) == fresh
    back = await snapshot(db, "llm.runs")
    untouched = {k for k in original if k[1:] not in {i.binary for i in kept}}
    assert {k: back[k] for k in untouched} == {k: original[k] for k in untouched}
