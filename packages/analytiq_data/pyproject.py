"""The project's ``pyproject.toml`` and its ``[tool.analytiq-db]`` table: found by walking up from the
working directory, read, and checked against the keys it may hold (``KEYS``, the configuration
reference's list)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytiq_data.errors import ConfigurationError

TABLE = "analytiq-db"
PYPROJECT = "pyproject.toml"
# key in [tool.analytiq-db] -> what it holds
KEYS: dict[str, str] = {
    "migrations": "the migration list, module:ATTRIBUTE",
    "database": "the database name",
    "uri": "the MongoDB URI (or env:NAME / file:PATH)",
    "uri_env": "the environment variable holding the MongoDB URI (then only it is read)",
    "database_env": "the environment variable holding the database name (then only it is read)",
    "driver": "the kind of database steps get: auto (detect from the list), pymongo or motor",
    "timeout": "seconds to look for a server",
    "lock_wait": "seconds to wait for the migration lock",
    "lease": "seconds of the migration lock's lease",
    "step_time_limit": "seconds a step may run unless its class sets time_limit_s",
    "databases": "several databases for the verbs that take several: a list of names and globs "
    '(["tenant_*"]), or "module:ATTRIBUTE" naming a list or a callable given the client (sync or async), '
    'or "file:PATH" (one name or glob a line); instead of database',
}


@dataclass(frozen=True)
class Project:
    """A ``pyproject.toml`` and its ``[tool.analytiq-db]`` table."""

    path: Path
    table: Mapping[str, Any]

    @property
    def root(self) -> Path:
        """Return the directory holding the pyproject.toml (module paths are relative to it)."""
        return self.path.parent

    def where(self, key: str) -> str:
        """Return ``pyproject.toml [tool.analytiq-db] KEY`` for messages."""
        return f"{self.path} [tool.{TABLE}] {key}"


def read_pyproject(path: Path) -> dict[str, Any]:
    """Return the parsed TOML of ``path``; unreadable or malformed → ConfigurationError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", hint="check its permissions") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}", hint="fix the file") from exc


def find_project(start: Path | None = None) -> Project | None:
    """Return the nearest pyproject.toml at or above ``start`` (default: the working directory)
    that has a ``[tool.analytiq-db]`` table, checked for unknown keys; None if there is none."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        path = directory / PYPROJECT
        if not path.is_file():
            continue
        table = read_pyproject(path).get("tool", {}).get(TABLE)
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: [tool.{TABLE}] is not a table", hint="see analytiq-db init")
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise ConfigurationError(
                f"unknown key {unknown[0]!r} in [tool.{TABLE}] of {path}", hint=f"known keys: {', '.join(KEYS)}"
            )
        return Project(path, table)
    return None
