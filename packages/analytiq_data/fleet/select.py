"""Which databases a command works on: names, globs, all of them, or the application's own list.

A ``Selection`` is what was asked for (``--db`` repeated or a glob, ``--all-databases`` and
``--exclude``, ``ANALYTIQ_DB_DATABASES``, ``[tool.analytiq-db] databases``); ``resolve`` turns it
into the names, once, at the start of a command:

- a plain name is taken as given (a database that does not exist yet is a database too, as for one
  ``--db``);
- a glob (``tenant_*``, ``*`` for all) matches the server's databases (one ``listDatabases``), never
  the system ones (``admin``, ``local``, ``config``) nor this tool's own: backup copies (``<db>_backup_v<N>_<time>``
  or any database holding ``__backup_manifest``/``__backup_state``), restore and rehearsal scratch
  databases (``<db>__restore``; ``<db>__restore_tmp`` of earlier versions; ``<db>_rehearse_<hex>``);
- ``module:ATTRIBUTE`` names a list of names, or a callable (sync or async) given the client and
  returning them: an application that keeps its tenants in a catalog collection answers from there.

``--exclude`` globs remove names from the result. A system database named outright is refused;
a selection matching nothing is one ConfigurationError line (exit 3), never "nothing to do".
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib
import inspect
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import ConfigurationError
from analytiq_data.settings import validate_db_name
from analytiq_data.text import first_few

SYSTEM_DATABASES = frozenset({"admin", "local", "config"})
GLOB_CHARS = frozenset("*?[")
#: Names this tool gives its own databases: backup copies, restore staging and locks, rehearsal scratch.
TOOL_NAMES = re.compile(r"(_backup_v\d+_\d{14}|__restore(_tmp)?|_rehearse_[0-9a-f]{6}(_a|_b)?)$")
#: How many databases are asked at once whether they are backups of this tool (one listCollections each).
PROBE_CONCURRENCY = 16

def is_pattern(text: str) -> bool:
    """Return whether ``text`` is a glob (``*``, ``?`` or ``[...]``) rather than one database name."""
    return any(c in GLOB_CHARS for c in text)


def is_source(text: str) -> bool:
    """Return whether ``text`` names the application's list or callable (``module:ATTRIBUTE``)."""
    return ":" in text


@dataclass(frozen=True)
class Selection:
    """What was asked for: ``patterns`` (names, globs, at most one ``module:ATTRIBUTE``), ``exclude``
    (globs), and ``origin``, where they came from (``--db``, ``$ANALYTIQ_DB_DATABASES``, …)."""

    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    origin: str = "--db"
    #: The application's own list or function (sync or async, given the client), passed as an object.
    source: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        sources = [p for p in self.patterns if is_source(p)]
        if len(sources) > 1:
            raise ConfigurationError(f"{self.origin} names two lists: {sources[0]} and {sources[1]}", hint="keep one")
        for text in (*self.patterns, *self.exclude):
            if not is_source(text):
                validate_db_name(re.sub(r"[*?\[\]!]", "x", text) if is_pattern(text) else text)
        for name in self.patterns:
            if not is_pattern(name) and not is_source(name) and name.lower() in SYSTEM_DATABASES:
                raise ConfigurationError(
                    f"{name!r} is a system database: it is never migrated or selected",
                    hint="name your application's databases",
                )

    @property
    def dynamic(self) -> bool:
        """Return whether the names depend on what the server holds (a glob or the application's list)."""
        return self.source is not None or any(is_pattern(p) or is_source(p) for p in self.patterns)

    def describe(self) -> str:
        """Return the selection for people: ``tenant_* (from --db), excluding tenant_demo``."""
        shown = "all databases" if self.patterns == ("*",) else ", ".join(self.patterns)
        if self.source is not None:
            named = getattr(self.source, "__qualname__", None) or type(self.source).__name__
            shown = ", ".join([*self.patterns, f"{named}()" if callable(self.source) else "the list given"])
        excluded = f", excluding {', '.join(self.exclude)}" if self.exclude else ""
        return f"{shown} (from {self.origin}){excluded}"


