"""The exit-code reference, from ``analytiq_data.errors.ExitCode``: each member's meaning is its comment there.

A member's meaning is the ``# comment`` on its line, or a string on the line after it (an attribute
docstring). A member with neither fails the build: the one place to document a code is ``errors.py``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import pkgutil
import tokenize
from enum import IntEnum

from tools.docsgen import DocsGenError
from tools.docsgen.markdown import code, prose, table

INTRO = """# Exit codes

Every `analytiq-db` and `backup-db` run ends with one of these codes, generated from
`analytiq_data.errors.ExitCode` (each meaning is the comment beside the code there). A failure also
prints one line on stderr naming the problem and what to try; with `--json` the error is printed on
stdout as `{"error": {"code": 3, "name": "configuration", "message": …, "hint": …}}`. The errors
column lists the exceptions the Python API raises for the same failure (each carries `exit_code`).
"""


def meanings(enum: type[IntEnum]) -> dict[str, str]:
    """Return ``{member name: meaning}`` read from the enum's source; DocsGenError naming any member without one."""
    source = inspect.getsource(enum)
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    def _above(line: int) -> str:
        """The ``#:`` comment lines right above ``line`` (Sphinx's attribute-comment convention)."""
        lines: list[str] = []
        while (text := comments.get(line - 1 - len(lines))) is not None and text.startswith(":"):
            lines.insert(0, text[1:].strip())
        return " ".join(lines)

    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for index, node in enumerate(body.body):
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        after = body.body[index + 1] if index + 1 < len(body.body) else None
        docstring = (
            after.value.value
            if isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
            else None
        )
        found[node.targets[0].id] = " ".join((docstring or comments.get(node.lineno) or _above(node.lineno)).split())
    where = inspect.getsourcefile(enum)
    for member in enum:
        if not found.get(member.name):
            raise DocsGenError(
                f"{enum.__name__}.{member.name} ({int(member)}) has no meaning in {where}: "
                f"add '# what it means' at the end of its line (or '#: what it means' lines above it)"
            )
    return found


def raising_errors(package: str = "analytiq_data") -> dict[int, list[str]]:
    """Return ``{exit code: [error class names]}`` for every AnalytiqError subclass in the package."""
    from analytiq_data.errors import AnalytiqError

    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    by_code: dict[int, list[str]] = {}
    pending = list(AnalytiqError.__subclasses__())
    seen: set[type] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith(package) and not cls.__name__.startswith("_"):
            by_code.setdefault(int(cls.exit_code), []).append(cls.__name__)
    return {exit_code: sorted(names) for exit_code, names in by_code.items()}


def exit_codes_page(enum: type[IntEnum], errors: dict[int, list[str]]) -> str:
    """Return the exit-code reference page for ``enum`` (code, name, meaning, errors raising it)."""
    found = meanings(enum)
    rows = [
        [
            str(int(member)),
            code(member.name.lower()),
            prose(found[member.name]),
            ", ".join(code(name) for name in errors.get(int(member), [])),
        ]
        for member in enum
    ]
    return INTRO + "\n" + table(["code", "name", "meaning", "errors"], rows) + "\n"


def project_exit_codes_page() -> str:
    """Return the page for ``analytiq_data.errors.ExitCode``."""
    from analytiq_data.errors import ExitCode

    return exit_codes_page(ExitCode, raising_errors())
