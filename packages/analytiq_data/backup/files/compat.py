"""What dumps of other mongodump versions and other tools say differently, and what a restore assumes.

Restore accepts what mongorestore accepts, and says what it assumed. A namespace's metadata, as
read from any dump, becomes the metadata restore builds and then checks (``for_restore``):

* no metadata at all (a ``.bson`` without ``.metadata.json``, an empty metadata file, an archive
  prelude without metadata): default options and the ``_id`` index, as mongorestore;
* no ``_id_`` in the indexes (older tools, hand-made dumps): the ``_id`` index is implicit — the
  server builds it with the collection — so it is expected as such;
* ``v`` (index version 1 or 2): left out, the server builds its default version, as mongorestore
  does without ``--keepIndexVersion`` (comparisons ignore index versions: ``compare``); ``ns``
  (servers before 4.4): names the old namespace, left out;
* index options no current server knows (``safe``, ``dropDups`` of 2.x/3.x dumps): left out, as
  mongorestore's ``ignoreUnknownIndexOptions`` has the server do;
* ``autoIndexId`` (3.x collection options): left out — servers since 4.0 always build the ``_id``
  index and 8.2 refuses the option; mongorestore rewrites or drops it too;
* no ``uuid``, ``collectionName`` or ``type`` (before 3.6, 4.2 and 100.x): nothing to assume (the
  name comes from the file, the type from ``viewOn``).

Everything here is pure (no I/O) and tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from bson.son import SON

from analytiq_data.backup.ddl import is_id_index
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.text import first_few

#: Index fields servers have known since 3.4 (mongod's index descriptor, plus later options).
KNOWN_INDEX_FIELDS = frozenset(
    {
        "v", "key", "name", "ns", "unique", "sparse", "partialFilterExpression", "expireAfterSeconds",
        "collation", "hidden", "storageEngine", "background", "clustered", "prepareUnique",
        "weights", "default_language", "language_override", "textIndexVersion", "2dsphereIndexVersion",
        "bits", "min", "max", "bucketSize", "coarsestIndexedLevel", "finestIndexedLevel",
        "wildcardProjection", "columnstoreProjection", "columnstoreCompressor",
    }
)  # fmt: skip
#: Index fields left out of what is built and compared: the version (the server's default) and
#: the namespace of the dumped server.
DROPPED_INDEX_FIELDS = frozenset({"v", "ns"})


def for_restore(meta: Metadata) -> Metadata:
    """Return the metadata restore builds and checks for ``meta``, what it assumed in its ``assumed``."""
    if meta.is_view:
        return meta
    assumed: list[str] = []
    if meta.missing:
        assumed.append(f"{meta.missing}; restored with default options and the _id index")
    options = dict(meta.options)
    if "autoIndexId" in options:
        value = options.pop("autoIndexId")
        if value is False:
            assumed.append("autoIndexId: false ignored (servers since 4.0 always build the _id index)")
    indexes, notes = _indexes(meta.indexes)
    assumed += notes
    if not any(is_id_index(s) for s in meta.indexes) and "clusteredIndex" not in options:
        indexes.insert(0, SON([("key", SON([("_id", 1)])), ("name", "_id_")]))
        if not meta.missing:
            assumed.append("no _id index listed; the server builds it")
    kept = SON(options) if isinstance(meta.options, SON) else options
    return replace(meta, options=kept, indexes=tuple(indexes), assumed=tuple(assumed))


def _indexes(specs: Sequence[Mapping[str, Any]]) -> tuple[list[SON[str, Any]], list[str]]:
    """Return the index specs to build (version and namespace left out, unknown options dropped) and notes."""
    out: list[SON[str, Any]] = []
    notes: list[str] = []
    if any(_version(s) == 1 for s in specs):
        notes.append("indexes of version 1 rebuilt at the server's default version")
    for spec in specs:
        unknown = [k for k in spec if k not in KNOWN_INDEX_FIELDS]
        if unknown:
            notes.append(f"index {spec.get('name')!r}: unknown option {_names(unknown)} left out")
        out.append(SON((k, v) for k, v in spec.items() if k in KNOWN_INDEX_FIELDS and k not in DROPPED_INDEX_FIELDS))
    return out, notes


def _version(spec: Mapping[str, Any]) -> int | None:
    value = spec.get("v")
    return int(value) if isinstance(value, int | float) else None


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def assumption_lines(metas: Iterable[Metadata]) -> list[str]:
    """Return one line per distinct set of assumptions (``for_restore``), naming the namespaces it applies to.

    A namespace ``prod.users`` read without metadata gives ``prod.users: no metadata file; restored
    with default options and the _id index``; namespaces with the same assumptions share a line (the
    first five named, then how many more).
    """
    groups: dict[str, list[str]] = {}
    for meta in sorted(metas, key=lambda m: m.namespace):
        if meta.assumed:
            groups.setdefault("; ".join(meta.assumed), []).append(meta.namespace)
    lines = []
    for text, namespaces in groups.items():
        lines.append(f"{first_few(namespaces, 5, ', ')}: {text}")
    return lines
