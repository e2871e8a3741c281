"""A realistic Analytiq database in its pre-migration shape (version 0), for tests, the demo and benchmarks.

``generate_sample(db, docs=N, seed=S)`` writes, for N uploaded documents: ``documents``; their OCR
results as real GridFS files in bucket ``ocr`` (``ocr.files`` named ``<document_id>_list`` with
their ``ocr.chunks``); about 1.1 N ``llm.runs``; N/4 ``schemas`` (fields lists of all five types);
N/10 ``prompts``. Edge cases are mixed in at fixed rates: documents already in the new shapes
(written by newer app code), missing optional fields, empty fields lists, several revisions of an
OCR file, a ``_json`` file next to a ``_list`` one, and names with ``_list`` inside
(``doc_listing_list``). The same seed gives the same database, ObjectIds included. Inserts go in
unordered batches of ``batch_size``, so memory stays flat from 10 to millions of documents.
"""

from __future__ import annotations

import json
import random
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import ConfigurationError, MigrationError
from analytiq_data.migrations.analytiq.shapes import fields_to_json_schema
from analytiq_data.progress import NULL_PROGRESS, Progress, compatible

BASE_TIME = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)
CHUNK_SIZE = 255 * 1024
ORGS = ("org_acme", "org_globex", "org_initech", "org_umbrella")
USERS = ("alice", "bob", "carol", "dave", "erin")
STATES = ("uploaded", "ocr_completed", "llm_completed", "llm_failed")
FIELD_TYPES = ("str", "int", "float", "bool", "datetime")
FIELD_NAMES = (
    "invoice_number", "invoice_date", "due_date", "total_amount", "tax_amount", "currency", "vendor_name",
    "vendor_address", "customer_id", "is_paid", "line_item_count", "price_list", "po_number", "discount_rate",
    "shipping_date", "is_recurring", "account_number", "iban", "payment_terms", "notes",
)  # fmt: skip
ODD_OCR_NAMES = (
    "doc_listing_list", "my_list_of_lists_list", "_list", "x_json_list",  # renamed (end in _list)
    "doc_listing", "report_list.bak", "checklist", "list", "summary_list_v2",  # left alone
)  # fmt: skip


@dataclass
class SampleSummary:
    """What ``generate_sample`` wrote: documents per collection."""

    seed: int
    docs: int
    counts: Counter[str] = field(default_factory=Counter)


def _oid(rng: random.Random, when: datetime) -> ObjectId:
    """Return an ObjectId with timestamp ``when`` and 8 bytes from ``rng`` (deterministic for a seed)."""
    return ObjectId(struct.pack(">I", int(when.timestamp())) + rng.randbytes(8))