@dataclass(frozen=True)
class Resolved:
    """The names a selection stands for now, sorted, and what was left out on the way."""

    names: tuple[str, ...]
    selection: Selection
    excluded: tuple[str, ...] = ()  # matched, then removed by --exclude
    tool_databases: tuple[str, ...] = ()  # matched a glob, left out: this tool's backups and scratch databases
    notes: tuple[str, ...] = ()  # how the names were chosen, when not all matches are taken (a sample)
    of: int | None = None  # how many matched, when only some were chosen

    def describe(self) -> str:
        """Return ``200 databases: tenant_* (from --db)`` (and what was left out)."""
        count = f"{len(self.names)} database{'s' if len(self.names) != 1 else ''}"
        if self.of is not None:
            count += f" of {self.of}"
        left = []
        if self.tool_databases:
            left.append(f"{len(self.tool_databases)} of this tool's backup/scratch databases left out")
        return f"{count}: {self.selection.describe()}" + (f"; {', '.join(left)}" if left else "")


def import_source(spec: str) -> Any:
    """Import ``module:ATTRIBUTE`` (the working directory importable) and return the attribute."""
    module_name, _, attribute = spec.strip().partition(":")
    hint = 'give module:ATTRIBUTE naming a list or a function of the client, e.g. "myapp.tenants:list_tenant_dbs"'
    if not all(part.isidentifier() for part in module_name.split(".")) or not attribute.isidentifier():
        raise ConfigurationError(f"bad database list name {spec!r}", hint=hint)
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the application's module: any failure to import it is the user's to fix
        raise ConfigurationError(f"cannot import {module_name!r} for the database list: {exc}", hint=hint) from exc
    if not hasattr(module, attribute):
        raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}", hint=hint)
    return getattr(module, attribute)


async def call_source(spec: str | Any, client: Any) -> list[str]:
    """Return the names the application's list or callable gives (named ``module:ATTRIBUTE``, or the object
    itself): a list as it is, a function called with ``client`` (and awaited if async)."""
    source = import_source(spec) if isinstance(spec, str) else spec
    spec = spec if isinstance(spec, str) else getattr(spec, "__qualname__", type(spec).__name__)
    try:
        found = source(client) if callable(source) else source
        if inspect.isawaitable(found):
            found = await found
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"{spec} raised {type(exc).__name__}: {exc}", hint="fix the function that lists the databases"
        ) from exc
    if isinstance(found, str) or not isinstance(found, Iterable):
        what = type(found).__name__
        raise ConfigurationError(f"{spec} gave a {what}, not a list of database names", hint="return a list")
    names = list(found)
    bad = next((n for n in names if not isinstance(n, str)), None)
    if bad is not None:
        raise ConfigurationError(f"{spec} gave {bad!r}, not a database name", hint="return names (strings)")
    return names


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


async def resolve(
    selection: Selection, app_client: Any, client: AsyncMongoClient[Any], *, where: str = "the server"
) -> Resolved:
    """Return the names ``selection`` stands for on ``client``'s server (PyMongo's; ``app_client``, the
    application's own, goes to its callable). Globs skip system databases and this tool's own (named,
    or holding a backup's manifest or state); ``exclude`` applies last. Nothing left → ConfigurationError."""
    chosen = await _matches(selection, app_client, lambda: list_databases(client))
    names, excluded, tool = await _sorted_out(selection, client, chosen)
    if not names:
        raise ConfigurationError(_nothing_line(selection, where, excluded, tool), hint=_nothing_hint(selection))
    return Resolved(tuple(names), selection, tuple(excluded), tuple(tool))


async def newcomers(resolved: Resolved, app_client: Any, client: AsyncMongoClient[Any]) -> tuple[str, ...]:
    """Return the databases the selection matches now that it did not match when ``resolved`` was made
    (created meanwhile): asked again of the server and of the application's callable."""
    if not resolved.selection.dynamic:
        return ()
    known = {*resolved.names, *resolved.excluded, *resolved.tool_databases}
    chosen = await _matches(resolved.selection, app_client, lambda: list_databases(client))
    fresh = {n: by_glob for n, by_glob in chosen.items() if n not in known}
    names, _, _ = await _sorted_out(resolved.selection, client, fresh)
    return tuple(names)


async def resolve_among(selection: Selection, available: Sequence[str], app_client: Any, *, where: str) -> Resolved:
    """Return the names ``selection`` stands for among ``available`` (the databases a dump holds): globs
    match them (never system databases nor this tool's own names), plain names and the application's
    list must be among them. Nothing left, or a name not there → ConfigurationError."""

    async def listing() -> Sequence[str]:
        return available

    chosen = await _matches(selection, app_client, listing)
    missing = sorted(n for n in chosen if n not in available)
    if missing:
        shown = first_few(available, 10, ", ")
        line = f"{where} holds no database {missing[0]!r} (it has: {shown or 'none'})"
        raise ConfigurationError(line, hint="check --db")
    tool = sorted(n for n, by_glob in chosen.items() if by_glob and TOOL_NAMES.search(n))
    excluded = sorted(n for n in chosen if n not in tool and _excluded(n, selection.exclude))
    names = tuple(sorted(n for n in chosen if n not in tool and n not in excluded))
    if not names:
        held = [n for n in available if n.lower() not in SYSTEM_DATABASES]
        there = f"{where} holds: {first_few(held, 10, ', ') or 'no database'}"
        raise ConfigurationError(_nothing_line(selection, where, excluded, tool), hint=_nothing_hint(selection, there))
    return Resolved(names, selection, tuple(excluded), tuple(tool))


