"""A step's transaction meeting another writer's open transaction: a real write conflict (code 112,
label TransientTransactionError, produced here by two sessions on the server) is retried in a
transaction; only when it persists through every attempt does the step run outside one.

The other writer is a transaction the step itself opens on a second client, so when the conflict
happens and when it ends are decided by the test, not by timing: the step holds the other
transaction open for its first ``conflicts`` calls and aborts it before writing on the next call.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

import analytiq_data as ad
from analytiq_data.client import server_kind
from analytiq_data.migrations import Migration
from analytiq_data.migrations.engine.session import TRANSACTION_RETRIES
from tests.migrations_fixtures.helpers import history_docs


class ConflictingStep(Migration):
    """Sets docs 1 to "migrated" while, for its first ``conflicts`` calls, another transaction holds doc 1."""

    def __init__(self, other: AsyncMongoClient[Any], db_name: str, conflicts: int) -> None:
        super().__init__("update a document another transaction holds")
        self.other, self.db_name, self.conflicts = other, db_name, conflicts
        self.calls = 0
        self.session: AsyncClientSession | None = None
        self.failures: list[tuple[int | None, bool]] = []  # (code, transient label) of each conflict seen

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        self.calls += 1
        if self.calls <= self.conflicts:
            await self._hold()
        else:
            await self._let_go()
        try:
            await db.docs.update_one({"_id": 1}, {"$set": {"v": "migrated"}})
        except PyMongoError as exc:
            self.failures.append((getattr(exc, "code", None), exc.has_error_label("TransientTransactionError")))
            raise
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True

    async def _hold(self) -> None:
        if self.session is None:
            self.session = self.other.start_session()
        if not self.session.in_transaction:
            await self.session.start_transaction()
            await self.other[self.db_name].docs.update_one({"_id": 1}, {"$set": {"v": "other"}}, session=self.session)

    async def _let_go(self) -> None:
        if self.session is not None:
            await self.session.abort_transaction()
            await self.session.end_session()
            self.session = None


@pytest.fixture
async def other(mongo_uri: str) -> Any:
    c: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    if not server_kind(await c.admin.command("hello")).supports_transactions:
        await c.close()
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions to conflict")
    try:
        yield c
    finally:
        await c.close()


async def test_a_write_conflict_is_retried_in_a_transaction(
    aclient: ad.AnalytiqClient, db: AsyncDatabase[Any], db_name: str, other: AsyncMongoClient[Any]
) -> None:
    await db.docs.insert_one({"_id": 1, "v": "before"})
    step = ConflictingStep(other, db_name, conflicts=1)
    result = await ad.migrations.run_migrations(aclient, migrations=[step])
    assert step.failures == [(112, True)]  # the server's WriteConflict, labelled transient
    assert step.calls == 2
    (applied,) = result.steps
    assert applied.transactional and applied.transaction_note is None
    assert await db.docs.find_one({"_id": 1}) == {"_id": 1, "v": "migrated"}
    (record,) = await history_docs(db)
    assert (record["outcome"], record["transactional"]) == ("applied", True)


async def test_a_conflict_that_persists_runs_the_step_outside_a_transaction(
    aclient: ad.AnalytiqClient, db: AsyncDatabase[Any], db_name: str, other: AsyncMongoClient[Any]
) -> None:
    await db.docs.insert_one({"_id": 1, "v": "before"})
    step = ConflictingStep(other, db_name, conflicts=TRANSACTION_RETRIES)
    result = await ad.migrations.run_migrations(aclient, migrations=[step])
    assert step.failures == [(112, True)] * TRANSACTION_RETRIES
    assert step.calls == TRANSACTION_RETRIES + 1
    (applied,) = result.steps
    assert not applied.transactional
    assert applied.transaction_note is not None and "WriteConflict" in applied.transaction_note
    assert await db.docs.find_one({"_id": 1}) == {"_id": 1, "v": "migrated"}
    (record,) = await history_docs(db)
    assert (record["outcome"], record["transactional"]) == ("applied", False)