def _ms(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


class _Writer:
    """Buffers documents per collection and inserts them in unordered batches."""

    def __init__(
        self, db: AsyncDatabase[Any], batch_size: int, summary: SampleSummary, progress: Progress = NULL_PROGRESS
    ) -> None:
        self.db, self.batch_size, self.summary, self.progress = db, batch_size, summary, progress
        self.buffers: dict[str, list[dict[str, Any]]] = {}

    async def add(self, collection: str, doc: dict[str, Any]) -> None:
        buffer = self.buffers.setdefault(collection, [])
        buffer.append(doc)
        if len(buffer) >= self.batch_size:
            await self.flush(collection)

    async def flush(self, collection: str | None = None) -> None:
        for name in [collection] if collection else list(self.buffers):
            buffer = self.buffers.get(name)
            if buffer:
                await self.db[name].insert_many(buffer, ordered=False)
                self.summary.counts[name] += len(buffer)
                self.progress.advance("sample", len(buffer))
                self.buffers[name] = []


async def generate_sample(
    db: AsyncDatabase[Any],
    docs: int = 1000,
    *,
    seed: int = 0,
    progress: Progress = NULL_PROGRESS,
    drop: bool = False,
    batch_size: int = 5000,
) -> SampleSummary:
    """Fill ``db`` with a version-0 Analytiq sample for ``docs`` uploaded documents; return the counts.

    Refuses (ConfigurationError) a database that already has collections unless ``drop`` is set,
    which drops the whole database first. Driver failures raise MigrationError.
    """
    if docs < 1:
        raise ConfigurationError(f"--docs must be at least 1, got {docs}", hint="e.g. --docs 1000")
    try:
        existing = [name for name in await db.list_collection_names() if not name.startswith("system.")]
        if existing and not drop:
            raise ConfigurationError(
                f"database {db.name!r} is not empty ({', '.join(sorted(existing)[:5])})",
                hint="give an empty database with --db, or --drop to replace its contents",
            )
        if drop:
            await db.client.drop_database(db.name)
        summary = SampleSummary(seed=seed, docs=docs)
        progress = compatible(progress)
        writer = _Writer(db, batch_size, summary, progress)
        # Counted as written (every collection), so the total is not known in advance: a count, no bar.
        progress.start("sample", None, unit="docs", label=f"writing the sample into {db.name}")
        await _write_schemas_and_prompts(writer, docs, seed)
        await _write_documents(writer, docs, seed)
        await writer.flush()
        await _create_indexes(db)
    except PyMongoError as exc:
        raise MigrationError(f"writing the sample into {db.name!r} failed: {exc}", hint="check the server") from exc
    progress.finish("sample", f"{sum(summary.counts.values()):,} documents in {len(summary.counts)} collections")
    return summary


def _schema_count(docs: int) -> int:
    return max(3, docs // 4)


def _prompt_count(docs: int) -> int:
    return max(2, docs // 10)


async def _create_indexes(db: AsyncDatabase[Any]) -> None:
    """Create the indexes the app (and GridFS) keep on these collections."""
    await db["ocr.files"].create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
    await db["ocr.chunks"].create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    await db["llm.runs"].create_index([("document_id", ASCENDING)])
    await db["schemas"].create_index([("name", ASCENDING), ("version", ASCENDING)])


def _fields(rng: random.Random) -> list[dict[str, Any]]:
    names = rng.sample(FIELD_NAMES, rng.randint(1, 9))
    fields = [{"name": name, "type": rng.choice(FIELD_TYPES)} for name in names]
    for kind in FIELD_TYPES:  # every type appears in the sample
        if rng.random() < 0.2:
            fields.append({"name": f"extra_{kind}_value", "type": kind})
    return fields


def _schema(rng: random.Random, i: int) -> dict[str, Any]:
    """Return schema number ``i``: mostly the old ``fields`` shape, some already newer, some sparse."""
    created = _ms(BASE_TIME + timedelta(hours=i * 3, seconds=rng.randint(0, 3599)))
    doc: dict[str, Any] = {"_id": _oid(rng, created), "name": f"{rng.choice(('Invoice', 'Receipt', 'Contract'))}_{i}"}
    roll = rng.random()
    fields = [] if roll < 0.04 else _fields(rng)
    if 0.04 <= roll < 0.09:  # written by app version 3
        doc.update(schema_format="json_schema", json_schema=fields_to_json_schema(fields))
    elif 0.09 <= roll < 0.12:  # written by app version 4
        doc.update(schema_format="json_schema", response_format=fields_to_json_schema(fields))
    else:
        doc["fields"] = fields
    doc.update(version=rng.randint(1, 4), created_at=created, created_by=rng.choice(USERS))
    doc["organization_id"] = rng.choice(ORGS)
    if rng.random() < 0.05:  # missing optional fields
        for key in ("created_by", "organization_id", "version"):
            doc.pop(key, None)
    return doc


async def _write_schemas_and_prompts(writer: _Writer, docs: int, seed: int) -> None:
    rng = random.Random(f"{seed}:schemas")
    names: list[str] = []
    for i in range(_schema_count(docs)):
        schema = _schema(rng, i)
        names.append(schema["name"])
        await writer.add("schemas", schema)
    for i in range(_prompt_count(docs)):
        created = _ms(BASE_TIME + timedelta(hours=i * 5, seconds=rng.randint(0, 3599)))
        prompt: dict[str, Any] = {
            "_id": _oid(rng, created),
            "name": f"extract_{i}",
            "content": f"Extract the fields of this document (prompt {i}).",
            "schema_name": rng.choice(names),
            "version": rng.randint(1, 3),
            "created_at": created,
            "created_by": rng.choice(USERS),
            "tag_ids": [f"tag_{rng.randint(1, 20)}" for _ in range(rng.randint(0, 3))],
            "organization_id": rng.choice(ORGS),
        }
        await writer.add("prompts", prompt)


def _ocr_payload(rng: random.Random, document_id: str) -> bytes:
    blocks = [
        {
            "BlockType": rng.choice(("LINE", "WORD", "KEY_VALUE_SET")),
            "Text": f"{rng.choice(FIELD_NAMES)} {rng.randint(0, 99999)}",
            "Page": rng.randint(1, 3),
            "Confidence": round(rng.uniform(80, 100), 3),
        }
        for _ in range(rng.randint(3, 12))
    ]
    return json.dumps({"document_id": document_id, "blocks": blocks}).encode()


def _ocr_file(rng: random.Random, name: str, document_id: str, when: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield the ``ocr.files`` document and its single ``ocr.chunks`` chunk for one OCR result."""
    data = _ocr_payload(rng, document_id)
    file_id = _oid(rng, when)
    file: dict[str, Any] = {"_id": file_id, "filename": name, "chunkSize": CHUNK_SIZE, "length": len(data)}
    file["uploadDate"] = _ms(when)
    if rng.random() < 0.9:  # some files have no metadata
        file["metadata"] = {"document_id": document_id, "content_type": "application/json"}
    yield "ocr.files", file
    yield "ocr.chunks", {"_id": _oid(rng, when), "files_id": file_id, "n": 0, "data": Binary(data)}


def _ocr_files(rng: random.Random, document_id: str, when: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield the OCR files of one document: usually ``<id>_list``; sometimes none, newer, or several."""
    roll = rng.random()
    later = when + timedelta(minutes=rng.randint(1, 600))
    if roll < 0.02:  # not OCRed yet
        return
    if roll < 0.04:  # OCRed by newer app code
        yield from _ocr_file(rng, f"{document_id}_json", document_id, later)
        return
    yield from _ocr_file(rng, f"{document_id}_list", document_id, when + timedelta(seconds=30))
    if roll < 0.05:  # a _json written next to the _list one: up must not duplicate it
        yield from _ocr_file(rng, f"{document_id}_json", document_id, later)
    elif roll < 0.06:  # a second revision of the same _list name
        yield from _ocr_file(rng, f"{document_id}_list", document_id, later)


def _llm_value(rng: random.Random, i: int) -> Any:
    kind = i % 10
    values: tuple[Any, ...] = (
        f"value {rng.randint(0, 10**6)}",
        rng.randint(-1000, 1000),
        Int64(rng.randint(2**33, 2**40)),
        round(rng.uniform(0, 10000), 2),
        rng.random() < 0.5,
        None,
        _ms(BASE_TIME + timedelta(days=rng.randint(0, 900))),
        {"amount": Decimal128(f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"), "currency": "EUR"},
        [rng.randint(0, 9) for _ in range(rng.randint(0, 4))],
        {"nested": {"a": rng.randint(0, 9), "b": [f"x{rng.randint(0, 9)}"]}},
    )
    return values[kind]


def _llm_run(rng: random.Random, document_id: str, prompt: str, when: datetime) -> dict[str, Any]:
    """Return one ``llm.runs`` document: mostly the old shape, some newer or partial, a few without a result."""
    run: dict[str, Any] = {"_id": _oid(rng, when), "prompt_id": prompt, "document_id": document_id}
    names = rng.sample(FIELD_NAMES, rng.randint(2, 8))
    result = {name: _llm_value(rng, rng.randint(0, 9)) for name in names}
    roll = rng.random()
    if roll >= 0.01:  # 1%: no llm_result (the run failed)
        run["llm_result"] = result
    if 0.01 <= roll < 0.04:  # written by the new app: all five fields, sometimes edited
        edited = rng.random() < 0.5
        run.update(
            updated_llm_result={**result, names[0]: "corrected by a user"} if edited else result,
            is_edited=edited,
            is_verified=rng.random() < 0.3,
            created_at=_ms(when),
            updated_at=_ms(when + timedelta(hours=1 if edited else 0)),
        )
    elif 0.04 <= roll < 0.06:  # partial: one of the fields already there
        key = rng.choice(("is_verified", "created_at", "is_edited"))
        run[key] = _ms(when) if key == "created_at" else rng.random() < 0.5
    return run


async def _write_documents(writer: _Writer, docs: int, seed: int) -> None:
    rng = random.Random(f"{seed}:documents")
    prompts = ["default", *(f"extract_{i}" for i in range(_prompt_count(docs)))]
    for i in range(docs):
        uploaded = _ms(BASE_TIME + timedelta(seconds=i * 37 + rng.randint(0, 30)))
        doc_id = _oid(rng, uploaded)
        document: dict[str, Any] = {
            "_id": doc_id,
            "user_file_name": f"{rng.choice(('invoice', 'receipt', 'contract'))}_{i}.pdf",
            "mongo_file_name": f"{doc_id}.pdf",
            "upload_date": uploaded,
            "uploaded_by": rng.choice(USERS),
            "state": rng.choice(STATES),
            "organization_id": rng.choice(ORGS),
        }
        if rng.random() < 0.95:
            document["tag_ids"] = [f"tag_{rng.randint(1, 20)}" for _ in range(rng.randint(0, 3))]
        await writer.add("documents", document)
        for collection, item in _ocr_files(rng, str(doc_id), uploaded):
            await writer.add(collection, item)
        for k in range(2 if rng.random() < 0.1 else 1):
            ran = uploaded + timedelta(minutes=2 + k * 90)
            await writer.add("llm.runs", _llm_run(rng, str(doc_id), rng.choice(prompts), ran))
    odd_rng = random.Random(f"{seed}:odd")
    for n, name in enumerate(ODD_OCR_NAMES if docs >= 10 else ()):
        for collection, item in _ocr_file(odd_rng, name, f"odd_{n}", BASE_TIME + timedelta(days=n)):
            await writer.add(collection, item)
