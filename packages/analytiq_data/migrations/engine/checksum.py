"""A checksum of a migration's code that ignores layout, comments and docstrings.

The source of the migration's class (and of any project base classes between it and Migration) is
parsed into an abstract syntax tree; docstrings are dropped and the class's own name is blanked
(a rename is caught by the class-name check instead). Reformatting, comments and docstrings leave
the checksum unchanged; any change to the code changes it.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import logging
import textwrap

from analytiq_data.migrations.base import Migration

log = logging.getLogger(__name__)

_DOC_HOLDERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _DOC_HOLDERS):
            continue
        body = node.body
        first = body[0] if body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = body[1:] or [ast.Pass()]


def normalized_dump(source: str) -> str:
    """Return the canonical text of ``source``'s syntax tree: no layout, comments, docstrings or
    top-level class names."""
    tree = ast.parse(textwrap.dedent(source))
    _strip_docstrings(tree)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            node.name = ""
    return ast.dump(tree, annotate_fields=True, include_attributes=False)


def source_checksum(source: str) -> str:
    """Return the SHA-256 (hex) of ``source``'s normalized syntax tree."""
    return hashlib.sha256(normalized_dump(source).encode()).hexdigest()


def class_checksum(cls: type) -> str | None:
    """Return the checksum of ``cls``'s code and of its bases up to Migration, or None when the
    source cannot be read (a class built at run time, a frozen application)."""
    parts: list[str] = []
    for klass in cls.__mro__:
        if klass is Migration or klass is object or klass.__module__ == Migration.__module__:
            continue
        if klass.__module__ == "builtins":
            continue
        try:
            parts.append(normalized_dump(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError) as exc:
            log.debug("no source for %s: %s", klass.__qualname__, exc)
            return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def migration_checksum(migration: Migration) -> str | None:
    """Return the checksum of ``migration``'s class code (see class_checksum)."""
    return class_checksum(type(migration))
