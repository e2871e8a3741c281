"""``new "description"``: write a runnable migration class into a migrations module and register it.

The class (named from the description in CamelCase, ending in ``Migration``) goes just above the
list's assignment, and an instance is appended to the list, so its version is the list's new
length. Imports it needs are added where isort would put them. A module that does not exist yet
is created (with its package directories) from a starter; a module inside an installed package
(site-packages) is refused. The file is checked to compile before it is replaced, atomically.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import sysconfig
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.imports import add_import
from analytiq_data.migrations.engine.loader import split_spec
from analytiq_data.migrations.engine.results import NewResult
from analytiq_data.settings import PYPROJECT, TABLE, find_project, read_pyproject, validate_db_name

STARTER_TEMPLATE = '''"""This project's MongoDB migrations, applied in order by analytiq-db.

A migration's version is its position in {attribute}, counting from 1: append new
ones at the end (`analytiq-db new "what it does"` writes one); never insert or reorder.
"""

from __future__ import annotations

from analytiq_data.migrations import Migration

{attribute}: list[Migration] = []
'''

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

NEEDED_IMPORTS = {  # name -> the module it is imported from
    "Any": "typing",
    "AsyncDatabase": "pymongo.asynchronous.database",
    "Migration": "analytiq_data.migrations",
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
    before = "".join(lines[:index]).rstrip("\n")
    return (before + "\n\n\n" if before else "") + block + "".join(lines[index:])


def _add_imports(text: str, missing: list[str], root: Path | None) -> str:
    for name in missing:
        text = add_import(text, NEEDED_IMPORTS[name], name, root=root)
    return text


def add_migration(path: Path, attribute: str, description: str, *, root: Path | None = None) -> NewResult:
    """Write a new migration class for ``description`` into ``path`` and append it to ``attribute``.

    ``root`` is the project's directory (its top-level packages count as first party when sorting imports).
    """
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ConfigurationError(
            f"{path} does not parse: {exc.msg} (line {exc.lineno})", hint="fix the module, then run new again"
        ) from exc
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
    text = _add_imports(text, [n for n in NEEDED_IMPORTS if n not in defined], root)
    compile(text, str(path), "exec")
    write_atomically(path, text)
    return NewResult(path=str(path), class_name=name, version=version)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping its permissions (a new file gets the umask's)."""
    if path.exists():
        mode = path.stat().st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote: the pyproject.toml holding the table, the starter module, the list's name."""

    pyproject: str
    module: str
    migrations: str

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


def installed(path: Path) -> bool:
    """Return whether ``path`` lies inside an installed package (site-packages, dist-packages)."""
    resolved = path.resolve()
    if {"site-packages", "dist-packages"} & set(resolved.parts):
        return True
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    return any(resolved.is_relative_to(Path(r).resolve()) for r in roots)


def module_file(module: str, root: Path) -> tuple[Path, bool]:
    """Return the source file of ``module`` and whether it exists; a missing module goes under its
    deepest existing package, else under ``root``. Only parent packages are imported, never the module."""
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(module)
    except ImportError:  # a parent package is missing
        spec = None
    except Exception as exc:  # a parent package failed to import
        raise ConfigurationError(f"cannot import the package of {module!r}: {type(exc).__name__}: {exc}") from exc
    if spec is not None:
        if spec.submodule_search_locations:  # a package: the list lives in its __init__.py
            init = Path(spec.submodule_search_locations[0]) / "__init__.py"
            return init, init.is_file()
        if not spec.origin or not spec.origin.endswith(".py"):
            raise ConfigurationError(f"module {module!r} has no Python source file", hint="name a .py module")
        return Path(spec.origin), True
    base, rest = root, parts
    for depth in range(len(parts) - 1, 0, -1):
        try:
            parent = importlib.util.find_spec(".".join(parts[:depth]))
        except ImportError:
            continue
        if parent is not None and parent.submodule_search_locations:
            base, rest = Path(parent.submodule_search_locations[0]), parts[depth:]
            break
    path = base.joinpath(*rest[:-1]) / f"{rest[-1]}.py"
    return path, path.is_file()


