"""Adding a ``from module import Name`` line to a module's imports the way isort (ruff's ``I`` rules) sorts them.

The module's existing sections (blocks of imports separated by blank lines) are kept: a new line
joins the import from the same module if there is one, else the section holding its package,
else the section of its kind (standard library, or installed packages), else a new section in
isort's order (``__future__``, standard library, third party, first party, local).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

LINE_LENGTH = 88  # ruff's default; longer merged imports are wrapped in parentheses


@dataclass(frozen=True)
class _Import:
    stmt: ast.Import | ast.ImportFrom
    module: str  # the module imported from (``from``), or the first module (``import``)
    rank: int  # 0 future, 1 standard library, 2 third party, 3 first party, 4 relative


def _rank(module: str, level: int, root: Path | None) -> int:
    top = module.split(".")[0]
    if level:
        return 4
    if top == "__future__":
        return 0
    if top in sys.stdlib_module_names:
        return 1
    if root is not None and ((root / top).is_dir() or (root / f"{top}.py").is_file()):
        return 3
    return 2


def _imports(tree: ast.Module, root: Path | None) -> list[_Import]:
    found: list[_Import] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            module = stmt.module or ""
            found.append(_Import(stmt, module, _rank(module, stmt.level, root)))
        elif isinstance(stmt, ast.Import):
            module = stmt.names[0].name
            found.append(_Import(stmt, module, _rank(module, 0, root)))
        elif found or not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            break  # the import block ends at the first statement that is not an import (after the docstring)
    return found


def _blocks(imports: list[_Import]) -> list[list[_Import]]:
    blocks: list[list[_Import]] = []
    for imp in imports:
        last = blocks[-1][-1].stmt if blocks else None
        if last is not None and imp.stmt.lineno == (last.end_lineno or last.lineno) + 1:
            blocks[-1].append(imp)
        else:
            blocks.append([imp])
    return blocks


def _member_key(name: str) -> tuple[int, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then functions and variables."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower()


def _format_from(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return line + "\n"
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"


def _replace_lines(text: str, first: int, last: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[: first - 1]) + new + "".join(lines[last:])


def add_import(text: str, module: str, name: str, *, root: Path | None = None) -> str:
    """Return ``text`` with ``from module import name`` added where isort would put it (no-op if present)."""
    tree = ast.parse(text)
    imports = _imports(tree, root)
    for imp in imports:
        stmt = imp.stmt
        if isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module == module:
            if any(a.asname is None for a in stmt.names if a.name == name):
                return text
            if any(a.asname for a in stmt.names):
                continue  # leave aliased imports alone; add a line of our own
            names = sorted({a.name for a in stmt.names} | {name}, key=_member_key)
            return _replace_lines(text, stmt.lineno, stmt.end_lineno or stmt.lineno, _format_from(module, names))
    line = _format_from(module, [name])
    rank = _rank(module, 0, root)
    top = module.split(".")[0]
    blocks = _blocks(imports)
    chosen = next((b for b in blocks if any(i.module.split(".")[0] == top for i in b)), None)
    if chosen is None:
        chosen = next((b for b in blocks if all(i.rank == rank for i in b)), None)
    if chosen is not None:
        for imp in chosen:
            if isinstance(imp.stmt, ast.ImportFrom) and imp.module.lower() > module.lower():
                return _replace_lines(text, imp.stmt.lineno, imp.stmt.lineno - 1, line)
        end = chosen[-1].stmt.end_lineno or chosen[-1].stmt.lineno
        return _replace_lines(text, end + 1, end, line)
    # A new section: before the first section of a higher rank, else after the last one.
    for block in blocks:
        if min(i.rank for i in block) > rank:
            start = block[0].stmt.lineno
            return _replace_lines(text, start, start - 1, line + "\n")
    if blocks:
        end = blocks[-1][-1].stmt.end_lineno or blocks[-1][-1].stmt.lineno
        return _replace_lines(text, end + 1, end, "\n" + line)
    docstring = tree.body[0] if tree.body and isinstance(tree.body[0], ast.Expr) else None
    at = (docstring.end_lineno or 0) if docstring is not None else 0
    code_follows = len(tree.body) > (1 if docstring is not None else 0)
    return _replace_lines(text, at + 1, at, ("\n" if at else "") + line + ("\n" if code_follows else ""))
