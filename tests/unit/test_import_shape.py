"""The package's import graph: no cycle between ``migrations`` and ``guard``, and an engine that
imports everything it needs at the top of its modules and nothing of Analytiq (issue 10, "Shape")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "analytiq_data"
ENGINE = PACKAGE / "migrations" / "engine"
GUARD = PACKAGE / "guard"
# What the engine may import from this project: itself, the Migration base class, and the
# shared plumbing. Never Analytiq's list, the batch helper, the guard, safety, backup or the CLI.
ENGINE_MAY_IMPORT = (
    "analytiq_data.migrations.engine",
    "analytiq_data.migrations.base",
    "analytiq_data.errors",
    "analytiq_data.progress",
    "analytiq_data.settings",
    "analytiq_data.uri",
    "analytiq_data.client",
    "analytiq_data.restore_mark",  # what an unfinished restore leaves in a database: read by status and runners
)


def _imports_inside_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [
                f"{path.name}:{node.lineno} {ast.unparse(node)}"
                for node in ast.walk(fn)
                if isinstance(node, ast.Import | ast.ImportFrom)
            ]
    return found


def _project_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n == "analytiq_data" or n.startswith("analytiq_data.")]


@pytest.mark.parametrize("folder", [ENGINE, GUARD], ids=["engine", "guard"])
def test_no_imports_inside_functions(folder: Path) -> None:
    """A lazy import hides a cycle; the engine and the guard import at module level only."""
    found = [hit for path in sorted(folder.glob("*.py")) for hit in _imports_inside_functions(path)]
    assert found == []


def test_the_engine_imports_nothing_of_analytiq() -> None:
    """The engine's modules import only the engine, the base class and shared plumbing."""
    outside = {
        f"{path.name}: {name}"
        for path in sorted(ENGINE.glob("*.py"))
        for name in _project_imports(path)
        if not name.startswith(ENGINE_MAY_IMPORT)
    }
    assert outside == set()


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "order",
    [
        ("analytiq_data.guard", "analytiq_data.migrations"),
        ("analytiq_data.migrations", "analytiq_data.guard"),
        ("analytiq_data.guard.check", "analytiq_data.migrations.engine.verbs"),
        ("analytiq_data.migrations.engine.verbs", "analytiq_data.guard.lockfile"),
        ("analytiq_data.cli.guard_cmds", "analytiq_data.cli.migrate_cmds"),
    ],
)
def test_each_import_order_works_in_a_fresh_interpreter(order: tuple[str, str]) -> None:
    first, second = order
    done = _fresh(f"import importlib; importlib.import_module({first!r}); importlib.import_module({second!r})")
    assert done.returncode == 0, done.stderr


def test_importing_the_migrations_does_not_import_the_guard() -> None:
    """The guard depends on the migrations, not the reverse: ``ad.migrations.check`` is resolved on first use."""
    code = (
        "import sys, analytiq_data.migrations as m\n"
        "print('analytiq_data.guard' in sys.modules)\n"
        "from analytiq_data import guard\n"
        "print(m.check is guard.check and m.write_lockfile is guard.write_lockfile)\n"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
