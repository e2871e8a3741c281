"""Shared helpers of the engine tests: a client on a test database and readers of its state."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def effects(db: AsyncDatabase[Any]) -> dict[str, int]:
    """Return how many times each ``<version>:<direction>`` ran."""
    return {doc["_id"]: doc["n"] async for doc in db.effects.find()}


async def version_doc(db: AsyncDatabase[Any]) -> dict[str, Any] | None:
    """Return the raw version document."""
    doc: dict[str, Any] | None = await db.migrations.find_one({"_id": "schema_version"})
    return doc


async def history_docs(db: AsyncDatabase[Any]) -> list[dict[str, Any]]:
    """Return the raw history records, oldest first."""
    return [doc async for doc in db.migration_history.find().sort("_id", 1)]
