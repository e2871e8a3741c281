"""The configuration reference: ``[tool.analytiq-db]`` keys (``settings.KEYS``) and environment variables.

The variables are those the package's code reads (found in its source: ``os.environ.get("X")``,
``os.getenv(X)``, ``environ["X"]``, ``env.get(X)`` with X a string or a module constant), each with
its meaning from ``settings.ENVIRONMENT``. A variable read but not in that table, or listed there but
read nowhere, fails the build. Test hooks (``ANALYTIQ_TEST_*``) are not configuration and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.docsgen import DocsGenError
from tools.docsgen.markdown import code, prose, table

TEST_HOOK_PREFIX = "ANALYTIQ_TEST_"
_ENV_NAMES = frozenset({"environ", "env"})

INTRO = """# Configuration keys

What `analytiq-db` reads besides its flags, generated from the code. Precedence: command-line flags,
then the environment, then `[tool.analytiq-db]` in the nearest `pyproject.toml` (found by walking up
from the working directory), then the defaults; a value given but empty is an error. The flags are in
the [command-line reference](cli.md).
"""


def _constants(tree: ast.Module) -> dict[str, str]:
    """Return the module-level ``NAME = "string"`` assignments of a module."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return found


def _is_environment(node: ast.expr) -> bool:
    """Return whether ``node`` names the environment: ``os.environ``, ``environ`` or ``env``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in _ENV_NAMES


def _variable(node: ast.expr, constants: Mapping[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def variables_read(source: str) -> set[str]:
    """Return the environment variables one module's source reads by a fixed name."""
    tree = ast.parse(source)
    constants = _constants(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        arg: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            if (func.attr == "get" and _is_environment(func.value)) or func.attr == "getenv":
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environment(node.value):
            arg = node.slice
        name = _variable(arg, constants) if arg is not None else None
        if name is not None:
            names.add(name)
    return names


def strings(source: str, *, skip: str = "ENVIRONMENT") -> set[str]:
    """Return the string constants of a module's source, except in the assignment to ``skip`` (the table itself)."""
    tree = ast.parse(source)
    skipped = {
        id(inner)
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(t, ast.Name) and t.id == skip
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        for inner in ast.walk(node)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    }


@dataclass(frozen=True)
class Scan:
    """What the package's source says of environment variables."""

    read: dict[str, list[str]]  # variable -> modules reading it by a fixed name
    mentioned: dict[str, list[str]]  # every string in the source -> modules (a variable read through a computed name)


def scan_package(package_dir: Path) -> Scan:
    """Return the variables the package's source reads (test hooks left out) and every string it holds."""
    read: dict[str, list[str]] = {}
    mentioned: dict[str, list[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
        source = path.read_text()
        for text in strings(source):
            mentioned.setdefault(text, []).append(module)
        for name in variables_read(source):
            if not name.startswith(TEST_HOOK_PREFIX):
                read.setdefault(name, []).append(module)
    return Scan(read, mentioned)


def configuration_page(keys: Mapping[str, str], table_name: str, environment: Mapping[str, str], scan: Scan) -> str:
    """Return the page: the pyproject keys, then the variables (meaning and the modules reading each)."""
    read = scan.read
    undocumented = sorted(set(read) - set(environment))
    if undocumented:
        raise DocsGenError(
            f"environment variable {undocumented[0]} is read by {', '.join(read[undocumented[0]])} but not documented: "
            "add it with its meaning to ENVIRONMENT in packages/analytiq_data/settings.py"
        )
    unread = sorted(set(environment) - set(read) - set(scan.mentioned))
    if unread:
        raise DocsGenError(f"ENVIRONMENT in settings.py lists {unread[0]}, which no code reads: remove it")
    key_rows = [[code(key), prose(meaning)] for key, meaning in keys.items()]
    env_rows = [
        [code(name), prose(meaning), ", ".join(code(m) for m in read.get(name) or scan.mentioned[name])]
        for name, meaning in environment.items()
    ]
    return (
        INTRO
        + f"\n## `[tool.{table_name}]` in pyproject.toml\n\n"
        + table(["key", "meaning"], key_rows)
        + "\n\nAny other key in the table is an error naming the known ones.\n\n## Environment variables\n\n"
        + table(["variable", "meaning", "read by"], env_rows)
        + "\n"
    )


def project_configuration_page() -> str:
    """Return the page for ``analytiq_data.settings``."""
    from analytiq_data import settings

    package_dir = Path(settings.__file__).resolve().parent
    return configuration_page(settings.KEYS, settings.TABLE, settings.ENVIRONMENT, scan_package(package_dir))
