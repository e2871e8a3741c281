"""The Python API reference: one page per public module, one entry per name in its ``__all__``.

Each entry is an mkdocstrings ``:::`` directive, so the text is the docstring of the code being
built. A name a module provides lazily (through its ``__getattr__``: ``ad.AnalytiqClient``,
``ad.migrations.MIGRATIONS``, the guard's functions offered in ``ad.migrations``) is documented
where it is defined, under its public name.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from dataclasses import dataclass
from types import ModuleType

from tools.docsgen import DocsGenError

#: The public modules, in the order of the reference, with the title of each page.
PUBLIC_MODULES: dict[str, str] = {
    "analytiq_data": "import analytiq_data as ad",
    "analytiq_data.migrations": "ad.migrations: run and inspect migrations",
    "analytiq_data.backup": "ad.backup: verified copies",
    "analytiq_data.backup.files": "ad.backup.files: mongodump's file formats",
    "analytiq_data.safety": "analytiq_data.safety: rehearse, back up first, restore",
    "analytiq_data.guard": "analytiq_data.guard: the CI gate",
    "analytiq_data.fleet": "analytiq_data.fleet: many databases at once",
    "analytiq_data.errors": "analytiq_data.errors: errors and exit codes",
    "analytiq_data.progress": "analytiq_data.progress: progress reports",
}
DIRECTORY = "reference/python-api"


@dataclass(frozen=True)
class Entry:
    """One public name of a module, and the dotted path mkdocstrings documents it from."""

    name: str
    path: str


def top_level_names(module: ModuleType) -> set[str]:
    """Return the names a module's source binds at its top level (imports, defs, classes, assignments)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def defined_in(name: str, value: object) -> str:
    """Return the dotted path where ``value`` (reached lazily as ``name``) is defined."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and inspect.ismodule(value) is False:
        return f"{module}.{qualname}"
    if inspect.ismodule(value):
        return value.__name__
    for loaded in sorted(sys.modules):  # a constant: the module that assigns it
        found = sys.modules[loaded]
        if loaded.startswith("analytiq_data") and getattr(found, name, None) is value:
            if name in top_level_names(found) and not _imports(found, name):
                return f"{loaded}.{name}"
    raise DocsGenError(
        f"cannot tell where {name} is defined: give it a __module__ or define it at a module's top level"
    )


def _imports(module: ModuleType, name: str) -> bool:
    tree = ast.parse(inspect.getsource(module))
    return any(
        (alias.asname or alias.name) == name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    )


def public_entries(module_name: str) -> list[Entry]:
    """Return the documented names of a module: its ``__all__``, else the public classes and functions it defines."""
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        exported = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v)) and v.__module__ == module_name
        ]
    static = top_level_names(module)
    entries = []
    for name in exported:
        value = getattr(module, name)
        if inspect.ismodule(value):
            continue  # a submodule has its own page
        path = f"{module_name}.{name}" if name in static else defined_in(name, value)
        entries.append(Entry(name, path))
    return entries


def page_name(module_name: str) -> str:
    """Return the page's file name for a module: ``analytiq_data.backup.files`` -> ``backup.files.md``."""
    return ("ad" if module_name == "analytiq_data" else module_name.removeprefix("analytiq_data.")) + ".md"


def module_page(module_name: str, title: str) -> str:
    """Return the page of one module: its docstring, then each public name rendered from its docstring."""
    parts = [f"# {title}", f"::: {module_name}\n    options:\n      members: false\n      show_root_heading: false"]
    for entry in public_entries(module_name):
        parts.append(f'::: {entry.path}\n    options:\n      heading: "{entry.name}"\n      toc_label: "{entry.name}"')
    return "\n\n".join(parts) + "\n"


def api_pages() -> dict[str, str]:
    """Return ``{path under docs/: Markdown}`` for every public module, and the index of them."""
    pages = {f"{DIRECTORY}/{page_name(m)}": module_page(m, title) for m, title in PUBLIC_MODULES.items()}
    links = "\n".join(f"- [{title}]({page_name(m)})" for m, title in PUBLIC_MODULES.items())
    pages[f"{DIRECTORY}/index.md"] = (
        "# Python API\n\nGenerated from the docstrings of the code, one page per public module; "
        "each lists the names in the module's `__all__`.\n\n" + links + "\n"
    )
    return pages
