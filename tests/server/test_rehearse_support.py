"""Helpers of the rehearse, up --backup and restore tests: the whole state of a database, byte for byte."""

from __future__ import annotations

from typing import Any

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)


def _local(spec: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(spec).items() if k != "ns"}


async def raw_state(
    db: AsyncDatabase[Any], *, identity: bool = True, skip: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """Return everything ``db`` holds: per collection its ``listCollections`` entry (options), its indexes,
    and every document's raw BSON bytes in ``_id`` order. With ``identity`` the collection UUIDs and
    namespaces count too (the same collections, untouched); without, states of two databases compare."""
    state: dict[str, dict[str, Any]] = {}
    async for info in await db.list_collections():
        name = str(info["name"])
        if name in skip:
            continue
        entry: dict[str, Any] = {"info": {k: v for k, v in info.items() if k != "info"}}
        if identity:
            entry["uuid"] = (info.get("info") or {}).get("uuid")
        elif "idIndex" in info:
            entry["info"]["idIndex"] = _local(info["idIndex"])
        if info.get("type") != "view":
            specs = [dict(spec) async for spec in await db[name].list_indexes()]
            entry["indexes"] = specs if identity else [_local(spec) for spec in specs]
            coll = db.get_collection(name, codec_options=RAW)
            entry["documents"] = [bytes(doc.raw) async for doc in coll.find({}).sort("_id", 1)]
        state[name] = entry
    return state


async def databases(db: AsyncDatabase[Any]) -> list[str]:
    """Return the databases on the server whose names start with ``db``'s name and an underscore."""
    return sorted(n for n in await db.client.list_database_names() if n.startswith(db.name + "_"))
