"""A collection's metadata as mongodump writes it, and the names of its files.

``<collection>.metadata.json`` (and the ``metadata`` string of an archive's prelude) is canonical
Extended JSON v2, compact, with the keys in mongodump's order: ``options`` (only when not empty),
``indexes`` (as ``listIndexes`` returns them, ``_id_`` included), ``uuid`` (32 hex digits, no
dashes), ``collectionName``, ``type`` (``collection``, ``view`` or ``timeseries``). A view has no
documents; its ``viewOn``/``pipeline`` are in ``options``.

File names: mongodump percent-encodes a collection name as Go's ``url.QueryEscape`` does (space
becomes ``+``, ``/`` becomes ``%2F``); a name whose file would be too long is cut and given a
hash suffix, and the real name is read from the metadata's ``collectionName``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus
from uuid import UUID

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, JSONOptions
from bson.son import SON

#: How a file-name-safe collection name may be at most (mongo-tools keeps names under 255 bytes with room for suffixes).
MAX_FILE_STEM = 238
#: Reading metadata back: keep key order (index keys are ordered), decode Extended JSON exactly.
_READ_OPTIONS: JSONOptions = CANONICAL_JSON_OPTIONS.with_options(document_class=SON)


class MetadataError(ValueError):
    """A metadata text that is not mongodump's metadata JSON."""


@dataclass(frozen=True)
class Metadata:
    """One namespace of a dump: database, collection, type, options, indexes and UUID (hex, may be empty).

    ``missing`` says why a namespace read from a dump has no metadata (e.g. "no metadata file"; empty
    when it has): restore then assumes default options and the ``_id`` index. ``assumed`` lists what
    a restore assumed to read it (``compat.for_restore``). Neither is written to a dump.
    """

    db: str
    collection: str
    type: str = "collection"
    options: Mapping[str, Any] = field(default_factory=dict)
    indexes: tuple[Mapping[str, Any], ...] = ()
    uuid: str = ""
    missing: str = ""
    assumed: tuple[str, ...] = ()

    @property
    def is_view(self) -> bool:
        """Return whether this namespace is a view (no documents; defined by its options)."""
        return self.type == "view" or "viewOn" in self.options

    @property
    def namespace(self) -> str:
        """Return ``db.collection``."""
        return f"{self.db}.{self.collection}"

    def to_json(self) -> str:
        """Return the metadata JSON text mongodump writes for this namespace."""
        doc: SON[str, Any] = SON()
        if self.options:
            doc["options"] = SON(self.options)
        doc["indexes"] = [SON(spec) for spec in self.indexes]
        doc["uuid"] = self.uuid
        doc["collectionName"] = self.collection
        doc["type"] = self.type
        return json_util.dumps(doc, json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, db: str, text: str | bytes, collection: str | None = None) -> Metadata:
        """Return the metadata parsed from mongodump's JSON (``collection`` when the text lacks the name)."""
        try:
            raw = json_util.loads(text, json_options=_READ_OPTIONS)
        except (ValueError, TypeError) as exc:
            raise MetadataError(f"metadata is not Extended JSON: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise MetadataError("metadata is not a JSON object")
        name = raw.get("collectionName") or collection
        if not isinstance(name, str) or not name:
            raise MetadataError("metadata names no collection")
        options = raw.get("options") or {}
        indexes = raw.get("indexes") or []
        if not isinstance(options, Mapping) or not isinstance(indexes, list):
            raise MetadataError(f"metadata of {name!r} has malformed options or indexes")
        kind = raw.get("type") or ("view" if "viewOn" in options else "collection")
        return cls(db, name, str(kind), options, tuple(indexes), str(raw.get("uuid") or ""))


def uuid_hex(info: Mapping[str, Any]) -> str:
    """Return the UUID of a ``listCollections`` entry as mongodump writes it (32 hex digits; "" if none)."""
    value = (info.get("info") or {}).get("uuid")
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, bytes):  # a bson Binary (subtype 4) when no UUID representation is set
        return value.hex()
    return ""


def escape_name(name: str) -> str:
    """Return a collection name as a file-name stem, as mongodump does (query-escaped; long names hashed)."""
    escaped = quote_plus(name, safe="-_.~")
    if len(escaped.encode()) <= MAX_FILE_STEM:
        return escaped
    digest = hashlib.sha1(name.encode()).hexdigest()
    return f"{escaped[: MAX_FILE_STEM - 43]}%24{digest}"


def prelude_json(server_version: str, tool_version: str) -> str:
    """Return the ``prelude.json`` text of a directory dump."""
    return json.dumps({"ServerVersion": server_version, "ToolVersion": tool_version}, separators=(",", ":"))