def create_module(path: Path, attribute: str, *, stop: Path) -> None:
    """Write the starter module at ``path``, creating package directories (with ``__init__.py``) up to ``stop``."""
    directory = path.parent
    missing: list[Path] = []
    while directory != stop and not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for directory in reversed(missing):
        directory.mkdir()
        (directory / "__init__.py").touch()
    with path.open("x", encoding="utf-8") as out:
        out.write(STARTER_TEMPLATE.format(attribute=attribute))


def new(spec: str, description: str, *, root: Path | None = None) -> NewResult:
    """Append a runnable migration named after ``description`` to the module named by ``spec``,
    creating the module (under ``root``, default the working directory) when it does not exist.

    Refuses (ConfigurationError) a module inside an installed package: migrations belong to your project.
    """
    if not description.strip():
        raise ConfigurationError("the description is empty", hint='e.g. new "add index on users.email"')
    module, attribute = split_spec(spec)
    project = (root or Path.cwd()).resolve()
    path, exists = module_file(module, project)
    if installed(path):
        raise ConfigurationError(
            f"{module} is inside an installed package ({path.parent}): new writes only into your project",
            hint='configure your own list, e.g. [tool.analytiq-db] migrations = "yourapp.migrations:MIGRATIONS"',
        )
    if not exists:
        create_module(path, attribute, stop=project)
    return add_migration(path, attribute, description, root=project)


DEFAULT_STARTER = "db_migrations:MIGRATIONS"
NO_DATABASE = '# database = "dev"                # the database: this name wins over $ENV (unset: $ENV, else "dev")\n'
TABLE_TEMPLATE = """
[tool.analytiq-db]
# analytiq-db reads this table: flags and ANALYTIQ_DB_* variables override it; the generic $ENV and
# $MONGODB_URI are read only for a value this table leaves out (see docs/how-to/configure.md).
migrations = {migrations}
{database}# database_env = "APP_DATABASE"   # or: read the database name from this variable alone
# uri_env = "APP_MONGODB_URI"     # read the URI from this variable alone, never $MONGODB_URI (or uri = "mongodb://...")
# driver = "auto"                 # steps get motor's database when the list imports motor; or "pymongo" / "motor"
# lock_wait = 120                 # seconds to wait for another runner's migration lock
# lease = 30                      # seconds of this runner's lease, renewed while it works
"""


def init_project(spec: str = DEFAULT_STARTER, *, database: str | None = None, cwd: Path | None = None) -> InitResult:
    """Write a starter migrations module and a ``[tool.analytiq-db]`` table in the nearest pyproject.toml
    (created in ``cwd`` when there is none); refuse (ConfigurationError) to overwrite either."""
    module, attribute = split_spec(spec)
    if database is not None:
        validate_db_name(database)
    here = (cwd or Path.cwd()).resolve()
    configured = find_project(here)
    if configured is not None:
        raise ConfigurationError(
            f"{configured.path} already has a [tool.{TABLE}] table: nothing written",
            hint="edit it by hand, or run init in another project",
        )
    pyproject = next((d / PYPROJECT for d in (here, *here.parents) if (d / PYPROJECT).is_file()), here / PYPROJECT)
    root = pyproject.parent
    path, exists = module_file(module, root)
    if exists or path.exists():
        raise ConfigurationError(f"{path} already exists: nothing written", hint="give another --migrations module")
    if installed(path):
        raise ConfigurationError(f"{path} is inside an installed package", hint="name a module of your project")
    old = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    table = TABLE_TEMPLATE.format(
        migrations=json.dumps(f"{module}:{attribute}"),
        database=f"database = {json.dumps(database)}\n" if database else NO_DATABASE,
    )
    text = (old + ("\n" if old and not old.endswith("\n") else "") + table).lstrip("\n")
    create_module(path, attribute, stop=root)
    write_atomically(pyproject, text)
    read_pyproject(pyproject)  # what we wrote parses
    return InitResult(pyproject=str(pyproject), module=str(path), migrations=f"{module}:{attribute}")
