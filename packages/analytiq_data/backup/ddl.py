"""Collection DDL built from the catalog: ``create``, ``collMod`` and ``createIndexes``, in one place.

A namespace is recreated from what ``listCollections``/``listIndexes`` (or a dump's metadata) say
about it, in three steps whose order matters: ``create`` with every option but the deferred ones
(capped, collation, clustered, time-series, a view's ``viewOn``/``pipeline``…); the documents;
``createIndexes`` with every index but ``_id`` (all options kept); then ``collMod`` with the
deferred options (validator and TTL), so no document is rejected or expires between the read and
the check. The command builders are pure and tested without a server; the ``async`` helpers run
them on a database and let driver errors through (callers wrap them, e.g. ``Side.errors``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bson.son import SON
from pymongo.asynchronous.database import AsyncDatabase

#: Collection options applied only after the documents are in and verified (see ``deferred_options``).
DEFERRED_OPTIONS = ("validator", "validationLevel", "validationAction", "expireAfterSeconds")


def creation_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options to create a collection with: all but the ``DEFERRED_OPTIONS``.

    A validator is applied after the load (documents it would reject today are part of the
    database); a TTL (``expireAfterSeconds`` of a time-series or clustered collection) after the
    verification, so nothing expires between the read and the check.
    """
    return {k: v for k, v in options.items() if k not in DEFERRED_OPTIONS}


def deferred_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options applied with ``collMod`` once the documents are in and checked."""
    return {k: options[k] for k in DEFERRED_OPTIONS if k in options}


def is_id_index(spec: Mapping[str, Any]) -> bool:
    """Return whether an index is the automatic ``_id`` index (or a clustered collection's key)."""
    key = spec.get("key") or {}
    return bool(spec.get("clustered")) or (list(key) == ["_id"] and spec.get("name") == "_id_")


def index_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return a ``listIndexes`` entry as a ``createIndexes`` spec (all options kept; ``ns`` dropped)."""
    return {k: v for k, v in spec.items() if k != "ns"}


def is_ttl(spec: Mapping[str, Any]) -> bool:
    """Return whether an index deletes documents (TTL)."""
    return "expireAfterSeconds" in spec


class Defined(Protocol):
    """A namespace as the catalog or a dump's metadata describes it (``plan.Intent``, ``Metadata``)."""

    @property
    def options(self) -> Mapping[str, Any]:
        """Return its creation options."""
        ...

    @property
    def indexes(self) -> tuple[Mapping[str, Any], ...]:
        """Return its indexes as the server lists them."""
        ...


def has_ttl(namespace: Defined) -> bool:
    """Return whether a namespace has a TTL index or option (the server may delete its documents at any time)."""
    return "expireAfterSeconds" in namespace.options or any(is_ttl(s) for s in namespace.indexes)


def buildable_indexes(specs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return ``listIndexes`` entries as ``createIndexes`` specs, the automatic ``_id`` index left out."""
    return [index_spec(s) for s in specs if not is_id_index(s)]


def create_command(name: str, options: Mapping[str, Any]) -> SON[str, Any]:
    """Return the ``create`` command for a collection or view with its creation options."""
    return SON([("create", name), *creation_options(options).items()])


def coll_mod_command(name: str, options: Mapping[str, Any]) -> SON[str, Any] | None:
    """Return the ``collMod`` command applying the deferred options (None when there are none)."""
    extra = deferred_options(options)
    return SON([("collMod", name), *extra.items()]) if extra else None


def create_indexes_command(name: str, specs: Iterable[Mapping[str, Any]]) -> SON[str, Any] | None:
    """Return one ``createIndexes`` command for every index of ``specs`` but ``_id`` (None when none is left)."""
    indexes = buildable_indexes(specs)
    return SON([("createIndexes", name), ("indexes", indexes)]) if indexes else None


async def create(db: AsyncDatabase[Any], name: str, options: Mapping[str, Any]) -> None:
    """Create collection or view ``name`` in ``db`` with its creation options."""
    await db.command(create_command(name, options))


async def create_indexes(db: AsyncDatabase[Any], name: str, specs: Iterable[Mapping[str, Any]]) -> None:
    """Build every index of ``specs`` but ``_id`` on ``name`` in one ``createIndexes`` (nothing if none)."""
    command = create_indexes_command(name, specs)
    if command is not None:
        await db.command(command)


async def apply_deferred(db: AsyncDatabase[Any], name: str, options: Mapping[str, Any]) -> None:
    """Apply the validator and TTL options of ``options`` to ``name`` with ``collMod`` (nothing if none)."""
    command = coll_mod_command(name, options)
    if command is not None:
        await db.command(command)
