"""The settings every command uses, resolved once, and where each value came from.

``[tool.analytiq-db]`` in the nearest ``pyproject.toml`` holding that table (found by walking up from
the working directory) gives a project's settings. The order, per setting (docs/how-to/configure.md):

1. the command-line flag (``--uri``, ``--db``, ...);
2. our own variable (``ANALYTIQ_DB_URI``, ``ANALYTIQ_DB_DATABASE``, ...): set on purpose, for this tool;
3. the table: ``uri``, or ``uri_env`` naming the one variable to read; ``database``, or
   ``database_env`` naming the one variable to read (or ``databases``: several); ``migrations``, ``driver``, ...;
4. the guide's generic variables, ``MONGODB_URI`` and ``ENV``: read only for a setting the table
   leaves out, so a stray ``ENV`` never moves a project off the database its table names (a generic
   variable passed over is listed in ``Settings.ignored`` and said in the command's header);
5. the defaults.

A setting given but empty (``--db ''``, ``ENV=``) is an error, never a silent fall-back to the default.

Which database is one setting with two shapes: one name (``--db NAME``, ``ANALYTIQ_DB_DATABASE``,
``database``, ``ENV``) or several (``--db`` repeated or a glob, ``--all-databases``,
``ANALYTIQ_DB_DATABASES``, ``databases``): the first source in the order above that gives either
wins (``Settings.databases``; resolved against the server by ``analytiq_data.fleet.select``).
"""

from __future__ import annotations

import os
import sys
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
FIELDS = frozenset({"uri", "timeout", "db", "migrations", "lock_wait", "lease", "driver", "step_time_limit"})
DRIVERS = ("auto", "pymongo", "motor")
DEFAULT_DRIVER = "auto"
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
    driver: str | None = None
    step_time_limit_s: float | None = None
    #: Several databases from the command line: the ``--db`` values when more than one or a glob,
    #: ``("*",)`` for ``--all-databases``; ``databases_from`` names the flag.
    databases: tuple[str, ...] | None = None
    databases_from: str = "--db"


