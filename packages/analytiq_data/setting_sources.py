"""Where each setting's value is looked for, in the order of ``settings.resolve``: the command line's
flags (``Flags``), our variables, the ``[tool.analytiq-db]`` table (a value, or the name of the one
variable to read), the generic variables, and the checks each value passes (seconds, a driver, a
list of databases)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytiq_data.errors import ConfigurationError
from analytiq_data.pyproject import Project

DRIVERS = ("auto", "pymongo", "motor")


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


NAMING_KEYS = ("uri_env", "database_env")


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


URI = _Pair("uri", "uri_env", "--uri", "mongodb://...")
DATABASE = _Pair("database", "database_env", "--db", "<database name>")


@dataclass
class Sources:
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
        if DATABASE.claimed(self.project):
            raise ConfigurationError(f"{where} and database are both set", hint="keep one of them")
        if self.env.get("ENV") is not None:
            self.ignored.append("ENV")
        self.origin["databases"] = where
        return database_patterns(where, self.project.table["databases"], self.project.root)


# Settings with one variable and one table key: name (= table key), Flags attribute, variable, Settings field.
PLAIN = (
    ("timeout", "timeout_s", "ANALYTIQ_DB_TIMEOUT", "timeout_s"),
    ("migrations", "migrations", "ANALYTIQ_DB_MIGRATIONS", "migrations"),
    ("driver", "driver", "ANALYTIQ_DB_DRIVER", "driver"),
    ("lock_wait", "lock_wait_s", "ANALYTIQ_DB_LOCK_WAIT", "lock_wait_s"),
    ("lease", "lease_s", "ANALYTIQ_DB_LEASE", "lease_s"),
    ("step_time_limit", "step_time_limit_s", "ANALYTIQ_DB_STEP_TIME_LIMIT", "step_time_limit_s"),
)


def checked(name: str, source: str, raw: Any) -> Any:
    """Return the plain setting ``name``'s value checked: seconds, a driver, or the text as given."""
    if name == "driver":
        return check_driver(source, raw)
    if name == "migrations":
        return raw
    return _seconds(source, raw, zero_ok=name == "lock_wait")


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


def check_driver(source: str, value: str) -> str:
    """Return ``value`` if it names a driver (auto, pymongo, motor); else ConfigurationError."""
    if value.strip() not in DRIVERS:
        raise ConfigurationError(f"{source}={value!r} is not a driver", hint="use auto, pymongo or motor")
    return value.strip()
