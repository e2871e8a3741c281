"""Copies of a database state and what differs between two of them.

A *snapshot* is a copy made with the backup engine into a scratch database on the same server
(documents byte for byte, indexes, options, views). ``compare`` then reads both databases once:
per collection, a dict of ``_id`` → 16-byte canonical digest of the earlier state, checked against
a scan of the later one (memory: about 100 bytes per document; disk: one copy per snapshot). The
first differing document (in ``_id`` order) is fetched from both sides and explained field by field.

The migration engine's own bookkeeping is not part of the state compared: the version document and
history, the lock, the batch helper's checkpoints and the undo journals (``migration_undo.*``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from analytiq_data.backup import BackupOptions, BackupResult, backup, catalog
from analytiq_data.backup.catalog import namespaces
from analytiq_data.backup.compare import index_differences, normalize, normalize_index
from analytiq_data.backup.plan import kind_of
from analytiq_data.migrations.analytiq.journal import JOURNAL_PREFIX
from analytiq_data.migrations.batch import CHECKPOINTS
from analytiq_data.migrations.engine.lock import LOCK_COLLECTION
from analytiq_data.migrations.engine.state import HISTORY_COLLECTION, VERSION_COLLECTION
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.safety.docdiff import FieldChange, canonical_digest, decode_value, field_changes, id_key, show_id
from analytiq_data.safety.docdiff import split_batch as _split

BOOKKEEPING = (VERSION_COLLECTION, HISTORY_COLLECTION, LOCK_COLLECTION, CHECKPOINTS, JOURNAL_PREFIX + "*")
EMPTY_DOCUMENT = b"\x05\x00\x00\x00\x00"
BATCH_SIZE = 1000


def is_bookkeeping(name: str) -> bool:
    """Return whether ``name`` is the engine's own bookkeeping rather than the application's data."""
    return name in BOOKKEEPING[:-1] or name.startswith(JOURNAL_PREFIX)


async def copy_database(
    client: AsyncMongoClient[Any],
    uri: str,
    src: str,
    dest: str,
    *,
    exclude: tuple[str, ...],
    timeout_s: float,
    progress: Progress = NULL_PROGRESS,
) -> BackupResult | None:
    """Replace ``dest`` with a verified copy of ``src`` (same server) made by the backup engine.

    Collections matching ``exclude`` (names or globs) are left out. When nothing is left to copy,
    ``dest`` is dropped and None returned. A copy that does not verify raises VerificationError.
    """
    options = BackupOptions(
        src_uri=uri, src_db=src, dest_db=dest, drop=True, exclude=exclude, timeout_s=timeout_s, verify=True
    )
    names = list(await namespaces(client[src], keep=options.selects))
    if not names:
        await client.drop_database(dest)
        return None
    return await backup(options, progress)


@dataclass(frozen=True)
class Difference:
    """The first difference found: where, what, and for a document its changed fields."""

    collection: str
    summary: str  # "document changed", "document added", "document removed", "collection removed", ...
    doc_id: str | None = None
    changes: tuple[FieldChange, ...] = ()

    def lines(self) -> list[str]:
        """Return the difference as lines for a person: a heading, then one line per field."""
        head = f"{self.collection}: {self.summary}" + (f", _id {self.doc_id}" if self.doc_id else "")
        return [head, *(f"  {change.line()}" for change in self.changes)]

    def to_json(self) -> dict[str, Any]:
        """Return the difference as plain data."""
        return {
            "collection": self.collection,
            "summary": self.summary,
            "_id": self.doc_id,
            "fields": [{"path": c.path, "before": c.before, "after": c.after} for c in self.changes],
        }


@dataclass
class Comparison:
    """How a later state of a database differs from an earlier one."""

    changed: int = 0
    added: int = 0
    removed: int = 0
    notes: list[Difference] = field(default_factory=list)  # collections, options and indexes that differ
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # per collection
    first_document: Difference | None = None  # the first differing document, explained

    @property
    def first(self) -> Difference | None:
        """Return the difference to show a person: the first differing document, else the first other one."""
        return self.first_document or (self.notes[0] if self.notes else None)

    @property
    def documents(self) -> int:
        """Return how many documents differ (changed, added or removed)."""
        return self.changed + self.added + self.removed

    @property
    def same(self) -> bool:
        """Return whether nothing differs."""
        return not self.notes and self.documents == 0

    def summary(self) -> str:
        """Return one line: what differs, per collection."""
        parts = [f"{d.collection}: {d.summary}" for d in self.notes]
        for name, (changed, added, removed) in sorted(self.counts.items()):
            pairs = ((changed, "changed"), (added, "added"), (removed, "removed"))
            what = [f"{n} document{'s' if n != 1 else ''} {verb}" for n, verb in pairs if n]
            parts.append(f"{name}: {', '.join(what)}")
        return "; ".join(parts) if parts else "no difference"


async def _infos(db: AsyncDatabase[Any], ignore: Callable[[str], bool]) -> dict[str, dict[str, Any]]:
    return await namespaces(db, keep=lambda name: not ignore(name))


async def compare(
    before: AsyncDatabase[Any], after: AsyncDatabase[Any], *, ignore: Callable[[str], bool] = is_bookkeeping
) -> Comparison:
    """Return how database ``after`` differs from ``before``: collections, options, indexes, documents.

    Reads both databases in full and writes nothing. Collections for which ``ignore(name)`` is
    true are skipped (by default the engine's bookkeeping).
    """
    result = Comparison()
    old, new = await _infos(before, ignore), await _infos(after, ignore)
    for name in sorted(old.keys() | new.keys()):
        if name not in new or name not in old:
            gone = name not in new
            count = await _count(before if gone else after, name, old.get(name) or new[name])
            result.notes.append(
                Difference(name, f"{'collection removed' if gone else 'collection added'} ({count} documents)")
            )
            continue
        for line in definition_changes(old[name], new[name]):
            result.notes.append(Difference(name, line))
        if kind_of(old[name]).value == "view" or kind_of(new[name]).value == "view":
            continue
        for line in index_changes(await indexes(before[name]), await indexes(after[name])):
            result.notes.append(Difference(name, line))
        await _compare_documents(before[name], after[name], result)
    return result


async def _count(db: AsyncDatabase[Any], name: str, info: Mapping[str, Any]) -> int:
    if kind_of(info).value == "view":
        return 0
    return int(await db[name].count_documents({}))


def definition_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Return how two ``listCollections`` entries differ: kind, then each option (UUIDs aside)."""
    if kind_of(old) is not kind_of(new):
        return [f"was a {kind_of(old).value}, is a {kind_of(new).value}"]
    a, b = normalize(dict(old.get("options") or {})), normalize(dict(new.get("options") or {}))
    return [
        f"option {k!r} changed: {a.get(k)!r} → {b.get(k)!r}"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]


async def indexes(coll: AsyncCollection[Any]) -> dict[str, dict[str, Any]]:
    """Return the indexes of ``coll`` by name, normalized for comparison."""
    return {str(spec.get("name")): normalize_index(spec) for spec in await catalog.indexes(coll.database, coll.name)}


def index_changes(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Return the indexes removed, added or changed between two ``indexes()`` results."""
    return index_differences(old, new, words=("removed", "added", "changed:"))


async def _raw_documents(coll: AsyncCollection[Any]) -> AsyncIterator[bytes]:
    """Yield the raw documents of ``coll`` in ``_id`` order (stored order if it cannot be sorted)."""
    try:
        async for batch in coll.find_raw_batches({}, sort=[("_id", 1)], batch_size=BATCH_SIZE):
            for doc in _split(cast(bytes, batch)):
                yield doc
    except OperationFailure:  # e.g. a collection whose documents have no _id to sort on
        async for batch in coll.find_raw_batches({}, batch_size=BATCH_SIZE):
            for doc in _split(cast(bytes, batch)):
                yield doc


def _key(document: bytes, digest: bytes) -> bytes:
    return id_key(document) or b"\x00" + digest


async def _compare_documents(before: AsyncCollection[Any], after: AsyncCollection[Any], result: Comparison) -> None:
    """Count changed, added and removed documents of one collection; explain the first if none was yet."""
    earlier: dict[bytes, bytes] = {}
    async for doc in _raw_documents(before):
        digest = canonical_digest(doc)
        earlier[_key(doc, digest)] = digest
    changed = added = 0
    first: tuple[str, bytes, bytes | None] | None = None
    async for doc in _raw_documents(after):
        digest = canonical_digest(doc)
        key = _key(doc, digest)
        old = earlier.pop(key, None)
        if old == digest:
            continue
        if old is None:
            added += 1
        else:
            changed += 1
        if first is None:
            first = ("document added" if old is None else "document changed", key, doc)
    removed = len(earlier)
    if first is None and earlier:
        first = ("document removed", next(iter(earlier)), None)
    if changed or added or removed:
        result.counts[before.name] = (changed, added, removed)
        result.changed, result.added, result.removed = (
            result.changed + changed,
            result.added + added,
            result.removed + removed,
        )
    if first is not None and result.first_document is None:
        summary, key, later = first
        earlier_doc = await _fetch(before, key) if summary != "document added" else None
        old_raw, new_raw = earlier_doc or EMPTY_DOCUMENT, later or EMPTY_DOCUMENT
        changes = tuple(field_changes(old_raw, new_raw))
        result.first_document = Difference(before.name, summary, show_id(key if key[:1] != b"\x00" else b""), changes)


async def _fetch(coll: AsyncCollection[Any], key: bytes) -> bytes | None:
    """Return the raw document whose ``_id`` element is ``key`` (None for documents without ``_id``)."""
    if not key or key[:1] == b"\x00":
        return None
    raw = coll.with_options(codec_options=coll.codec_options.with_options(document_class=RawBSONDocument))
    doc = await raw.find_one({"_id": decode_value(key[0], key[1:])})
    return bytes(doc.raw) if doc is not None else None
