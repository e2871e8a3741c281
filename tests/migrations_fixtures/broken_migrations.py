"""Deliberately broken migrations on the sample database's ``documents``, for rehearse and restore tests.

- ``IncrementsEachUp``: not idempotent (``$inc`` on every up), though it does not say so;
- ``DownLosesField``: up renames ``state`` to ``status``; down drops ``status`` instead of renaming back;
- ``RaisesHalfway``: marks half the documents ``reviewed`` outside a transaction, then raises.

The ``Declared…`` variants say what they are (``idempotent = False``, ``reversible = False``), so a
rehearsal skips the checks they opt out of instead of failing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.migration import LlmResultFieldsMigration, OcrKeyMigration


class IncrementsEachUp(Migration):
    """Count a review on every document (each up counts again: not idempotent)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.documents.update_many({}, {"$inc": {"review_count": 1}})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.documents.update_many({}, {"$unset": {"review_count": ""}})
        return True


class DownLosesField(Migration):
    """Rename documents.state to status; down forgets to rename it back and loses it."""

    sample_filters: ClassVar[Mapping[str, Mapping[str, Any]]] = {"documents": {"state": {"$exists": True}}}

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.documents.update_many({"state": {"$exists": True}}, {"$rename": {"state": "status"}})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.documents.update_many({}, {"$unset": {"status": ""}})
        return True


class RaisesHalfway(Migration):
    """Mark documents reviewed, then fail half way (outside a transaction, so half stays marked)."""

    use_transaction = False

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        ids = [doc["_id"] async for doc in db.documents.find({}, {"_id": 1}).sort("_id", 1)]
        half = ids[: len(ids) // 2]
        await db.documents.update_many({"_id": {"$in": half}}, {"$set": {"reviewed": True}})
        raise RuntimeError(f"stopped half way, after marking {len(half)} documents")

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.documents.update_many({}, {"$unset": {"reviewed": ""}})
        return True


class DeclaredNotIdempotent(IncrementsEachUp):
    """The same $inc, declared unsafe to re-run."""

    idempotent = False


class DeclaredIrreversible(DownLosesField):
    """The same lossy rename, declared irreversible."""

    reversible = False


NOT_IDEMPOTENT: list[Migration] = [IncrementsEachUp()]
DOWN_LOSES_FIELD: list[Migration] = [DownLosesField()]
RAISES_HALFWAY: list[Migration] = [RaisesHalfway()]
DECLARED: list[Migration] = [DeclaredNotIdempotent(), DeclaredIrreversible()]
# Two of Analytiq's migrations apply, then the third fails half way: what up --backup guards against.
FAILS_AFTER_TWO: list[Migration] = [OcrKeyMigration(), LlmResultFieldsMigration(), RaisesHalfway()]
