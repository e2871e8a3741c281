"""Reading a database's catalog: which namespaces it holds, their options, indexes and UUIDs.

Every reader of ``listCollections`` and ``listIndexes`` in the backup, the dumps and the restores
goes through here, so the namespace rule (``copied_namespace``: what counts as the user's data) is
applied in one place. The functions taking an ``AsyncDatabase`` let driver errors through; the
``Side`` ones (``collection_infos``, ``collection_options``, ``index_specs``) turn them into one
line naming the server (``Side.errors``). Everything here only reads.

This module sits below ``identity`` (which reads collection UUIDs here) and ``endpoints`` (whose
``Side`` wraps errors): it names the side it reads through by the ``CatalogSide`` protocol, so it
imports neither of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.restore_mark import is_restore_namespace

#: Where an interrupted backup keeps its state (in the destination database; never copied).
STATE_COLLECTION = "__backup_state"

#: Where a finished backup records that it completed, and what it holds (see ``manifest``; never copied).
MANIFEST_COLLECTION = "__backup_manifest"

Entries = dict[str, dict[str, Any]]


class CatalogSide(Protocol):
    """What the catalog reads through: a database, and a block turning driver errors into one line
    naming the server (``endpoints.Side`` is one)."""

    @property
    def db(self) -> AsyncDatabase[Any]:
        """Return the database read."""
        ...

    def errors(self, doing: str) -> AbstractAsyncContextManager[None]:
        """Return a block turning driver errors raised inside it into AnalytiqErrors."""
        ...


def copied_namespace(name: str) -> bool:
    """Return whether a namespace holds user data to copy (not server internals nor our own state).

    ``system.views`` (views are recreated from their definitions), ``system.buckets.*`` (time-series
    data is copied through its namespace), ``system.profile`` and the like are skipped;
    ``system.js`` (stored functions) is data and is copied. A restore's mark and staged copies
    (``restore_mark``) are not data either.
    """
    if name in (STATE_COLLECTION, MANIFEST_COLLECTION) or is_restore_namespace(name):
        return False
    return not name.startswith("system.") or name == "system.js"


async def namespaces(
    db: AsyncDatabase[Any], *, everything: bool = False, keep: Callable[[str], bool] | None = None
) -> Entries:
    """Return the ``listCollections`` entries of ``db`` by name: the user's namespaces only.

    ``everything`` keeps server internals and our own state too (to tell whether a database is
    empty); ``keep`` narrows further (e.g. ``--include``/``--exclude``, or leaving out the lock).
    """
    out: Entries = {}
    async for info in await db.list_collections():
        name = str(info["name"])
        if (everything or copied_namespace(name)) and (keep is None or keep(name)):
            out[name] = dict(info)
    return out


def is_view(info: Mapping[str, Any]) -> bool:
    """Return whether a ``listCollections`` entry is a view (it holds no documents of its own)."""
    return info.get("type") == "view" or "viewOn" in (info.get("options") or {})


async def collection_documents(db: AsyncDatabase[Any], infos: Entries) -> dict[str, int]:
    """Return the estimated document count of each collection of ``infos`` (entries of ``db``), views left out.

    Estimated: the server's catalog count (metadata, no scan; after an unclean shutdown it may be off).
    """
    return {n: await db[n].estimated_document_count() for n, i in infos.items() if not is_view(i)}


async def database_documents(db: AsyncDatabase[Any], infos: Entries | None = None) -> int:
    """Return the sum of the estimated counts of the user's collections of ``db`` (views hold none).

    ``infos`` are its ``namespaces`` entries when the caller has read them already (read here
    otherwise). The counts are the catalog's (see ``collection_documents``): cheap, not exact.
    """
    found = await namespaces(db) if infos is None else infos
    return sum((await collection_documents(db, found)).values())


async def namespace(db: AsyncDatabase[Any], name: str) -> dict[str, Any] | None:
    """Return the ``listCollections`` entry of one collection or view (None if it does not exist)."""
    found = await (await db.list_collections(filter={"name": name})).to_list()
    return dict(found[0]) if found else None


async def indexes(db: AsyncDatabase[Any], name: str) -> list[dict[str, Any]]:
    """Return the indexes of collection ``name`` as the server lists them (``_id_`` included)."""
    return [dict(s) async for s in await db[name].list_indexes()]


async def collection_uuids(db: AsyncDatabase[Any]) -> set[bytes]:
    """Return the UUIDs of the collections of ``db`` (views have none on mongod)."""
    found: set[bytes] = set()
    for info in (await namespaces(db, everything=True)).values():
        uuid = (info.get("info") or {}).get("uuid")
        if uuid is not None:
            found.add(bytes(uuid.bytes if hasattr(uuid, "bytes") else uuid))
    return found


async def collection_infos(
    side: CatalogSide, *, everything: bool = False, keep: Callable[[str], bool] | None = None
) -> Entries:
    """Return the side's ``listCollections`` entries by name (the user's namespaces unless ``everything``)."""
    async with side.errors("listing collections"):
        return await namespaces(side.db, everything=everything, keep=keep)


async def collection_options(side: CatalogSide, name: str) -> dict[str, Any] | None:
    """Return the options of one collection or view on ``side`` (None if it does not exist)."""
    async with side.errors(f"reading the options of {name!r}"):
        found = await namespace(side.db, name)
    return dict(found.get("options") or {}) if found is not None else None


async def index_specs(side: CatalogSide, name: str) -> list[dict[str, Any]]:
    """Return the indexes of ``name`` on ``side`` as the server lists them."""
    async with side.errors(f"listing the indexes of {name!r}"):
        return await indexes(side.db, name)
