"""The package's import graph: no import circle anywhere in the package (issue 17, "Shape"), no cycle
between ``migrations`` and ``guard``, and an engine that imports everything it needs at the top of
its modules and nothing of Analytiq (issue 10, "Shape")."""

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
    "analytiq_data.liveness",  # whether a lease's holder is gone: shared with the backup claim and the follower
    "analytiq_data.lease",  # what every lease shares (expiry by the server's clock, renewal, holder's name)
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Return every module of the package and the package's modules it imports, wherever the import
    stands (top level, inside a function, under ``TYPE_CHECKING``): a circle hidden in a function or
    behind a type-checking guard is still two rooms that need each other."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"  # ``from pkg import module`` names the module
                    edges.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in modules}
        graph[name] = edges - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the import circles of ``graph``: its strongly connected parts of more than one module."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            part = [stack.pop()]
            while part[-1] != node:
                part.append(stack.pop())
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_circles_finds_a_circle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circle() -> None:
    """No module of analytiq_data imports, directly or through others, a module that imports it back
    (``backup/catalog ↔ endpoints ↔ identity`` and ``cli/restore_files_cmds ↔ safety_cmds`` were two)."""
    graph = import_graph()
    assert "analytiq_data.backup.catalog" in graph and "analytiq_data.cli.safety_cmds" in graph
    assert circles(graph) == []


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


# The backup engine knows nothing of migrations (HOUSE "Shape"): what it shares with them lives in neutral
# modules (``liveness``, ``lease``, ``testhooks``, ``restore_mark``, ``progress``, ``errors``, ...).
BACKUP_MAY_NOT_IMPORT = ("migrations", "safety", "fleet", "cli", "guard")


def test_the_backup_engine_imports_nothing_of_migrations_safety_fleet_or_the_cli() -> None:
    graph = import_graph()
    backup = [name for name in graph if name == "analytiq_data.backup" or name.startswith("analytiq_data.backup.")]
    assert "analytiq_data.backup.claim" in backup and "analytiq_data.backup.log.follower" in backup
    outside = sorted(
        f"{name}: {edge}"
        for name in backup
        for edge in graph[name]
        if [*edge.split("."), ""][1] in BACKUP_MAY_NOT_IMPORT  # the room: analytiq_data.<room>...
    )
    assert outside == []
