"""Versions 13–22 of the original-app list (see ``early``): indexes, loops, collection renames."""

import logging

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from analytiq_data.migrations import Migration

logger = logging.getLogger(__name__)


class QueueClaimPartialIndex(Migration):
    def __init__(self):
        super().__init__(description="Partial index on pending queue messages")

    async def up(self, db) -> bool:
        try:
            for name in ("ocr_queue", "llm_queue"):
                await db[name].create_index(
                    [("status", 1), ("created_at", 1)],
                    name="pending_by_age",
                    partialFilterExpression={"status": "pending"},
                )
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            for name in ("ocr_queue", "llm_queue"):
                await db[name].drop_index("pending_by_age")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


class TagsOrganizationMigration(Migration):
    def __init__(self):
        super().__init__(description="Give each tag the organization of its creator")

    async def up(self, db) -> bool:
        try:
            async for tag in db.tags.find({"organization_id": {"$exists": False}}):
                org = await db.organizations.find_one({"members": ObjectId(tag["created_by"])})
                org_id = str(org["_id"]) if org else None
                await db.tags.update_one({"_id": tag["_id"]}, {"$set": {"organization_id": org_id}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.tags.update_many({}, {"$unset": {"organization_id": ""}})
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class PromptVersionMigration(Migration):
    def __init__(self):
        super().__init__(description="Version prompts: prompt_id and prompt_version")

    async def up(self, db) -> bool:
        try:
            async for prompt in db.prompts.find({"prompt_version": {"$exists": False}}):
                await db.prompts.update_one(
                    {"_id": prompt["_id"]}, {"$set": {"prompt_id": str(prompt["_id"]), "prompt_version": 1}}
                )
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.prompts.update_many({}, {"$unset": {"prompt_id": "", "prompt_version": ""}})
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class DropTmpExports(Migration):
    def __init__(self):
        super().__init__(description="Drop the obsolete tmp_exports collection")

    async def up(self, db) -> bool:
        try:
            if "tmp_exports" in await db.list_collection_names():
                await db.tmp_exports.drop()
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        # Nothing to restore: the exports were temporary
        return True


class DocumentTagIdsMigration(Migration):
    def __init__(self):
        super().__init__(description="Rename docs.tags to docs.tag_ids")

    async def up(self, db) -> bool:
        try:
            await db.docs.update_many({"tags": {"$exists": True}}, {"$rename": {"tags": "tag_ids"}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.docs.update_many({"tag_ids": {"$exists": True}}, {"$rename": {"tag_ids": "tags"}})
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class RenameDocsCollection(Migration):
    def __init__(self):
        super().__init__(description="Rename docs to documents")

    async def up(self, db) -> bool:
        try:
            names = await db.list_collection_names()
            if "docs" in names and "documents" not in names:
                await db.docs.rename("documents")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            if "documents" in await db.list_collection_names():
                await db.documents.rename("docs")
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class DocumentsOrgUploadIndex(Migration):
    def __init__(self):
        super().__init__(description="Index documents by organization and upload date")

    async def up(self, db) -> bool:
        try:
            await db.documents.create_index(
                [("organization_id", ASCENDING), ("upload_date", DESCENDING)], name="org_upload", background=True
            )
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.documents.drop_index("org_upload")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


class CreateFormsCollection(Migration):
    def __init__(self):
        super().__init__(description="Create the forms collection")

    async def up(self, db) -> bool:
        if "forms" not in await db.list_collection_names():
            await db.create_collection("forms")
        await db.forms.create_index([("organization_id", 1), ("name", 1)])
        return True

    async def down(self, db) -> bool:
        await db.forms.drop()
        return True


class FormSubmissionsCollection(Migration):
    def __init__(self):
        super().__init__(description="Create form_submissions with a unique (form_id, document_id)")

    async def up(self, db) -> bool:
        try:
            if "form_submissions" not in await db.list_collection_names():
                await db.create_collection("form_submissions")
            await db.form_submissions.create_index(
                [("form_id", 1), ("document_id", 1)], unique=True, name="form_document_unique"
            )
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.drop_collection("form_submissions")
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class LlmRunsLookupIndex(Migration):
    def __init__(self):
        super().__init__(description="Index llm.runs by document and prompt")

    async def up(self, db) -> bool:
        try:
            await db["llm.runs"].create_index([("document_id", 1), ("prompt_id", 1)], background=True)
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db["llm.runs"].drop_index("document_id_1_prompt_id_1")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


MIDDLE = [
    QueueClaimPartialIndex(),
    TagsOrganizationMigration(),
    PromptVersionMigration(),
    DropTmpExports(),
    DocumentTagIdsMigration(),
    RenameDocsCollection(),
    DocumentsOrgUploadIndex(),
    CreateFormsCollection(),
    FormSubmissionsCollection(),
    LlmRunsLookupIndex(),
]
