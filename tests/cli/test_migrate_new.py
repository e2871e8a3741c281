"""``analytiq-db new "description"``: a runnable class appended to the module and registered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.migrations_fixtures.helpers import CLI, ROOT

MODULE = '''"""My migrations."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration


class FirstMigration(Migration):
    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.things.insert_one({"_id": 1})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.things.delete_one({"_id": 1})
        return True


# Versions are positions in this list.
MIGRATIONS: list[Migration] = [
    FirstMigration(),
]
'''

EMPTY = """from analytiq_data.migrations.base import Migration

MIGRATIONS: list[Migration] = []
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    return subprocess.run([CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_new_appends_a_registered_runnable_class(tmp_path: Path, mongo_uri: str, db_name: str) -> None:
    path = tmp_path / "mymigs.py"
    path.write_text(MODULE)
    result = run(tmp_path, "new", "add index on users.email", "--migrations", "mymigs:MIGRATIONS")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote AddIndexOnUsersEmailMigration (version 2) to {path}\n"
    result = run(tmp_path, "new", "backfill 2024 data", "--migrations", "mymigs")
    assert result.stdout == f"wrote Backfill2024DataMigration (version 3) to {path}\n"

    text = path.read_text()
    assert text.index("class Backfill2024DataMigration") < text.index("# Versions are positions")
    assert "    FirstMigration(),\n    AddIndexOnUsersEmailMigration(),\n    Backfill2024DataMigration(),\n]" in text
    assert 'super().__init__(description="add index on users.email")' in text
    assert "except" not in text  # generated steps let exceptions propagate
    lint = subprocess.run(
        [
            str(Path(sys.executable).parent / "ruff"),
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            "E,F,W,B,UP",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout

    up = run(tmp_path, "up", "--migrations", "mymigs:MIGRATIONS", "--uri", mongo_uri, "--db", db_name)
    assert up.returncode == 0, up.stderr
    assert "version 0 → 3 (3 steps applied)" in up.stdout

    again = run(tmp_path, "new", "add index on users email", "--migrations", "mymigs:MIGRATIONS")
    assert again.returncode == 3
    assert again.stderr == (
        f"analytiq-db: error: {path} already defines AddIndexOnUsersEmailMigration — describe the new change "
        "differently\n"
    )


def test_new_on_an_empty_one_line_list_adds_imports(tmp_path: Path) -> None:
    (tmp_path / "emptymigs.py").write_text(EMPTY)
    result = run(tmp_path, "new", "create users", "--migrations", "emptymigs:MIGRATIONS", "--json")
    assert result.returncode == 0, result.stderr
    assert '"version": 1' in result.stdout and '"class_name": "CreateUsersMigration"' in result.stdout
    check = subprocess.run(
        [sys.executable, "-c", "import emptymigs; print([m.name for m in emptymigs.MIGRATIONS])"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "['CreateUsersMigration']", check.stderr


def test_new_works_on_a_copy_of_analytiqs_own_list(tmp_path: Path) -> None:
    source = ROOT / "packages" / "analytiq_data" / "migrations" / "migration.py"
    shutil.copy(source, tmp_path / "analytiq_copy.py")
    count = "import analytiq_copy as m; print(len(m.MIGRATIONS))"
    before = subprocess.run([sys.executable, "-c", count], cwd=tmp_path, capture_output=True, text=True)
    assert before.returncode == 0, before.stderr
    result = run(tmp_path, "new", "add index on documents", "--migrations", "analytiq_copy:MIGRATIONS")
    assert result.returncode == 0, result.stderr
    assert f"(version {int(before.stdout) + 1})" in result.stdout
    after = subprocess.run([sys.executable, "-c", count], cwd=tmp_path, capture_output=True, text=True)
    assert int(after.stdout) == int(before.stdout) + 1
