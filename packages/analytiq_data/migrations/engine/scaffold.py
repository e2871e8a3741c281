"""``new "description"``: write a runnable migration class into a migrations module and register it.

The class (named from the description in CamelCase, ending in ``Migration``) goes just above the
list's assignment, and an instance is appended to the list, so its version is the list's new
length. The file is checked to compile before it is replaced, atomically.
"""

from __future__ import annotations

import ast
import json
import os
import re
import tempfile
from pathlib import Path

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.loader import module_path, split_spec
from analytiq_data.migrations.engine.results import NewResult

CLASS_TEMPLATE = '''class {name}(Migration):
    def __init__(self) -> None:
        super().__init__(description={description})

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        """Apply the change. Raise on failure: the runner keeps the traceback."""
        # Make it safe to run twice: outside a transaction it re-runs after a crash.
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        """Revert what up did."""
        return True


'''

NEEDED_IMPORTS = {
    "Any": "from typing import Any",
    "AsyncDatabase": "from pymongo.asynchronous.database import AsyncDatabase",
    "Migration": "from analytiq_data.migrations.base import Migration",
}


def class_name_for(description: str) -> str:
    """Return the class name for ``description``: its words in CamelCase, ending in ``Migration``."""
    words = re.findall(r"[A-Za-z0-9]+", description)
    if not words:
        raise ConfigurationError(f"cannot name a class after {description!r}", hint='e.g. new "add index on users"')
    name = "".join(word[0].upper() + word[1:] for word in words)
    if name[0].isdigit():
        name = "M" + name
    return name if name.endswith("Migration") else name + "Migration"


def _find_list(tree: ast.Module, attribute: str) -> tuple[ast.stmt, ast.List]:
    for stmt in tree.body:
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        )
        value = getattr(stmt, "value", None)
        if any(isinstance(t, ast.Name) and t.id == attribute for t in targets) and isinstance(value, ast.List):
            return stmt, value
    raise ConfigurationError(
        f"cannot find '{attribute} = [...]' at the top level of the module",
        hint="new appends to a list literal; add the class by hand if the list is built otherwise",
    )


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in stmt.names)
    return names


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Return the character offset of (1-based line, 0-based UTF-8 byte column)."""
    line = lines[lineno - 1]
    return sum(len(x) for x in lines[: lineno - 1]) + len(line.encode()[:col].decode())


def _append_entry(text: str, lst: ast.List, entry: str) -> str:
    lines = text.splitlines(keepends=True)
    assert lst.end_lineno is not None and lst.end_col_offset is not None
    close = _offset(lines, lst.end_lineno, lst.end_col_offset) - 1  # the "]"
    if lst.elts:
        last = lst.elts[-1]
        assert last.end_lineno is not None and last.end_col_offset is not None
        after_last = _offset(lines, last.end_lineno, last.end_col_offset)
        if "," not in text[after_last:close]:
            text = text[:after_last] + "," + text[after_last:]
            close += 1
    line_start = text.rfind("\n", 0, close) + 1
    if text[line_start:close].strip() == "":
        return text[:line_start] + f"    {entry},\n" + text[line_start:]
    start = _offset(lines, lst.lineno, lst.col_offset)
    items = [ast.get_source_segment(text, e) or "" for e in lst.elts]
    body = "".join(f"    {item},\n" for item in [*items, entry])
    return text[:start] + "[\n" + body + "]" + text[close + 1 :]


def _insert_before(text: str, stmt: ast.stmt, block: str) -> str:
    lines = text.splitlines(keepends=True)
    index = stmt.lineno - 1
    while index > 0 and lines[index - 1].lstrip().startswith("#"):
        index -= 1  # keep the comment above the list with the list
    return "".join(lines[:index]) + block + "".join(lines[index:])


def _add_imports(text: str, tree: ast.Module, missing: list[str]) -> str:
    if not missing:
        return text
    imports = [s for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)]
    lines = text.splitlines(keepends=True)
    at = (imports[-1].end_lineno or imports[-1].lineno) if imports else 0
    added = "".join(NEEDED_IMPORTS[name] + "\n" for name in missing)
    return "".join(lines[:at]) + added + "".join(lines[at:])


def add_migration(path: Path, attribute: str, description: str) -> NewResult:
    """Write a new migration class for ``description`` into ``path`` and append it to ``attribute``."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    name = class_name_for(description)
    defined = _top_level_names(tree)
    if name in defined:
        raise ConfigurationError(f"{path} already defines {name}", hint="describe the new change differently")
    stmt, lst = _find_list(tree, attribute)
    version = len(lst.elts) + 1
    text = _append_entry(text, lst, f"{name}()")
    text = _insert_before(
        text, stmt, CLASS_TEMPLATE.format(name=name, description=json.dumps(description.strip(), ensure_ascii=False))
    )
    text = _add_imports(text, tree, [n for n in NEEDED_IMPORTS if n not in defined])
    compile(text, str(path), "exec")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
    return NewResult(path=str(path), class_name=name, version=version)


def new(spec: str, description: str) -> NewResult:
    """Append a runnable migration named after ``description`` to the module named by ``spec``."""
    if not description.strip():
        raise ConfigurationError("the description is empty", hint='e.g. new "add index on users.email"')
    _, attribute = split_spec(spec)
    return add_migration(module_path(spec), attribute, description)
