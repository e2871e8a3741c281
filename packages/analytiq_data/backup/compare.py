"""Checking a copy: counts and content hashes over raw bytes, indexes and options, per namespace.

The destination is read back in full and hashed the same way the source was hashed while it was
read (``digest``), so a difference in any byte of any document shows. Index lists and collection
options are compared as the servers report them (``listIndexes``, ``listCollections``), ignoring
only what necessarily differs between two servers (``ns``, UUIDs). The comparison functions are
pure and tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection

from analytiq_data.backup.batches import Turnstile, raw_batches
from analytiq_data.backup.catalog import collection_options, index_specs
from analytiq_data.backup.ddl import is_id_index
from analytiq_data.backup.digest import Digest, digest_documents
from analytiq_data.backup.endpoints import Side

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)

#: Index fields that say nothing about what the index holds: the server's own namespace, and the
#: index version (the server's choice: mongorestore and a restore build the server's default).
_INDEX_IGNORED = frozenset({"ns", "v"})


def normalize(value: Any) -> Any:
    """Return ``value`` with mappings made order-insensitive (plain dicts) and lists kept in order."""
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    return value


def normalize_index(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return an index spec for comparison: the key keeps its field order, other options do not.

    The ``_id`` index's collation is the collection's default collation, compared with the options:
    mongod lists it on the index too, SecantusDB does not (and a dump's may or may not).
    """
    ignored = _INDEX_IGNORED | ({"collation"} if is_id_index(spec) else set())
    out = {k: normalize(v) for k, v in spec.items() if k not in ignored}
    out["key"] = [(str(k), normalize(v)) for k, v in (spec.get("key") or {}).items()]
    return out


def index_differences(
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    *,
    words: tuple[str, str, str] = ("is missing on the destination", "exists only on the destination", "differs in"),
) -> list[str]:
    """Return how two sets of normalized indexes by name differ, one line per index, in name order.

    ``words`` say what an index only in ``old``, only in ``new``, or in both with other options is.
    """
    gone, extra, changed = words
    out: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            out.append(f"index {name!r} {gone}")
        elif name not in old:
            out.append(f"index {name!r} {extra}")
        elif old[name] != new[name]:
            keys = sorted(k for k in old[name].keys() | new[name].keys() if old[name].get(k) != new[name].get(k))
            out.append(f"index {name!r} {changed} {', '.join(keys)}")
    return out


def compare_indexes(source: Iterable[Mapping[str, Any]], destination: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the differences between two index lists (missing, extra, or with other options)."""
    src = {str(s.get("name")): normalize_index(s) for s in source}
    dst = {str(s.get("name")): normalize_index(s) for s in destination}
    return index_differences(src, dst)


def compare_options(source: Mapping[str, Any], destination: Mapping[str, Any]) -> list[str]:
    """Return the differences between two collections' (or views') ``listCollections`` options."""
    src, dst = normalize(dict(source)), normalize(dict(destination))
    keys = sorted(k for k in src.keys() | dst.keys() if src.get(k) != dst.get(k))
    return [f"option {k!r} differs (source {src.get(k)!r}, destination {dst.get(k)!r})" for k in keys]


def compare_digests(source: Digest, destination: Digest) -> list[str]:
    """Return the differences between the documents read from the source and those in the destination."""
    if source.count != destination.count:
        return [f"{source.count:,} documents in the source, {destination.count:,} in the destination"]
    if source.total != destination.total:
        return [f"document contents differ (hash {source.hex} vs {destination.hex})"]
    return []


async def digest_collection(
    coll: AsyncCollection[Any], *, batch_size: int, gate: Turnstile | None = None, priority: int = 0
) -> Digest:
    """Read every document of ``coll`` as raw bytes and return their digest."""
    digest = Digest()
    raw = coll.with_options(codec_options=RAW)
    async for docs in raw_batches(raw, {}, batch_size=batch_size, gate=gate, priority=priority):
        digest += digest_documents(docs)
    return digest


async def check_definition(src: Side, dst: Side, name: str, *, indexes: bool, dest: str | None = None) -> list[str]:
    """Return differences in the options (and, for collections, the indexes) of ``name`` on both sides
    (called ``dest`` on the destination, if given)."""
    dest = dest or name
    src_opts, dst_opts = await collection_options(src, name), await collection_options(dst, dest)
    if src_opts is None:
        return ["no longer exists in the source"]
    if dst_opts is None:
        return ["missing on the destination"]
    out = compare_options(src_opts, dst_opts)
    if indexes:
        out += compare_indexes(await index_specs(src, name), await index_specs(dst, dest))
    return out
