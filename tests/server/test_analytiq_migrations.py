"""Each of the four migrations on the sample database: idempotent, reversible field for field, and kind to
what the app writes after the upgrade. Migrations are called directly (``up(db)`` / ``down(db)``) with
small batches so that every walk spans many batches."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.analytiq.journal import JOURNAL_PREFIX, JournaledMigration
from analytiq_data.migrations.batch import CHECKPOINTS
from analytiq_data.migrations.migration import MIGRATIONS
from analytiq_data.migrations.sample import generate_sample
from tests.server.test_analytiq_support import assert_same, snapshot_all

DOCS = 300
BATCH = 40
VERSIONS = [1, 2, 3, 4]


def step(version: int, batch_size: int = BATCH) -> JournaledMigration:
    """Return a fresh instance of migration ``version`` walking ``batch_size`` documents at a time."""
    cls = type(MIGRATIONS[version - 1])
    assert issubclass(cls, JournaledMigration)
    return cls(batch_size=batch_size)


async def sample_at(db: AsyncDatabase[Any], version: int, docs: int = DOCS, seed: int = 3) -> None:
    """Write the sample and bring it to ``version`` with the migrations before it."""
    await generate_sample(db, docs=docs, seed=seed)
    for v in range(1, version + 1):
        assert await step(v).up(db) is True


async def bookkeeping(db: AsyncDatabase[Any]) -> list[str]:
    """Return the undo journals left in ``db``, and the checkpoints collection if it holds any checkpoint."""
    names = sorted(n for n in await db.list_collection_names() if n.startswith(JOURNAL_PREFIX))
    if await db[CHECKPOINTS].count_documents({}):
        names.append(CHECKPOINTS)
    return names


@pytest.mark.parametrize("version", VERSIONS)
async def test_up_twice_leaves_the_same_data_as_once(db: AsyncDatabase[Any], version: int) -> None:
    await sample_at(db, version - 1)
    await step(version).up(db)
    once = await snapshot_all(db)
    journal = await db[JOURNAL_PREFIX + MIGRATIONS[version - 1].name].count_documents({})
    await step(version, batch_size=7).up(db)
    assert_same(once, await snapshot_all(db))
    assert await db[JOURNAL_PREFIX + MIGRATIONS[version - 1].name].count_documents({}) == journal  # nothing new


@pytest.mark.parametrize("version", VERSIONS)
async def test_up_then_down_gives_back_every_document_exactly(db: AsyncDatabase[Any], version: int) -> None:
    await sample_at(db, version - 1)
    original = await snapshot_all(db)
    await step(version).up(db)
    changed = await snapshot_all(db)
    assert changed != original, "the sample must give the migration work"
    assert await step(version).down(db) is True
    assert_same(original, await snapshot_all(db))
    left = await bookkeeping(db)  # its journal dropped, no checkpoint left; earlier steps keep theirs
    assert left == sorted(JOURNAL_PREFIX + MIGRATIONS[v - 1].name for v in range(1, version))


@pytest.mark.parametrize("version", VERSIONS)
async def test_down_up_again_equals_a_single_up(db: AsyncDatabase[Any], version: int) -> None:
    await sample_at(db, version - 1)
    await step(version).up(db)
    once = await snapshot_all(db)
    await step(version).down(db)
    await step(version, batch_size=1000).up(db)
    assert_same(once, await snapshot_all(db))


@pytest.mark.parametrize("version", VERSIONS)
async def test_down_with_nothing_recorded_changes_nothing(db: AsyncDatabase[Any], version: int) -> None:
    await sample_at(db, version - 1)
    before = await snapshot_all(db)
    assert await step(version).down(db) is True
    assert_same(before, await snapshot_all(db))


async def test_the_full_chain_up_and_down_restores_version_zero(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=DOCS, seed=11)
    original = await snapshot_all(db)
    for v in VERSIONS:
        await step(v).up(db)
    for v in reversed(VERSIONS):
        await step(v).down(db)
    assert_same(original, await snapshot_all(db))
    assert await bookkeeping(db) == []
