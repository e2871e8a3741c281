"""The Python API uses the list the command line uses when the caller passes none.

An application configures its own list (``[tool.analytiq-db] migrations = …`` in its pyproject.toml, or
``ANALYTIQ_DB_MIGRATIONS``) and keeps its original start-up code unchanged: ``schema_migrations_pending``,
``run_migrations``, ``get_current_version``, ``check`` and ``status`` answer for that list. Analytiq's
four are the list only where nothing is configured.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError

STEPS = 5


def _module(steps: int) -> str:
    classes = "".join(
        f'''
class Step{n}(Migration):
    def __init__(self):
        super().__init__(description="step {n}")

    async def up(self, db) -> bool:
        await db.shop_steps.insert_one({{"_id": {n}}})
        return True

    async def down(self, db) -> bool:
        await db.shop_steps.delete_one({{"_id": {n}}})
        return True
'''
        for n in range(1, steps + 1)
    )
    names = ", ".join(f"Step{n}()" for n in range(1, steps + 1))
    head = "from analytiq_data.migrations import Migration\n"
    return f"{head}{classes}\nMIGRATIONS = [{names}]\nSHORT = MIGRATIONS[:3]\n"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An application's project: its own package and list, configured in its pyproject.toml; run from there."""
    package = f"shop_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "migs.py").write_text(_module(STEPS))
    (tmp_path / "pyproject.toml").write_text(f'[tool.analytiq-db]\nmigrations = "{package}.migs:MIGRATIONS"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # whatever the API adds is undone after the test
    monkeypatch.delenv("ANALYTIQ_DB_MIGRATIONS", raising=False)
    return package


async def test_the_apps_start_up_code_answers_for_the_configured_list(
    shop: str, aclient: AnalytiqClient, db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The application's start-up code, unchanged: it passes no list.
    assert await ad.migrations.schema_migrations_pending(db, target_version=STEPS) is True
    assert await ad.migrations.schema_migrations_pending(db) is True
    result = await ad.migrations.run_migrations(aclient)
    assert [s.name for s in result.steps] == [f"Step{n}" for n in range(1, STEPS + 1)]
    assert await ad.migrations.get_current_version(db) == STEPS
    assert await ad.migrations.schema_migrations_pending(db) is False
    assert await db.shop_steps.count_documents({}) == STEPS
    checked = await ad.migrations.check(aclient)
    assert checked.ok and (checked.version, checked.head) == (STEPS, STEPS)
    assert (await ad.migrations.status(aclient)).head == STEPS

    # The variable beats the table, as on the command line.
    monkeypatch.setenv("ANALYTIQ_DB_MIGRATIONS", f"{shop}.migs:SHORT")
    assert (await ad.migrations.status(aclient)).head == 3
    assert await ad.migrations.schema_migrations_pending(db, target_version=3) is True
    # A list passed explicitly is used as given.
    assert (await ad.migrations.status(aclient, migrations=[])).head == 0


async def test_analytiqs_four_where_nothing_is_configured(
    tmp_path: Path, db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml with our table here or above
    monkeypatch.delenv("ANALYTIQ_DB_MIGRATIONS", raising=False)
    assert await ad.migrations.schema_migrations_pending(db, target_version=4) is True
    with pytest.raises(ConfigurationError, match="valid versions are 0–4"):
        await ad.migrations.schema_migrations_pending(db, target_version=5)


async def test_a_broken_configuration_is_one_error_not_analytiqs_list(
    shop: str, db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYTIQ_DB_MIGRATIONS", f"{shop}.missing:MIGRATIONS")
    with pytest.raises(ConfigurationError, match=f"cannot import migrations module '{shop}.missing'"):
        await ad.migrations.schema_migrations_pending(db)


def test_new_writes_into_the_configured_module(shop: str, tmp_path: Path) -> None:
    result = ad.migrations.new("a sixth step")
    assert (result.path, result.version) == (str(tmp_path / shop / "migs.py"), STEPS + 1)
