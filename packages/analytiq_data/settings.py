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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from analytiq_data.errors import ConfigurationError
from analytiq_data.pyproject import KEYS, PYPROJECT, TABLE, Project, find_project, read_pyproject
from analytiq_data.setting_sources import (
    DATABASE,
    DRIVERS,
    NAMING_KEYS,
    PLAIN,
    URI,
    Flags,
    Sources,
    checked,
    database_patterns,
)
from analytiq_data.uri import resolve_uri

__all__ = [
    "CONFIGURE_HINT",
    "DEFAULT_DRIVER",
    "DEFAULT_ENV",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_URI",
    "DRIVERS",
    "ENVIRONMENT",
    "FIELDS",
    "KEYS",
    "PYPROJECT",
    "TABLE",
    "Flags",
    "Project",
    "Settings",
    "database_patterns",
    "find_project",
    "read_pyproject",
    "resolve",
    "validate_db_name",
]

DEFAULT_URI = "mongodb://localhost:27017"
DEFAULT_ENV = "dev"
DEFAULT_TIMEOUT_S = 5.0

FIELDS = frozenset({"uri", "timeout", "db", "migrations", "lock_wait", "lease", "driver", "step_time_limit"})
DEFAULT_DRIVER = "auto"
CONFIGURE_HINT = (
    'add [tool.analytiq-db] migrations = "yourapp.migrations:MIGRATIONS" to pyproject.toml '
    "(analytiq-db init writes one), or pass --migrations / set ANALYTIQ_DB_MIGRATIONS"
)


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
        for key in NAMING_KEYS:
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
    sources = Sources(env, proj)
    values: dict[str, Any] = {}
    if "uri" in fields:
        raw_uri = sources.paired("uri", URI, flags.uri, "ANALYTIQ_DB_URI", "MONGODB_URI")
        if raw_uri is not None:
            values["uri"] = resolve_uri(raw_uri.strip(), what=sources.origin["uri"])
    if "db" in fields:
        several = sources.several(flags)
        name = None
        if several is not None:
            values["databases"] = several
        else:
            name = sources.paired("db", DATABASE, flags.db, "ANALYTIQ_DB_DATABASE", "ENV")
        if name is not None:
            validate_db_name(name)
            values["db"] = name
    for key, attribute, variable, setting in PLAIN:
        if key in fields:
            raw = sources.plain(key, getattr(flags, attribute), variable, text=key in ("migrations", "driver"))
            if raw is not None:
                values[setting] = checked(key, sources.origin[key], raw)
    return Settings(project=proj, origin=sources.origin, ignored=tuple(sources.ignored), **values)


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
