"""Analytiq's migrations, in order: version N is the N-th entry of ``MIGRATIONS``.

One class per change. Append new migrations at the end (``analytiq-db new "description"`` does);
never insert or reorder: versions are positions.

The four below are data migrations built on the batch helper (``migrations/batch.py``): ``up``
walks the collection in ``_id`` order, rewriting only documents in the old shape (documents
already in the new shape, written by newer app code or by an earlier half-finished run, are not
touched), one bulk write per batch, resumable after a kill. Before changing a document, ``up``
records what it changes in ``migration_undo.<ClassName>`` (a side collection the app never reads);
``down`` reverts exactly those documents, and only while they are still as ``up`` left them, so
anything the app wrote after the upgrade survives a downgrade.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pymongo import UpdateMany, UpdateOne

from analytiq_data.migrations.analytiq.journal import JournaledMigration, RunContext, still
from analytiq_data.migrations.analytiq.shapes import (
    LLM_NEW_FIELDS,
    LLM_RUNS,
    OCR_FILES,
    SCHEMA_FORMAT,
    SCHEMAS,
    fields_to_json_schema,
    llm_fields_to_add,
    ocr_json_name,
    run_created_at,
)
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.batch import Change

logger = logging.getLogger(__name__)


class OcrKeyMigration(JournaledMigration):
    """Rename OCR files from <document_id>_list to <document_id>_json (GridFS bucket ocr).

    up: each file of ``ocr.files`` whose name ends with ``_list`` gets ``_json`` instead (only
    that final suffix; ``doc_listing_list`` becomes ``doc_listing_json``); chunks are untouched.
    Several revisions of one ``_list`` name are renamed together, so they stay revisions of one
    name. If a ``<document_id>_json`` file already exists that ``up`` did not make (newer app code
    wrote it), the document's ``_list`` file(s) are left as they are: no duplicate is created, the
    app keeps reading the newer ``_json`` file, and the log counts them.
    down: renames back the files ``up`` renamed that still carry the name ``up`` gave them. Files
    the app wrote, renamed or deleted after the upgrade are left alone.

    OCR files are written once and never renamed by the app, so the rename filters on ``_id``
    alone (an extra condition on the name costs half as much again on some servers).
    """

    collection_name = OCR_FILES
    old_shape: ClassVar[Mapping[str, Any]] = {"filename": {"$regex": "_list$"}}
    projection: ClassVar[Mapping[str, Any]] = {"filename": 1}
    batch_size = 5000

    async def begin(self, ctx: RunContext) -> None:
        """Find the ``_list`` names held by several files (revisions), and whether an earlier run left records."""
        pipeline: list[dict[str, Any]] = [
            {"$match": self.old_shape},
            {"$group": {"_id": "$filename", "ids": {"$push": "$_id"}, "n": {"$sum": 1}}},
            {"$match": {"n": {"$gt": 1}}},
        ]
        groups = await (await ctx.db[OCR_FILES].aggregate(pipeline, allowDiskUse=True)).to_list()
        ctx.state = {"revisions": {g["_id"]: g["ids"] for g in groups}, "earlier": await ctx.journal.has_records()}

    async def prepare(self, docs: Sequence[dict[str, Any]], ctx: RunContext) -> None:
        """Find which of the batch's new names are taken by a ``_json`` file that up did not rename."""
        ctx.batch = set()
        targets = sorted({name for doc in docs if (name := ocr_json_name(doc.get("filename")))})
        taken = await ctx.db[OCR_FILES].find({"filename": {"$in": targets}}, {"filename": 1}).to_list()
        in_batch = {doc["_id"] for doc in docs}
        # A file of this batch already named _json was renamed with its revisions earlier in this pass.
        others = [file for file in taken if file["_id"] not in in_batch]
        if others and ctx.state["earlier"]:
            ours = await ctx.journal.recorded_ids([file["_id"] for file in others], before=ctx.started_at)
            others = [file for file in others if file["_id"] not in ours]
        ctx.batch = {file["filename"] for file in others}

    def plan(self, doc: dict[str, Any], ctx: RunContext) -> Change | None:
        old = doc.get("filename")
        new = ocr_json_name(old)
        if new is None:
            return None
        if new in ctx.batch:
            ctx.counts["left as _list: a _json file already exists"] += 1
            return None
        revisions = ctx.state["revisions"].get(old)
        if revisions:
            rename_all = UpdateMany({"_id": {"$in": revisions}, "filename": old}, {"$set": {"filename": new}})
            return Change(rename_all, {"from": old, "ids": revisions})
        return Change(UpdateOne({"_id": doc["_id"]}, {"$set": {"filename": new}}), {"from": old})

    def revert(self, entry: Mapping[str, Any]) -> UpdateOne | UpdateMany:
        old = entry["from"]
        if "ids" in entry:
            renamed = {"_id": {"$in": entry["ids"]}, "filename": still(ocr_json_name(old))}
            return UpdateMany(renamed, {"$set": {"filename": old}})
        return UpdateOne({"_id": entry["_id"], "filename": still(ocr_json_name(old))}, {"$set": {"filename": old}})


