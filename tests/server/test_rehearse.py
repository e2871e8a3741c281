"""``rehearse`` on the sample database: the four Analytiq migrations pass (whole copy and sample), three
broken migrations are each caught by the right check with the field named, declared exceptions are
skipped, and the real database stays byte-identical (documents, indexes, options, collection UUIDs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import up
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.migration import MIGRATIONS
from analytiq_data.migrations.sample import generate_sample
from analytiq_data.safety import rehearse
from analytiq_data.safety.results import CHECKS
from tests.migrations_fixtures import broken_migrations as broken
from tests.server.test_rehearse_support import databases, raw_state

DOCS = 80


@pytest.fixture
async def sample(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> AsyncIterator[AnalytiqClient]:
    """An AnalytiqClient on this test's database, filled with the version-0 sample (a few hundred documents)."""
    await generate_sample(db, docs=DOCS, seed=7)
    client = AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        yield client
    finally:
        await client.close()


async def test_the_four_migrations_pass_on_a_whole_copy_and_nothing_is_written_to_the_database(
    sample: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    before = await raw_state(db)
    result = await rehearse(sample, MIGRATIONS)
    assert result.passed, [m.to_json() for m in result.migrations]
    assert [m.name for m in result.migrations] == [m.name for m in MIGRATIONS]
    assert (result.from_version, result.to_version, result.sample) == (0, 4, None)
    for row in result.migrations:
        assert [c.status for c in row.checks] == ["passed"] * len(CHECKS), row.to_json()
        assert row.touched and row.touched > 0, row.name
    assert result.documents_copied == sum(len(entry.get("documents", [])) for entry in before.values())
    assert await raw_state(db) == before  # byte for byte, indexes, options and UUIDs included
    assert await databases(db) == []  # the scratch database and its snapshots are gone
    assert "migration_lock" not in await db.list_collection_names()


async def test_the_four_migrations_pass_on_a_sample_that_favours_what_they_change(
    sample: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    before = await raw_state(db)
    result = await rehearse(sample, MIGRATIONS, sample=12, keep=True)
    assert result.passed, [m.to_json() for m in result.migrations]
    assert result.kept and result.scratch is not None and await databases(db) == [result.scratch]
    scratch = db.client[result.scratch]
    files = [f async for f in scratch["ocr.files"].find()]
    assert len(files) == 12
    assert all(f["filename"].endswith("_json") for f in files)  # every sampled file was a _list one, renamed
    chunks = [c async for c in scratch["ocr.chunks"].find()]
    assert {c["files_id"] for c in chunks} == {f["_id"] for f in files}  # chunks follow their files
    assert len(chunks) == await db["ocr.chunks"].count_documents({"files_id": {"$in": [f["_id"] for f in files]}})
    runs = [r async for r in scratch["llm.runs"].find()]
    assert len(runs) == 12 and all("updated_llm_result" in r or "llm_result" not in r for r in runs)
    assert await scratch["documents"].count_documents({}) == 12  # no filter: filled up to the sample size
    assert (await db["llm.runs"].index_information()).keys() == (await scratch["llm.runs"].index_information()).keys()
    assert result.documents_copied < sum(len(entry.get("documents", [])) for entry in before.values())
    assert await raw_state(db) == before


@pytest.mark.parametrize(
    ("migrations", "check", "field", "shown"),
    [
        (broken.NOT_IDEMPOTENT, "idempotent", "review_count", "review_count: 1 (int) → 2 (int)"),
        (broken.DOWN_LOSES_FIELD, "down restores", "state", "state: '"),
        (broken.RAISES_HALFWAY, "up", "reviewed", "reviewed: (absent) → True (bool)"),
    ],
    ids=["not-idempotent", "down-loses-a-field", "up-raises-half-way"],
)
async def test_a_broken_migration_is_caught_by_the_check_it_breaks_with_the_field_named(
    sample: AnalytiqClient,
    db: AsyncDatabase[Any],
    migrations: list[Migration],
    check: str,
    field: str,
    shown: str,
) -> None:
    before = await raw_state(db)
    result = await rehearse(sample, migrations)
    assert not result.passed
    (row,) = result.migrations
    failed = row.failed
    assert failed is not None and failed.name == check, row.to_json()
    later = CHECKS[CHECKS.index(check) + 1 :]
    assert [row.check(name).status for name in later] == ["not run"] * len(later)
    assert row.diff is not None and row.diff.collection == "documents"
    paths = [change.path for change in row.diff.changes]
    assert field in paths, row.diff.lines()
    assert any(shown in line for line in row.diff.lines()), row.diff.lines()
    if check == "down restores":
        assert "absent" in next(c.after for c in row.diff.changes if c.path == "state")
    if check == "up":
        assert "stopped half way" in (failed.reason or "")
    assert await raw_state(db) == before
    assert await databases(db) == []


async def test_declared_exceptions_are_skipped_not_failed(sample: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    result = await rehearse(sample, broken.DECLARED)
    assert result.passed, [m.to_json() for m in result.migrations]
    first, second = result.migrations
    assert first.check("idempotent").cell() == "skipped: declared not idempotent"
    assert [first.check(n).status for n in ("up", "down restores", "up again")] == ["passed"] * 3
    assert second.check("down restores").cell() == "skipped: declared irreversible"
    assert second.check("up again").cell() == "skipped: declared irreversible"
    assert second.check("idempotent").status == "passed"


async def test_only_the_pending_migrations_up_to_the_target_are_rehearsed(
    sample: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    await up(sample, 2, migrations=MIGRATIONS)
    before = await raw_state(db)
    result = await rehearse(sample, MIGRATIONS, to=3)
    assert result.passed and (result.from_version, result.to_version) == (2, 3)
    assert [m.version for m in result.migrations] == [3]
    assert await raw_state(db) == before
    nothing = await rehearse(sample, MIGRATIONS, to=2)
    assert nothing.migrations == () and nothing.scratch is None and nothing.passed
