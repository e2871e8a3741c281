"""The batch helper example of docs/how-to/data-migrations.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "data-migrations.md"


def example_namespace() -> dict[str, Any]:
    """Execute the documented example and return the names it defines."""
    text = DOC.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "class SplitUserNamesMigration(" in b]
    assert len(blocks) == 1, "the example block is missing from the documentation"
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    return namespace


async def test_split_user_names_example_runs_up_and_down(db: AsyncDatabase[Any]) -> None:
    migration = example_namespace()["SplitUserNamesMigration"]()
    users = [{"_id": i, "name": name} for i, name in enumerate(["Ada Lovelace", "Cher", "Grace Brewster Hopper"])]
    await db.users.insert_many(users)
    assert await migration.up(db) is True
    assert await db.users.find({}, {"_id": 0}).sort("first_name", 1).to_list() == [
        {"first_name": "Ada", "last_name": "Lovelace"},
        {"first_name": "Cher", "last_name": ""},
        {"first_name": "Grace", "last_name": "Brewster Hopper"},
    ]
    assert await migration.up(db) is True  # nothing left to do
    assert await migration.down(db) is True
    assert await db.users.find().sort("_id", 1).to_list() == users


async def test_journaled_example_reverts_exactly_and_keeps_later_edits(db: AsyncDatabase[Any]) -> None:
    migration = example_namespace()["LowercaseEmailsMigration"]()
    users = [{"_id": i, "email": email} for i, email in enumerate(["Ada@Example.org", "cher@x.io", "GRACE@navy.mil"])]
    await db.users.insert_many(users)
    assert migration.sample_filters == {"users": {"email": {"$regex": "[A-Z]"}}}
    assert await migration.up(db) is True
    assert [u["email"] for u in await db.users.find().sort("_id", 1).to_list()] == [
        "ada@example.org",
        "cher@x.io",
        "grace@navy.mil",
    ]
    await db.users.update_one({"_id": 2}, {"$set": {"email": "grace.hopper@navy.mil"}})  # the app, after up
    assert await migration.down(db) is True
    assert [u["email"] for u in await db.users.find().sort("_id", 1).to_list()] == [
        "Ada@Example.org",
        "cher@x.io",
        "grace.hopper@navy.mil",
    ]
