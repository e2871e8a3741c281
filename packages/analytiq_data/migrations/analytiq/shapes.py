"""The document shapes of Analytiq's four migrations, as pure functions (no I/O, tested without a server)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId

OCR_BUCKET = "ocr"
OCR_FILES = f"{OCR_BUCKET}.files"
OCR_OLD_SUFFIX = "_list"
OCR_NEW_SUFFIX = "_json"

LLM_RUNS = "llm.runs"
LLM_NEW_FIELDS = ("updated_llm_result", "is_edited", "is_verified", "created_at", "updated_at")

SCHEMAS = "schemas"
SCHEMA_FORMAT = "json_schema"
FIELD_TYPES_TO_JSON = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "string"}


def renamed_suffix(filename: Any, old: str, new: str) -> str | None:
    """Return ``filename`` with its final ``old`` suffix replaced by ``new``; None if it does not end with ``old``.

    Only the end changes: ``doc_listing_list`` becomes ``doc_listing_json``.
    """
    if not isinstance(filename, str) or not filename.endswith(old):
        return None
    return filename[: len(filename) - len(old)] + new


def ocr_json_name(filename: Any) -> str | None:
    """Return the new-style OCR file name for ``filename`` (``<id>_list`` → ``<id>_json``), or None."""
    return renamed_suffix(filename, OCR_OLD_SUFFIX, OCR_NEW_SUFFIX)


def run_created_at(run_id: Any, fallback: datetime) -> datetime:
    """Return when an ``llm.runs`` document was created: its ObjectId's timestamp, else ``fallback``."""
    if isinstance(run_id, ObjectId):
        return run_id.generation_time
    return fallback


def llm_fields_to_add(run: Mapping[str, Any], created_at: datetime) -> dict[str, Any]:
    """Return the fields ``LlmResultFieldsMigration`` adds to ``run``: those of the five it lacks.

    ``updated_llm_result`` is a copy of ``llm_result``; a run without ``llm_result`` gets no copy.
    """
    values: dict[str, Any] = {
        "is_edited": False,
        "is_verified": False,
        "created_at": created_at,
        "updated_at": created_at,
    }
    if "llm_result" in run:
        values["updated_llm_result"] = run["llm_result"]
    return {name: values[name] for name in LLM_NEW_FIELDS if name not in run and name in values}


def fields_to_json_schema(fields: Any) -> dict[str, Any]:
    """Return the ``json_schema`` value (an OpenAI-style response format) for a schema's ``fields`` list.

    Each field ``{name, type}`` becomes a property ``{type: <json type>, description: <name with
    "_" as " ">}``, all required, in order. Raise ValueError naming the problem if ``fields`` is
    not a list of fields with distinct non-empty names and one of the five known types.
    """
    if not isinstance(fields, list):
        raise ValueError(f"'fields' is a {type(fields).__name__}, not a list")
    properties: dict[str, Any] = {}
    for index, item in enumerate(fields):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"field {index} has no name")
        name, kind = item["name"], item.get("type")
        if not isinstance(kind, str) or kind not in FIELD_TYPES_TO_JSON:
            raise ValueError(f"field {name!r} has type {kind!r}, not one of {', '.join(FIELD_TYPES_TO_JSON)}")
        if name in properties:
            raise ValueError(f"field {name!r} appears twice")
        properties[name] = {"type": FIELD_TYPES_TO_JSON[kind], "description": name.replace("_", " ")}
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "document_extraction",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }
