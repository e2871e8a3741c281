"""The settings every command uses, resolved once: flags > environment > pyproject.toml > defaults.

``[tool.analytiq-db]`` in the nearest ``pyproject.toml`` holding that table (found by walking up from
the working directory) gives a project's defaults; ``ANALYTIQ_DB_*`` variables (and the guide's
``MONGODB_URI`` and ``ENV``) override them; command-line flags override both. A setting given but
empty (``--db ''``, ``ENV=``) is an error, never a silent fall-back to the default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytiq_data.errors import ConfigurationError
from analytiq_data.uri import resolve_uri

DEFAULT_URI = "mongodb://localhost:27017"
DEFAULT_ENV = "dev"
DEFAULT_TIMEOUT_S = 5.0

TABLE = "analytiq-db"
PYPROJECT = "pyproject.toml"
# key in [tool.analytiq-db] -> what it holds
KEYS: dict[str, str] = {
    "migrations": "the migration list, module:ATTRIBUTE",
    "database": "the database name",
    "uri": "the MongoDB URI (or env:NAME / file:PATH)",
    "uri_env": "the environment variable holding the MongoDB URI",
    "timeout": "seconds to look for a server",
    "lock_wait": "seconds to wait for the migration lock",
    "lease": "seconds of the migration lock's lease",
    "step_time_limit": "seconds a step may run unless its class sets time_limit_s",
}
FIELDS = frozenset({"uri", "timeout", "db", "migrations", "lock_wait", "lease", "step_time_limit"})
CONFIGURE_HINT = (
    'add [tool.analytiq-db] migrations = "yourapp.migrations:MIGRATIONS" to pyproject.toml '
    "(analytiq-db init writes one), or pass --migrations / set ANALYTIQ_DB_MIGRATIONS"
)


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


@dataclass(frozen=True)
class Flags:
    """What the command line gave (None: not given)."""

    uri: str | None = None
    db: str | None = None
    timeout_s: float | None = None
    migrations: str | None = None
    lock_wait_s: float | None = None
    lease_s: float | None = None
    step_time_limit_s: float | None = None


@dataclass(frozen=True)
class Settings:
    """Where to connect, which migration list, how long to wait: one object, built once per command.

    ``lock_wait_s``/``lease_s`` None mean the engine's defaults; ``migrations`` None means no list
    is configured (``migration_list()`` says how to configure one). ``origin`` says, per setting,
    where its value came from (a flag, a variable, pyproject.toml or the default).
    """

    uri: str = DEFAULT_URI
    db: str = DEFAULT_ENV
    timeout_s: float = DEFAULT_TIMEOUT_S
    migrations: str | None = None
    lock_wait_s: float | None = None
    lease_s: float | None = None
    step_time_limit_s: float | None = None  # None: no limit
    project: Project | None = None
    origin: Mapping[str, str] = field(default_factory=dict)

    def migration_list(self) -> str:
        """Return the configured ``module:ATTRIBUTE``, or raise ConfigurationError saying how to configure one."""
        if self.migrations is None:
            raise ConfigurationError("no migration list configured", hint=CONFIGURE_HINT)
        return self.migrations

    @classmethod
    def load(cls, *, uri: str | None = None, db: str | None = None, timeout_s: float | None = None) -> Settings:
        """Return settings from these flags, then the environment, then pyproject.toml, then the defaults."""
        return resolve(Flags(uri=uri, db=db, timeout_s=timeout_s))


def _first(candidates: list[tuple[str, Any]]) -> tuple[str, Any] | None:
    """Return the first (source, value) whose value is given; an empty string is an error."""
    for source, value in candidates:
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            raise ConfigurationError(f"{source} is empty", hint="give a value or leave it unset")
        return source, value
    return None


def _seconds(source: str, value: Any, *, zero_ok: bool) -> float:
    """Return ``value`` as seconds: a number, > 0 (or ≥ 0 with ``zero_ok``); else ConfigurationError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number < 0 or (number == 0 and not zero_ok) or isinstance(value, bool):
        bound = "0 or more" if zero_ok else "more than 0"
        raise ConfigurationError(f"{source}={value!r} is not a number of seconds {bound}", hint="e.g. 30")
    return number


def _text(project: Project | None, key: str) -> tuple[str, Any]:
    if project is None or key not in project.table:
        return ("", None)
    value = project.table[key]
    if not isinstance(value, str):
        raise ConfigurationError(f"{project.where(key)} must be a string, not {value!r}", hint="quote it")
    return (project.where(key), value)


def _number(project: Project | None, key: str) -> tuple[str, Any]:
    if project is None or key not in project.table:
        return ("", None)
    return (project.where(key), project.table[key])


