"""The version a restore reads (the target's before, the loaded one after) is read as the migration
engine reads it: one parse (``state.parse_version``), so a version document holding 1.5 or a string
stops the restore with the engine's line instead of being recorded as 1 (or 0) in the history."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.engine.state import VERSION_ID, StateStore
from analytiq_data.safety.restore_run import read_version


@pytest.mark.parametrize("value", [1.5, "two", True, None])
async def test_a_version_that_is_not_a_whole_number_is_refused_as_the_engine_refuses_it(
    db: AsyncDatabase[Any], value: object
) -> None:
    await db["staged_versions"].insert_one({"_id": VERSION_ID, "version": value})
    with pytest.raises(MigrationError, match=r"the version document holds .*, not a whole number") as ours:
        await read_version(db, "staged_versions")
    await db["migrations"].insert_one({"_id": VERSION_ID, "version": value})
    with pytest.raises(MigrationError) as engine:
        await StateStore(db).read_version()
    assert (ours.value.message, ours.value.hint) == (engine.value.message, engine.value.hint)


@pytest.mark.parametrize(("doc", "expected"), [(None, 0), ({}, 0), ({"version": 3}, 3), ({"version": 2.0}, 2)])
async def test_a_whole_version_is_read_as_the_engine_reads_it(
    db: AsyncDatabase[Any], doc: dict[str, Any] | None, expected: int
) -> None:
    if doc is not None:
        await db["staged_versions"].insert_one({"_id": VERSION_ID, **doc})
        await db["migrations"].insert_one({"_id": VERSION_ID, **doc})
    assert await read_version(db, "staged_versions") == expected
    assert (await StateStore(db).read_version()).version == expected