@dataclass(frozen=True)
class Settings:
    """Where to connect, which migration list, how long to wait: one object, built once per command.

    ``lock_wait_s``/``lease_s`` None mean the engine's defaults; ``migrations`` None means no list
    is configured (``migration_list()`` says how to configure one). ``origin`` says, per setting,
    where its value came from (a flag, a variable's name, pyproject.toml or ``default``); ``source``
    says it for people. ``ignored`` names the generic variables (``MONGODB_URI``, ``ENV``) that are
    set but were passed over because the table sets that value.

    ``databases`` (None: one database, ``db``) holds several when they were selected: names, globs
    (``tenant_*``; ``*`` for all) and at most one ``module:ATTRIBUTE``; ``source("databases")`` says
    where they came from. A verb that works on one database refuses them (``analytiq_data.cli``).
    """

    uri: str = DEFAULT_URI
    db: str = DEFAULT_ENV
    timeout_s: float = DEFAULT_TIMEOUT_S
    migrations: str | None = None
    lock_wait_s: float | None = None
    lease_s: float | None = None
    driver: str = DEFAULT_DRIVER
    step_time_limit_s: float | None = None  # None: no limit
    databases: tuple[str, ...] | None = None
    project: Project | None = None
    origin: Mapping[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    def migration_list(self) -> str:
        """Return the configured ``module:ATTRIBUTE``, or raise ConfigurationError saying how to configure one."""
        if self.migrations is None:
            raise ConfigurationError("no migration list configured", hint=CONFIGURE_HINT)
        return self.migrations

    def source(self, name: str) -> str:
        """Return where setting ``name`` came from, for people: ``--db``, ``$ENV``, ``$SHOP_URI, named by
        …pyproject.toml [tool.analytiq-db] uri_env``, ``…pyproject.toml [tool.analytiq-db] database``
        or ``default``."""
        origin = self.origin.get(name, "default")
        if origin == "default" or not origin.isidentifier():
            return origin  # a flag, a place in pyproject.toml, or "default"
        for key in _NAMING_KEYS:
            if self.project is not None and self.project.table.get(key) == origin:
                return f"${origin}, named by {self.project.where(key)}"
        return f"${origin}"

    def importable(self) -> None:
        """Put the project's directory (where its ``migrations`` module lives) first on ``sys.path``."""
        if self.project is not None and str(self.project.root) not in sys.path:
            sys.path.insert(0, str(self.project.root))

    @classmethod
    def load(cls, *, uri: str | None = None, db: str | None = None, timeout_s: float | None = None) -> Settings:
        """Return settings from these flags, then the environment, then pyproject.toml, then the defaults."""
        return resolve(Flags(uri=uri, db=db, timeout_s=timeout_s))


_NAMING_KEYS = ("uri_env", "database_env")


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


@dataclass(frozen=True)
class _Pair:
    """A setting the table gives either as a value (``uri``) or as the name of the variable holding it (``uri_env``)."""

    value_key: str
    variable_key: str
    flag: str
    example: str

    def claimed(self, project: Project | None) -> bool:
        """Return whether the table sets this value (so a generic variable is not read for it)."""
        return project is not None and (self.value_key in project.table or self.variable_key in project.table)

    def read(self, project: Project | None, environ: Mapping[str, str]) -> tuple[str, Any]:
        """Return the table's (source, value): the variable ``variable_key`` names (only it), or ``value_key``."""
        named = _text(project, self.variable_key)
        plain = _text(project, self.value_key)
        if named[1] is not None and plain[1] is not None:
            raise ConfigurationError(f"{named[0]} and {self.value_key} are both set", hint="keep one of them")
        if named[1] is None:
            return plain
        variable = named[1]
        if variable not in environ:
            raise ConfigurationError(
                f"{named[0]} names {variable}, which is not set",
                hint=f"export {variable}={self.example} or pass {self.flag}",
            )
        return (variable, environ[variable])


_URI = _Pair("uri", "uri_env", "--uri", "mongodb://...")
_DATABASE = _Pair("database", "database_env", "--db", "<database name>")


@dataclass
class _Sources:
    """The environment and the table one ``resolve`` reads, and what it found where."""

    env: Mapping[str, str]
    project: Project | None
    origin: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def pick(self, name: str, candidates: list[tuple[str, Any]]) -> Any:
        """Return the first value given among ``candidates`` (source, value), noting its source; None: default."""
        found = _first([c for c in candidates if c[0]])
        self.origin[name] = "default" if found is None else found[0]
        return None if found is None else found[1]

    def paired(self, name: str, pair: _Pair, flag: str | None, ours: str, generic: str) -> Any:
        """Return flag > our variable > the table (``pair``) > the generic variable, the last only when
        the table leaves the value out (a generic variable passed over is noted in ``ignored``)."""
        given = [(pair.flag, flag), (ours, self.env.get(ours))]
        if all(value is None for _, value in given):  # the table's variable is read only when nothing above is set
            given.append(pair.read(self.project, self.env))
            if pair.claimed(self.project) and self.env.get(generic) is not None:
                self.ignored.append(generic)
        if not pair.claimed(self.project):
            given.append((generic, self.env.get(generic)))
        return self.pick(name, given)

    def plain(self, name: str, flag: Any, variable: str, *, text: bool) -> Any:
        """Return flag > our variable > the table's key ``name``."""
        table = _text(self.project, name) if text else _number(self.project, name)
        return self.pick(name, [(f"--{name.replace('_', '-')}", flag), (variable, self.env.get(variable)), table])

    def several(self, flags: Flags) -> tuple[str, ...] | None:
        """Return the several databases selected when they win over one database, else None.

        Each level gives one database or several, never both: ``--db`` (once, a plain name) or
        ``--db`` repeated / a glob / ``--all-databases``; ``ANALYTIQ_DB_DATABASE`` or
        ``ANALYTIQ_DB_DATABASES``; the table's ``database``/``database_env`` or ``databases``.
        ``ENV`` gives one, read only when the table sets neither.
        """
        if flags.db is not None:
            return None
        if flags.databases is not None:
            self.origin["databases"] = flags.databases_from
            return flags.databases
        one, many = self.env.get("ANALYTIQ_DB_DATABASE"), self.env.get("ANALYTIQ_DB_DATABASES")
        if one is not None and many is not None:
            raise ConfigurationError(
                "ANALYTIQ_DB_DATABASE and ANALYTIQ_DB_DATABASES are both set", hint="keep one of them"
            )
        if one is not None:
            return None
        if many is not None:
            self.origin["databases"] = "ANALYTIQ_DB_DATABASES"
            return database_patterns("ANALYTIQ_DB_DATABASES", many, Path.cwd())
        if self.project is None or "databases" not in self.project.table:
            return None
        where = self.project.where("databases")
        if _DATABASE.claimed(self.project):
            raise ConfigurationError(f"{where} and database are both set", hint="keep one of them")
        if self.env.get("ENV") is not None:
            self.ignored.append("ENV")
        self.origin["databases"] = where
        return database_patterns(where, self.project.table["databases"], self.project.root)


# Settings with one variable and one table key: name (= table key), Flags attribute, variable, Settings field.
_PLAIN = (
    ("timeout", "timeout_s", "ANALYTIQ_DB_TIMEOUT", "timeout_s"),
    ("migrations", "migrations", "ANALYTIQ_DB_MIGRATIONS", "migrations"),
    ("driver", "driver", "ANALYTIQ_DB_DRIVER", "driver"),
    ("lock_wait", "lock_wait_s", "ANALYTIQ_DB_LOCK_WAIT", "lock_wait_s"),
    ("lease", "lease_s", "ANALYTIQ_DB_LEASE", "lease_s"),
    ("step_time_limit", "step_time_limit_s", "ANALYTIQ_DB_STEP_TIME_LIMIT", "step_time_limit_s"),
)


def _checked(name: str, source: str, raw: Any) -> Any:
    """Return the plain setting ``name``'s value checked: seconds, a driver, or the text as given."""
    if name == "driver":
        return _driver(source, raw)
    if name == "migrations":
        return raw
    return _seconds(source, raw, zero_ok=name == "lock_wait")


def resolve(
    flags: Flags,
    *,
    environ: Mapping[str, str] | None = None,
    project: Project | bool | None = True,
    fields: Collection[str] = FIELDS,
) -> Settings:
    """Return the settings: flag > ``ANALYTIQ_DB_*`` variable > ``[tool.analytiq-db]`` (``uri_env`` /
    ``database_env``: only the variable named) > generic variable (``MONGODB_URI``, ``ENV``; only for a
    value the table leaves out) > default. ``project=True`` finds the pyproject from the working
    directory; pass a Project or None to choose. Only ``fields`` are read (a verb without ``--db``
    does not fail on a bad ``ENV``); the others keep their defaults. Bad values raise ConfigurationError.
    """
    env = os.environ if environ is None else environ
    proj = find_project() if project is True else project if isinstance(project, Project) else None
    sources = _Sources(env, proj)
    values: dict[str, Any] = {}
    if "uri" in fields:
        raw_uri = sources.paired("uri", _URI, flags.uri, "ANALYTIQ_DB_URI", "MONGODB_URI")
        if raw_uri is not None:
            values["uri"] = resolve_uri(raw_uri.strip(), what=sources.origin["uri"])
    if "db" in fields:
        several = sources.several(flags)
        name = None
        if several is not None:
            values["databases"] = several
        else:
            name = sources.paired("db", _DATABASE, flags.db, "ANALYTIQ_DB_DATABASE", "ENV")
        if name is not None:
            validate_db_name(name)
            values["db"] = name
    for key, attribute, variable, setting in _PLAIN:
        if key in fields:
            raw = sources.plain(key, getattr(flags, attribute), variable, text=key in ("migrations", "driver"))
            if raw is not None:
                values[setting] = _checked(key, sources.origin[key], raw)
    return Settings(project=proj, origin=sources.origin, ignored=tuple(sources.ignored), **values)


def database_patterns(source: str, value: Any, root: Path) -> tuple[str, ...]:
    """Return the databases a setting selects: a list of names and globs; a text of them separated by
    commas; ``module:ATTRIBUTE`` (kept whole: resolved against the server); or ``file:PATH`` (relative
    to ``root``), one name or glob a line, ``#`` starting a comment. Empty or malformed → ConfigurationError."""
    if isinstance(value, str) and value.strip().startswith("file:"):
        path = root / Path(value.strip()[5:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigurationError(f"{source}: cannot read {path}: {exc.strerror}", hint="check the path") from exc
        value = [line.split("#", 1)[0].strip() for line in lines]
        value = [line for line in value if line]
    elif isinstance(value, str):
        value = [value.strip()] if ":" in value else [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"{source} must be a list of database names, not {value!r}", hint='e.g. databases = ["tenant_*"]'
        )
    found = tuple(v.strip() for v in value if v.strip())
    if not found:
        raise ConfigurationError(f"{source} names no database", hint='e.g. databases = ["tenant_*"]')
    return found


def _driver(source: str, value: str) -> str:
    """Return ``value`` if it names a driver (auto, pymongo, motor); else ConfigurationError."""
    if value.strip() not in DRIVERS:
        raise ConfigurationError(f"{source}={value!r} is not a driver", hint="use auto, pymongo or motor")
    return value.strip()


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


#: Every environment variable the package reads -> what it sets (the configuration reference is generated
#: from this table; a variable read in the code but missing here fails ``make test``).
ENVIRONMENT: dict[str, str] = {
    "ANALYTIQ_DB_URI": "the MongoDB URI (or env:NAME / file:PATH); before MONGODB_URI",
    "MONGODB_URI": "the MongoDB URI, as the Analytiq app reads it (AnalytiqClient too)",
    "ANALYTIQ_DB_DATABASE": "the database name; before ENV",
    "ANALYTIQ_DB_DATABASES": "several databases: names and globs separated by commas, module:ATTRIBUTE or file:PATH",
    "ENV": "the database name, as the Analytiq app reads it (AnalytiqClient too)",
    "ANALYTIQ_DB_MIGRATIONS": "the migration list, module:ATTRIBUTE",
    "ANALYTIQ_DB_TIMEOUT": "seconds to look for a server",
    "ANALYTIQ_DB_LOCK_WAIT": "seconds to wait for the migration lock",
    "ANALYTIQ_DB_LEASE": "seconds of the migration lock's lease",
    "ANALYTIQ_DB_STEP_TIME_LIMIT": "seconds a step may run unless its class sets time_limit_s",
    "ANALYTIQ_DB_LOG": "the log file of analytiq-db (tracebacks go there)",
    "XDG_STATE_HOME": "where the log goes when ANALYTIQ_DB_LOG is not set: $XDG_STATE_HOME/analytiq-db/",
    "BACKUP_SRC_URI": "backup: the source URI when --src-uri is not given",
    "BACKUP_DEST_URI": "backup: the destination URI when --dest-uri is not given",
}