def _uri_from_project(project: Project | None, environ: Mapping[str, str]) -> tuple[str, Any]:
    """Return the pyproject's URI source: ``uri_env`` (the variable it names) or ``uri``."""
    named = _text(project, "uri_env")
    plain = _text(project, "uri")
    if named[1] is not None and plain[1] is not None:
        raise ConfigurationError(f"{named[0]} and uri are both set", hint="keep one of them")
    if named[1] is None:
        return plain
    variable = named[1]
    if variable not in environ:
        raise ConfigurationError(
            f"{named[0]} names {variable}, which is not set", hint=f"export {variable}=mongodb://... or pass --uri"
        )
    return (variable, environ[variable])


def resolve(
    flags: Flags,
    *,
    environ: Mapping[str, str] | None = None,
    project: Project | bool | None = True,
    fields: Collection[str] = FIELDS,
) -> Settings:
    """Return the settings: flags > environment (``ANALYTIQ_DB_*``, ``MONGODB_URI``, ``ENV``) >
    ``[tool.analytiq-db]`` > defaults. ``project=True`` finds the pyproject from the working
    directory; pass a Project or None to choose. Only ``fields`` are read (a verb without ``--db``
    does not fail on a bad ``ENV``); the others keep their defaults. Bad values raise ConfigurationError.
    """
    env = os.environ if environ is None else environ
    proj = find_project() if project is True else project if isinstance(project, Project) else None
    origin: dict[str, str] = {}
    values: dict[str, Any] = {}

    def pick(name: str, candidates: list[tuple[str, Any]]) -> Any:
        found = _first([c for c in candidates if c[0]])
        if found is None:
            origin[name] = "default"
            return None
        origin[name] = found[0]
        return found[1]

    if "uri" in fields:
        given = [
            ("--uri", flags.uri),
            ("ANALYTIQ_DB_URI", env.get("ANALYTIQ_DB_URI")),
            ("MONGODB_URI", env.get("MONGODB_URI")),
        ]
        if all(value is None for _, value in given):
            given.append(_uri_from_project(proj, env))  # uri_env is read only when nothing above is set
        raw_uri = pick("uri", given)
        if raw_uri is not None:
            values["uri"] = resolve_uri(raw_uri.strip(), what=origin["uri"])
    if "timeout" in fields:
        raw_timeout = pick(
            "timeout",
            [
                ("--timeout", flags.timeout_s),
                ("ANALYTIQ_DB_TIMEOUT", env.get("ANALYTIQ_DB_TIMEOUT")),
                _number(proj, "timeout"),
            ],
        )
        if raw_timeout is not None:
            values["timeout_s"] = _seconds(origin["timeout"], raw_timeout, zero_ok=False)
    if "db" in fields:
        name = pick(
            "db",
            [
                ("--db", flags.db),
                ("ANALYTIQ_DB_DATABASE", env.get("ANALYTIQ_DB_DATABASE")),
                ("ENV", env.get("ENV")),
                _text(proj, "database"),
            ],
        )
        if name is not None:
            validate_db_name(name)
            values["db"] = name
    if "migrations" in fields:
        values["migrations"] = pick(
            "migrations",
            [
                ("--migrations", flags.migrations),
                ("ANALYTIQ_DB_MIGRATIONS", env.get("ANALYTIQ_DB_MIGRATIONS")),
                _text(proj, "migrations"),
            ],
        )
    for name, flag, variable in (
        ("lock_wait", flags.lock_wait_s, "ANALYTIQ_DB_LOCK_WAIT"),
        ("lease", flags.lease_s, "ANALYTIQ_DB_LEASE"),
        ("step_time_limit", flags.step_time_limit_s, "ANALYTIQ_DB_STEP_TIME_LIMIT"),
    ):
        if name not in fields:
            continue
        raw = pick(name, [(f"--{name.replace('_', '-')}", flag), (variable, env.get(variable)), _number(proj, name)])
        if raw is not None:
            values[f"{name}_s"] = _seconds(origin[name], raw, zero_ok=name == "lock_wait")
    return Settings(project=proj, origin=origin, **values)


_BAD_DB_CHARS = set('/\\. "$*<>:|?\0')


def validate_db_name(name: str) -> None:
    """Raise ConfigurationError unless ``name`` is a valid MongoDB database name."""
    bad = sorted(_BAD_DB_CHARS.intersection(name))
    if not name or bad or len(name.encode()) > 63:
        shown = ", ".join(repr(c) for c in bad) or "length"
        raise ConfigurationError(
            f"invalid database name {name!r} ({shown})",
            hint="use letters, digits, '_' or '-', at most 63 bytes",
        )