async def _matches(
    selection: Selection, app_client: Any, listing: Callable[[], Awaitable[Sequence[str]]]
) -> dict[str, bool]:
    """Return the names selected, each with whether a glob matched it (then it may be one of our backups)."""
    listed: Sequence[str] | None = None
    chosen: dict[str, bool] = {}
    if selection.source is not None:
        for name in await call_source(selection.source, app_client):
            validate_db_name(name)
            if name.lower() not in SYSTEM_DATABASES:
                chosen.setdefault(name, False)
    for text in selection.patterns:
        if is_source(text):
            for name in await call_source(text, app_client):
                validate_db_name(name)
                if name.lower() not in SYSTEM_DATABASES:
                    chosen.setdefault(name, False)
        elif is_pattern(text):
            listed = listed if listed is not None else await listing()
            for name in listed:
                if fnmatch.fnmatchcase(name, text) and name.lower() not in SYSTEM_DATABASES:
                    chosen.setdefault(name, True)
        else:
            chosen[text] = False
    return chosen


async def _sorted_out(
    selection: Selection, client: AsyncMongoClient[Any], chosen: dict[str, bool]
) -> tuple[list[str], list[str], list[str]]:
    """Return (the names kept, those ``--exclude`` removed, this tool's own databases left out), each sorted."""
    tool = [n for n, by_glob in chosen.items() if by_glob and TOOL_NAMES.search(n)]
    tool += await backups_among(client, [n for n, by_glob in chosen.items() if by_glob and n not in tool])
    excluded = [n for n in chosen if n not in tool and _excluded(n, selection.exclude)]
    names = [n for n in chosen if n not in tool and n not in excluded]
    return sorted(names), sorted(excluded), sorted(tool)


def _nothing_line(selection: Selection, where: str, excluded: Sequence[str], tool: Sequence[str]) -> str:
    left = []
    if excluded:
        left.append(f"{len(excluded)} excluded by --exclude")
    if tool:
        left.append(f"{len(tool)} of this tool's backup/scratch databases left out")
    why = f" ({'; '.join(left)})" if left else ""
    return f"no database on {where} matches {selection.describe()}{why}: nothing was done"


SERVER_LISTING = "list the databases with analytiq-db status --all-databases"


def _nothing_hint(selection: Selection, there: str = SERVER_LISTING) -> str:
    """The fix for a selection that matched nothing; ``there`` says where to see what there is (the
    server's databases by default; a dump's resolution names the databases the dump holds)."""
    if selection.source is not None or any(is_source(p) for p in selection.patterns):
        return "check what the function returns (it gave no database)"
    return f"check the pattern (quote it: --db 'tenant_*'); {there}"


async def backups_among(client: AsyncMongoClient[Any], names: Sequence[str]) -> list[str]:
    """Return those of ``names`` that hold a backup's manifest or state (a copy made by this tool).

    One ``listCollections`` per database (filtered to the two names), ``PROBE_CONCURRENCY`` at once.
    A database that cannot be read is kept (the verb run on it says why).
    """
    from analytiq_data.backup.catalog import MANIFEST_COLLECTION, STATE_COLLECTION  # the backup package is heavy

    marks = [MANIFEST_COLLECTION, STATE_COLLECTION]  # a backup copy made by this tool (finished, or interrupted)
    gate = asyncio.Semaphore(PROBE_CONCURRENCY)

    async def probe(name: str) -> bool:
        db: AsyncDatabase[Any] = client[name]
        async with gate:
            try:
                found = await db.list_collection_names(filter={"name": {"$in": marks}})
            except PyMongoError:
                return False
        return bool(found)

    flags = await asyncio.gather(*(probe(n) for n in names))
    return [n for n, is_backup in zip(names, flags, strict=True) if is_backup]


async def list_databases(client: AsyncMongoClient[Any]) -> list[str]:
    """Return the names of the server's databases (one ``listDatabases``, names only)."""
    return list(await client.list_database_names())
