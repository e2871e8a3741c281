"""The record a finished backup leaves in its database: that it completed, whether it verified, what it holds.

``backup()`` writes it as the last step of a copy that did not fail verification, into the
collection ``__backup_manifest`` of the destination (one document, ``_id: "backup"``), before it
removes the resume state (``__backup_state``). So a database holding a manifest and no resume
state is a complete backup; one still holding resume state is an interrupted one, whatever else
it holds. The manifest keeps, per collection, the count, bytes and content hash of what was read
from the source (the digest the verification compared), so a restore can check that the backup
still holds exactly what was copied.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import WriteConcern
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.digest import Digest
from analytiq_data.backup.plan import MANIFEST_COLLECTION
from analytiq_data.backup.results import BackupResult, CollectionReport

MANIFEST_FORMAT = 1
_ID = "backup"
_DURABLE = WriteConcern(w="majority")


@dataclass(frozen=True)
class ManifestEntry:
    """One namespace of the backup: its kind and, for a collection, the digest of what was copied."""

    name: str
    kind: str
    digest: Digest | None = None


@dataclass(frozen=True)
class Manifest:
    """A complete backup: from where, when, whether verified, and its collections and views."""

    src_db: str
    source: str  # redacted URI
    completed_at: datetime.datetime
    verified: bool | None
    resumed: bool
    entries: tuple[ManifestEntry, ...]
    point_in_time: dict[str, Any] | None = None  # --consistent: T and how it was reached (PointInTime.to_dict)

    @property
    def documents(self) -> int:
        """Return the documents the backup holds, over all collections."""
        return sum(e.digest.count for e in self.entries if e.digest is not None)

    @classmethod
    def from_result(cls, result: BackupResult, completed_at: datetime.datetime | None = None) -> Manifest:
        """Return the manifest of a finished copy (its source digests, per collection)."""
        entries = tuple(ManifestEntry(r.name, r.kind, r.source or Digest()) for r in result.collections)
        entries += tuple(ManifestEntry(r.name, r.kind) for r in result.views)
        return cls(
            src_db=result.src_db,
            source=result.source,
            completed_at=completed_at or datetime.datetime.now(datetime.UTC),
            verified=result.verified,
            resumed=result.resumed,
            entries=entries,
            point_in_time=result.point_in_time.to_dict() if result.point_in_time else None,
        )

    def to_doc(self) -> dict[str, Any]:
        """Return the manifest as the document stored in the backup (hashes as hex, readable in a shell)."""
        return {
            "_id": _ID,
            "format": MANIFEST_FORMAT,
            "complete": True,
            "verified": self.verified,
            "src_db": self.src_db,
            "source": self.source,
            "completed_at": self.completed_at,
            "resumed": self.resumed,
            "documents": self.documents,
            "collections": [_entry_doc(e) for e in self.entries],
            **({"point_in_time": self.point_in_time} if self.point_in_time else {}),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Manifest:
        """Return the manifest stored by ``to_doc``."""
        entries = []
        for e in doc.get("collections") or []:
            digest = None
            if "count" in e:
                digest = Digest(int(e["count"]), int(e["bytes"]), int(str(e["hash"]), 16))
            entries.append(ManifestEntry(str(e["name"]), str(e["kind"]), digest))
        return cls(
            src_db=str(doc.get("src_db")),
            source=str(doc.get("source")),
            completed_at=doc.get("completed_at") or datetime.datetime.min,
            verified=doc.get("verified"),
            resumed=bool(doc.get("resumed")),
            entries=tuple(entries),
            point_in_time=doc.get("point_in_time"),
        )

    def differences(self, copied: Iterable[CollectionReport], *, selected: frozenset[str] | None = None) -> list[str]:
        """Return how a fresh read of the backup (``copied``: its collections' reports) differs from this record.

        Only the recorded collections named in ``selected`` count (all when None); views are not
        data and are left out.
        """
        recorded = {e.name: e.digest for e in self.entries if e.digest is not None}
        if selected is not None:
            recorded = {n: d for n, d in recorded.items() if n in selected}
        read = {r.name: r.source for r in copied if r.kind != "view"}
        out: list[str] = []
        for name in sorted(recorded.keys() | read.keys()):
            was, now = recorded.get(name), read.get(name)
            if was is None:
                out.append(f"{name}: not in the backup when it was made")
            elif now is None:
                out.append(f"{name}: recorded in the backup but missing now")
            elif was.count != now.count:
                out.append(f"{name}: {was.count:,} documents recorded, {now.count:,} now")
            elif was.total != now.total:
                out.append(f"{name}: document contents changed since the backup was made")
        return out


def _entry_doc(entry: ManifestEntry) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": entry.name, "kind": entry.kind}
    if entry.digest is not None:
        doc.update(count=entry.digest.count, bytes=entry.digest.nbytes, hash=entry.digest.hex)
    return doc


async def write_manifest(db: AsyncDatabase[Any], manifest: Manifest) -> None:
    """Record ``manifest`` in ``db`` (replacing any earlier one), majority-acknowledged."""
    coll = db.get_collection(MANIFEST_COLLECTION, write_concern=_DURABLE)
    await coll.replace_one({"_id": _ID}, manifest.to_doc(), upsert=True)


async def read_manifest(db: AsyncDatabase[Any]) -> Manifest | None:
    """Return the manifest recorded in ``db``, or None if this tool never finished a backup there."""
    doc = await db[MANIFEST_COLLECTION].find_one({"_id": _ID})
    return Manifest.from_doc(doc) if doc is not None and doc.get("complete") else None


async def remove_manifest(db: AsyncDatabase[Any]) -> None:
    """Remove the manifest of ``db`` (a copy is being made or resumed there: it is not complete)."""
    await db.drop_collection(MANIFEST_COLLECTION)