class LlmResultFieldsMigration(JournaledMigration):
    """Add updated_llm_result, is_edited, is_verified, created_at, updated_at to LLM runs.

    up: each ``llm.runs`` document lacking any of the five gets the missing ones:
    ``updated_llm_result`` (a copy of ``llm_result``; none if the run has no ``llm_result``),
    ``is_edited: false``, ``is_verified: false``, and ``created_at``/``updated_at`` set to the
    run's creation time (its ObjectId ``_id``'s timestamp; the time the migration ran for other
    ``_id`` types). Fields a run already has are kept, also if the app writes them while up runs.
    down: removes the fields ``up`` added, from the runs ``up`` changed, if every one of them still
    holds exactly what ``up`` wrote (the journal keeps those values, so its size is about that of
    the copied results). A run the app touched after the upgrade (a user's edit to
    ``updated_llm_result``, ``is_edited``/``is_verified`` set, ``updated_at`` moved) keeps all its
    fields, so the edit survives the downgrade (the old app ignores them) and a later ``up``.
    Runs created after the upgrade are not touched.
    """

    collection_name = LLM_RUNS
    old_shape: ClassVar[Mapping[str, Any]] = {"$or": [{name: {"$exists": False}} for name in LLM_NEW_FIELDS]}
    projection: ClassVar[Mapping[str, Any]] = {"llm_result": 1, **dict.fromkeys(LLM_NEW_FIELDS, 1)}

    def plan(self, doc: dict[str, Any], ctx: RunContext) -> Change | None:
        created_at = run_created_at(doc["_id"], ctx.started_at)
        added = llm_fields_to_add(doc, created_at)
        if not added:
            return None
        # The copy is made by the server from the run as it is when written (a pipeline update), so a
        # result rewritten by the app meanwhile is never copied stale.
        values = {name: "$llm_result" if name == "updated_llm_result" else {"$literal": v} for name, v in added.items()}
        condition = {"_id": doc["_id"], **{name: {"$exists": False} for name in added}}
        return Change(UpdateOne(condition, [{"$set": values}]), {"wrote": added})

    def revert(self, entry: Mapping[str, Any]) -> UpdateOne:
        wrote = entry["wrote"]
        condition = {"_id": entry["_id"], **{name: still(value) for name, value in wrote.items()}}
        return UpdateOne(condition, {"$unset": dict.fromkeys(wrote, "")})


class SchemaJsonSchemaMigration(JournaledMigration):
    """Convert schemas from a fields list to the json_schema response format.

    up: each ``schemas`` document with ``fields`` and neither ``json_schema`` nor
    ``response_format`` gets ``schema_format: "json_schema"`` and ``json_schema`` (see
    ``shapes.fields_to_json_schema``) in place of ``fields``. A schema whose fields cannot be
    converted (unknown type, duplicate or missing name) is left as it is and up fails naming it,
    after converting the others. The original ``fields`` (with ``datetime`` types) are kept in
    the undo journal.
    down: restores the original ``fields`` exactly and removes the new fields, for the schemas
    ``up`` converted whose ``json_schema`` is still the one ``up`` wrote. A schema edited after
    the upgrade, or created in the new shape, stays as the app wrote it.
    """

    collection_name = SCHEMAS
    old_shape: ClassVar[Mapping[str, Any]] = {
        "fields": {"$exists": True},
        "json_schema": {"$exists": False},
        "response_format": {"$exists": False},
    }
    projection: ClassVar[Mapping[str, Any]] = {"fields": 1, "schema_format": 1}
    batch_size = 5000

    def plan(self, doc: dict[str, Any], ctx: RunContext) -> Change | None:
        try:
            json_schema = fields_to_json_schema(doc["fields"])
        except ValueError as exc:
            ctx.problem(f"_id {doc['_id']!r}: {exc}")
            return None
        after = {"schema_format": SCHEMA_FORMAT, "json_schema": json_schema}
        before = {key: doc[key] for key in ("fields", "schema_format") if key in doc}
        condition = {
            "_id": doc["_id"],
            "fields": still(doc["fields"]),
            "json_schema": {"$exists": False},
            "response_format": {"$exists": False},
        }
        convert = UpdateOne(condition, {"$set": after, "$unset": {"fields": ""}})
        return Change(convert, {"before": before, "after": after})

    def revert(self, entry: Mapping[str, Any]) -> UpdateOne:
        before, after = entry["before"], entry["after"]
        condition = {"_id": entry["_id"], "fields": {"$exists": False}, **{k: still(v) for k, v in after.items()}}
        update: dict[str, Any] = {"$set": dict(before)}
        added = {key: "" for key in after if key not in before}
        if added:
            update["$unset"] = added
        return UpdateOne(condition, update)


class RenameJsonSchemaToResponseFormat(JournaledMigration):
    """Rename the schemas' top-level json_schema field to response_format.

    up: each ``schemas`` document with a top-level ``json_schema`` and no ``response_format``
    has the field renamed (its value, including the nested ``json_schema`` key, is unchanged).
    down: renames ``response_format`` back to ``json_schema`` in the documents ``up`` renamed, if
    they still have ``response_format`` and no ``json_schema``; the value goes back as it is now,
    so an edit made after the upgrade is carried back. Schemas created after the upgrade in the
    new shape are left alone.
    """

    collection_name = SCHEMAS
    old_shape: ClassVar[Mapping[str, Any]] = {"json_schema": {"$exists": True}, "response_format": {"$exists": False}}
    projection: ClassVar[Mapping[str, Any]] = {"_id": 1}
    batch_size = 5000

    def plan(self, doc: dict[str, Any], ctx: RunContext) -> Change | None:
        rename = UpdateOne({"_id": doc["_id"], **self.old_shape}, {"$rename": {"json_schema": "response_format"}})
        return Change(rename, {})

    def revert(self, entry: Mapping[str, Any]) -> UpdateOne:
        condition = {"_id": entry["_id"], "response_format": {"$exists": True}, "json_schema": {"$exists": False}}
        return UpdateOne(condition, {"$rename": {"response_format": "json_schema"}})


MIGRATIONS: list[Migration] = [
    OcrKeyMigration(),
    LlmResultFieldsMigration(),
    SchemaJsonSchemaMigration(),
    RenameJsonSchemaToResponseFormat(),
]
