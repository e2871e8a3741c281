"""Versions 1–12 of the original-app list: written as the original runner's authors wrote them.

Only the import of the base class differs from the application's ``migration.py``. The style is
theirs on purpose: untyped ``db``, ``try/except Exception -> logger.error -> return False``,
per-document ``async for``/``update_one`` loops, collection DDL inside ``up``/``down``, motor's
GridFS bucket, downs that return False (irreversible) or do nothing and return True.
"""

import logging
from datetime import UTC, datetime

import motor.motor_asyncio
from gridfs import AsyncGridFSBucket

from analytiq_data.migrations import Migration

logger = logging.getLogger(__name__)

TYPE_MAP = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "string"}
BACK_MAP = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def ocr_bucket(db):
    # The app creates motor's bucket. So that the same list also runs on a PyMongo client, a PyMongo
    # database gets PyMongo's bucket, which has the same calls (find, open_download_stream, ...).
    if isinstance(db, motor.motor_asyncio.AsyncIOMotorDatabase):
        return motor.motor_asyncio.AsyncIOMotorGridFSBucket(db, bucket_name="ocr")
    return AsyncGridFSBucket(db, bucket_name="ocr")


class NormalizeUserEmails(Migration):
    def __init__(self):
        super().__init__(description="Lower-case user emails")

    async def up(self, db) -> bool:
        try:
            async for user in db.users.find({}):
                email = user.get("email")
                if email and email != email.lower():
                    await db.users.update_one({"_id": user["_id"]}, {"$set": {"email": email.lower()}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        # The original case is gone: cannot be reverted
        return False


class BackfillOrganizationType(Migration):
    def __init__(self):
        super().__init__(description="Organizations without a type become 'individual'")

    async def up(self, db) -> bool:
        try:
            await db.organizations.update_many({"type": {"$exists": False}}, {"$set": {"type": "individual"}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        logger.warning("BackfillOrganizationType cannot be reverted")
        return False


class OcrKeyMigration(Migration):
    def __init__(self):
        super().__init__(description="Rename OCR keys from _list to _json")

    async def _rename(self, db, old_suffix, new_suffix) -> None:
        bucket = ocr_bucket(db)
        async for f in bucket.find({"filename": {"$regex": f"{old_suffix}$"}}):
            stream = await bucket.open_download_stream(f._id)
            data = await stream.read()
            new_name = f.filename[: -len(old_suffix)] + new_suffix
            await bucket.upload_from_stream(new_name, data, metadata=f.metadata)
            await bucket.delete(f._id)

    async def up(self, db) -> bool:
        try:
            await self._rename(db, "_list", "_json")
            return True
        except Exception as e:
            logger.error(f"OCR key migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await self._rename(db, "_json", "_list")
            return True
        except Exception as e:
            logger.error(f"OCR key migration revert failed: {e}")
            return False


class RenameLlmRunsCollection(Migration):
    def __init__(self):
        super().__init__(description="Rename llm_runs to llm.runs")

    async def up(self, db) -> bool:
        try:
            if "llm_runs" in await db.list_collection_names():
                await db.llm_runs.rename("llm.runs")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            if "llm.runs" in await db.list_collection_names():
                await db["llm.runs"].rename("llm_runs")
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class LlmResultFieldsMigration(Migration):
    def __init__(self):
        super().__init__(description="Add updated_llm_result, is_edited, is_verified, created_at, updated_at")

    async def up(self, db) -> bool:
        try:
            now = datetime.now(UTC)
            async for run in db["llm.runs"].find({"updated_llm_result": {"$exists": False}}):
                await db["llm.runs"].update_one(
                    {"_id": run["_id"]},
                    {"$set": {"updated_llm_result": run["llm_result"], "is_edited": False, "is_verified": False,
                              "created_at": now, "updated_at": now}},
                )
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db["llm.runs"].update_many(
                {}, {"$unset": {"updated_llm_result": "", "is_edited": "", "is_verified": "", "created_at": "",
                                "updated_at": ""}}
            )
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class SchemaJsonSchemaMigration(Migration):
    def __init__(self):
        super().__init__(description="Convert schema fields to JsonSchema")

    async def up(self, db) -> bool:
        try:
            async for schema in db.schemas.find({"fields": {"$exists": True}}):
                properties = {
                    f["name"]: {"type": TYPE_MAP[f["type"]], "description": f["name"].replace("_", " ")}
                    for f in schema["fields"]
                }
                json_schema = {"type": "json_schema", "json_schema": {"name": "document_extraction", "strict": True,
                               "schema": {"type": "object", "properties": properties,
                                          "required": [f["name"] for f in schema["fields"]],
                                          "additionalProperties": False}}}
                await db.schemas.update_one(
                    {"_id": schema["_id"]},
                    {"$set": {"json_schema": json_schema, "schema_format": "json_schema",
                              "datetime_fields": [f["name"] for f in schema["fields"] if f["type"] == "datetime"]},
                     "$unset": {"fields": ""}},
                )
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            async for schema in db.schemas.find({"json_schema": {"$exists": True}}):
                props = schema["json_schema"]["json_schema"]["schema"]["properties"]
                dt = set(schema.get("datetime_fields", []))
                fields = [{"name": n, "type": "datetime" if n in dt else BACK_MAP[p["type"]]} for n, p in props.items()]
                await db.schemas.update_one(
                    {"_id": schema["_id"]},
                    {"$set": {"fields": fields}, "$unset": {"json_schema": "", "schema_format": "",
                                                           "datetime_fields": ""}},
                )
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class RenameJsonSchemaToResponseFormat(Migration):
    def __init__(self):
        super().__init__(description="Rename json_schema to response_format in schemas")

    async def up(self, db) -> bool:
        try:
            await db.schemas.update_many(
                {"json_schema": {"$exists": True}}, {"$rename": {"json_schema": "response_format"}}
            )
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.schemas.update_many(
                {"response_format": {"$exists": True}}, {"$rename": {"response_format": "json_schema"}}
            )
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class DocumentsStateIndex(Migration):
    def __init__(self):
        super().__init__(description="Compound index on docs state and upload date")

    async def up(self, db) -> bool:
        try:
            await db.docs.create_index([("state", 1), ("upload_date", -1)], name="state_upload", background=True)
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.docs.drop_index("state_upload")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


class UniqueUserEmailIndex(Migration):
    def __init__(self):
        super().__init__(description="Unique index on users.email")

    async def up(self, db) -> bool:
        try:
            await db.users.create_index("email", unique=True, name="email_unique")
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.users.drop_index("email_unique")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


class AccessTokenUniqueIndex(Migration):
    def __init__(self):
        super().__init__(description="Unique index on access_tokens.token")

    async def up(self, db) -> bool:
        await db.access_tokens.create_index("token", unique=True, background=True)
        return True

    async def down(self, db) -> bool:
        await db.access_tokens.drop_index("token_1")
        return True


class DropLegacyTokenHashIndex(Migration):
    def __init__(self):
        super().__init__(description="Drop the legacy token_hash index")

    async def up(self, db) -> bool:
        try:
            indexes = await db.access_tokens.index_information()
            if "token_hash_1" in indexes:
                await db.access_tokens.drop_index("token_hash_1")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.access_tokens.create_index("token_hash")
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class CreateQueueCollections(Migration):
    def __init__(self):
        super().__init__(description="Create the ocr_queue and llm_queue collections")

    async def up(self, db) -> bool:
        try:
            existing = await db.list_collection_names()
            for name in ("ocr_queue", "llm_queue"):
                if name not in existing:
                    await db.create_collection(name)
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.ocr_queue.drop()
            await db.llm_queue.drop()
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


EARLY = [
    NormalizeUserEmails(),
    BackfillOrganizationType(),
    OcrKeyMigration(),
    RenameLlmRunsCollection(),
    LlmResultFieldsMigration(),
    SchemaJsonSchemaMigration(),
    RenameJsonSchemaToResponseFormat(),
    DocumentsStateIndex(),
    UniqueUserEmailIndex(),
    AccessTokenUniqueIndex(),
    DropLegacyTokenHashIndex(),
    CreateQueueCollections(),
]
