"""``init`` and ``new`` without a server: what they write, where, and that ruff (import sorting included) passes it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.imports import add_import
from analytiq_data.migrations.engine.scaffold import init_project, installed, new
from analytiq_data.settings import KEYS, Flags, resolve

ROOT = Path(__file__).resolve().parents[2]
RUFF = str(Path(sys.executable).parent / "ruff")
RULES = "I,F,E,W,UP,B"


def ruff(path: Path, *, cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ruff as a user would on the written file: their directory, isort rules on."""
    how = ["--config", str(config)] if config else ["--isolated"]
    return subprocess.run(
        [RUFF, "check", "--no-cache", *how, "--select", RULES, str(path)], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_init_then_new_twice_writes_code_ruff_accepts(project: Path) -> None:
    result = init_project()
    module = project / "db_migrations.py"
    assert result.module == str(module) and result.migrations == "db_migrations:MIGRATIONS"
    table = (project / "pyproject.toml").read_text()
    assert table.startswith('[project]\nname = "shop"') and 'migrations = "db_migrations:MIGRATIONS"' in table
    assert ruff(module, cwd=project).returncode == 0
    first = new("db_migrations:MIGRATIONS", "create users index", root=project)
    second = new("db_migrations:MIGRATIONS", "backfill names", root=project)
    assert (first.version, second.version) == (1, 2)
    lint = ruff(module, cwd=project)
    assert lint.returncode == 0, lint.stdout
    text = module.read_text()
    assert "from typing import Any\n\nfrom analytiq_data.migrations import Migration\n" in text
    assert "from pymongo.asynchronous.database import AsyncDatabase\n\n\nclass CreateUsersIndexMigration" in text


def test_inits_table_does_what_its_comments_say(project: Path) -> None:
    """Uncommenting the template's database and uri_env lines: the table then wins over a stray ENV and
    MONGODB_URI, as its comments say; every key it shows is one the table accepts."""
    init_project()
    text = (project / "pyproject.toml").read_text()
    assert "the generic $ENV and\n# $MONGODB_URI are read only for a value this table leaves out" in text
    shown = re.findall(r"^# ([a-z_]+) = ", text, flags=re.MULTILINE)
    assert set(shown) == {"database", "database_env", "uri_env", "driver", "lock_wait", "lease"}
    assert set(shown) <= set(KEYS)
    for key in ("database", "uri_env"):
        text = re.sub(rf"^# ({key} = \S+)", r"\1", text, flags=re.MULTILINE)
    (project / "pyproject.toml").write_text(text)
    stray = {"ENV": "stray", "MONGODB_URI": "mongodb://stray/", "APP_MONGODB_URI": "mongodb://app/"}
    settings = resolve(Flags(), environ=stray)
    assert (settings.db, settings.uri, settings.ignored) == ("dev", "mongodb://app/", ("MONGODB_URI", "ENV"))


def test_init_refuses_to_overwrite(project: Path) -> None:
    init_project()
    before = (project / "pyproject.toml").read_text()
    with pytest.raises(ConfigurationError, match=r"already has a \[tool.analytiq-db\] table: nothing written"):
        init_project("other:MIGRATIONS")
    (project / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    with pytest.raises(ConfigurationError, match=r"db_migrations\.py already exists: nothing written"):
        init_project()
    assert (project / "pyproject.toml").read_text() == '[project]\nname = "shop"\n'
    assert before != '[project]\nname = "shop"\n'


def test_new_creates_a_missing_module_and_its_packages(project: Path) -> None:
    result = new("shop.db.migrations:STEPS", "add orders", root=project)
    module = project / "shop" / "db" / "migrations.py"
    assert result.path == str(module) and result.version == 1
    assert (project / "shop" / "__init__.py").is_file() and (project / "shop" / "db" / "__init__.py").is_file()
    assert "STEPS: list[Migration] = [\n    AddOrdersMigration(),\n]" in module.read_text()
    lint = ruff(module, cwd=project)
    assert lint.returncode == 0, lint.stdout


def test_new_refuses_an_installed_package(project: Path) -> None:
    import pymongo

    errors_py = Path(pymongo.__file__).parent / "errors.py"
    before = errors_py.read_bytes()
    with pytest.raises(ConfigurationError, match=r"pymongo.errors is inside an installed package"):
        new("pymongo.errors:MIGRATIONS", "sneak in", root=project)
    with pytest.raises(ConfigurationError, match="inside an installed package"):
        new("pymongo.brand_new:MIGRATIONS", "sneak in", root=project)
    assert errors_py.read_bytes() == before
    assert not (Path(pymongo.__file__).parent / "brand_new.py").exists()
    assert installed(errors_py)
    assert not installed(project / "db_migrations.py")


def test_new_on_a_copy_of_analytiqs_list_passes_this_repositorys_ruff(tmp_path: Path) -> None:
    copy = tmp_path / "analytiq_copy.py"
    shutil.copy(ROOT / "packages" / "analytiq_data" / "migrations" / "migration.py", copy)
    new("analytiq_copy:MIGRATIONS", "add index on documents", root=tmp_path)
    lint = ruff(copy, cwd=tmp_path, config=ROOT / "pyproject.toml")
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("x = 1\n", "from typing import Any\n\nx = 1\n"),
        ('"""Doc."""\n', '"""Doc."""\n\nfrom typing import Any\n'),
        ("import os\nimport sys\n\nx = 1\n", "import os\nimport sys\nfrom typing import Any\n\nx = 1\n"),
        ("from typing import cast\n", "from typing import Any, cast\n"),
        (
            "from __future__ import annotations\n\nimport pymongo\n",
            "from __future__ import annotations\n\nfrom typing import Any\n\nimport pymongo\n",
        ),
    ],
)
def test_add_import_puts_the_line_where_isort_would(before: str, after: str) -> None:
    assert add_import(before, "typing", "Any") == after
