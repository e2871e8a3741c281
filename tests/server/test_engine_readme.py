"""The migration guide of the docs is true: the code its pages show (docs/how-to/write-a-migration.md, the run
hooks of docs/how-to/run-migrations.md, the app's client of docs/how-to/motor.md) is the code these tests run
on a real server."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.migrations import StepFailedError
from tests.migrations_fixtures import readme_examples
from tests.migrations_fixtures.readme_examples import RenameFieldMigration

DOCS = Path(__file__).resolve().parents[2] / "docs"
# (page, section): the sections whose python blocks must be the tested code.
SECTIONS = (
    (DOCS / "how-to" / "write-a-migration.md", "migrations"),
    (DOCS / "how-to" / "run-migrations.md", "hooks"),
    (DOCS / "how-to" / "motor.md", "appclient"),
)


@pytest.fixture
async def analytiq_client(mongo_uri: str, db_name: str) -> AsyncIterator[ad.AnalytiqClient]:
    client = ad.AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        yield client
    finally:
        await client.close()


# The "Test it" example of docs/how-to/write-a-migration.md, verbatim.
async def test_rename_field_migration(analytiq_client: ad.AnalytiqClient) -> None:
    db = analytiq_client.db
    await db.users.insert_one({"_id": 1, "name": "Ada"})
    migrations = [RenameFieldMigration()]

    await ad.migrations.run_migrations(analytiq_client, migrations=migrations)  # up
    assert await db.users.find_one({"_id": 1}) == {"_id": 1, "full_name": "Ada"}
    result = await ad.migrations.run_migrations(analytiq_client, migrations=migrations)
    assert result.nothing_to_do
    await ad.migrations.run_migrations(analytiq_client, target_version=0, migrations=migrations)
    assert await db.users.find_one({"_id": 1}) == {"_id": 1, "name": "Ada"}


def _shown_python_blocks() -> list[str]:
    blocks = []
    for page, name in SECTIONS:
        section = page.read_text().split(f"<!-- section:{name} -->")[1].split(f"<!-- /section:{name} -->")[0]
        blocks += re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return blocks


def _definitions(source: str) -> dict[str, str]:
    tree = compile(source, "<docs>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert isinstance(tree, ast.Module)
    return {
        node.name: ast.dump(node)
        for node in tree.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_the_docs_show_the_code_the_tests_run() -> None:
    shown: dict[str, str] = {}
    for block in _shown_python_blocks():
        shown.update(_definitions(block))
    tested = _definitions(inspect.getsource(readme_examples)) | _definitions(inspect.getsource(sys.modules[__name__]))
    assert set(shown) >= {
        "RenameFieldMigration",
        "AddNewFieldMigration",
        "AddDisplayNameMigration",
        "CreateEmailIndexMigration",
        "test_rename_field_migration",
        "release_claims",
        "reconcile_indexes",
        "AppClient",
    }
    for name, dump in shown.items():
        assert name in tested, f"the docs define {name}, which no test runs"
        assert dump == tested[name], f"the docs' {name} differs from the tested code"


async def test_the_docs_migrations_run_up_twice_and_down(
    analytiq_client: ad.AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    await db.users.insert_many([{"_id": 1, "name": "Ada"}, {"_id": 2, "name": "Grace", "email": "g@x"}])
    result = await ad.migrations.run_migrations(analytiq_client, migrations=readme_examples.MIGRATIONS)
    assert [s.transactional for s in result.steps] == [True, True, True, False]
    expected = [
        {"_id": 1, "full_name": "Ada", "new_field": "new_value", "display_name": "ADA"},
        {"_id": 2, "full_name": "Grace", "email": "g@x", "new_field": "new_value", "display_name": "GRACE"},
    ]
    assert [d async for d in db.users.find().sort("_id")] == expected
    assert "email_unique" in await db.users.index_information()

    for migration in readme_examples.MIGRATIONS:  # idempotent: a second up changes nothing
        assert await migration.up(db) is True
    assert [d async for d in db.users.find().sort("_id")] == expected

    await ad.migrations.run_migrations(analytiq_client, target_version=0, migrations=readme_examples.MIGRATIONS)
    assert [d async for d in db.users.find().sort("_id")] == [
        {"_id": 1, "name": "Ada"},
        {"_id": 2, "name": "Grace", "email": "g@x"},
    ]
    assert "email_unique" not in await db.users.index_information()


async def test_the_guides_addfields_update_document_is_rejected_by_the_server(db: AsyncDatabase[Any]) -> None:
    await db.users.insert_one({"_id": 1})
    with pytest.raises(Exception, match=r"Unknown modifier: \$addFields"):
        await db.users.update_many({}, {"$addFields": {"new_field": "new_value"}})


async def test_the_guides_catch_all_style_loses_the_traceback_but_not_the_cause(
    analytiq_client: ad.AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(analytiq_client, migrations=[readme_examples.GuideStyleMigration()])
    cause = "returned False after update on users failed: Unknown modifier: $addFields."
    assert info.value.message.startswith(f"version 1 (GuideStyleMigration) failed (up): {cause}")
    record = (await ad.migrations.history(analytiq_client, limit=1)).records[0]
    assert record.error is not None and record.error.startswith(cause)
    assert "addFields" not in (record.traceback or "")  # the step swallowed the exception
