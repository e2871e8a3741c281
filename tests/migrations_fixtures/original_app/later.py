"""Versions 23–35 of the original-app list (see ``early``): more collection DDL, loops and indexes."""

import logging

from analytiq_data.migrations import Migration
from tests.migrations_fixtures.original_app.early import ocr_bucket

logger = logging.getLogger(__name__)


class SchemaRevisionsSplit(Migration):
    def __init__(self):
        super().__init__(description="Copy each schema into schema_revisions and point at it")

    async def up(self, db) -> bool:
        try:
            async for schema in db.schemas.find({"schema_revid": {"$exists": False}}):
                revision = {k: v for k, v in schema.items() if k != "_id"}
                revision["schema_id"] = str(schema["_id"])
                result = await db.schema_revisions.insert_one(revision)
                await db.schemas.update_one({"_id": schema["_id"]}, {"$set": {"schema_revid": str(result.inserted_id)}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.schemas.update_many({}, {"$unset": {"schema_revid": ""}})
            await db.schema_revisions.drop()
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class UsersRoleDefault(Migration):
    def __init__(self):
        super().__init__(description="Users without a role get role 'user'")

    async def up(self, db) -> bool:
        await db.users.update_many({"role": {"$exists": False}}, {"$set": {"role": "user"}})
        return True

    async def down(self, db) -> bool:
        # Harmless to keep
        return True


class DropTagsNameIndex(Migration):
    def __init__(self):
        super().__init__(description="Drop the global tags name index")

    async def up(self, db) -> bool:
        try:
            await db.tags.drop_index("name_1")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.tags.create_index("name")
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class TagsUniqueNamePerOrg(Migration):
    def __init__(self):
        super().__init__(description="Tag names unique per organization")

    async def up(self, db) -> bool:
        try:
            await db.tags.create_index([("organization_id", 1), ("name", 1)], unique=True, name="org_name_unique")
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.tags.drop_index("org_name_unique")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


class OcrMetadataMigration(Migration):
    def __init__(self):
        super().__init__(description="Mark OCR files with their document id")

    async def up(self, db) -> bool:
        try:
            async for f in ocr_bucket(db).find({}):
                document_id = f.filename.rsplit("_", 1)[0]
                await db["ocr.files"].update_one({"_id": f._id}, {"$set": {"metadata.document_id": document_id}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db["ocr.files"].update_many({}, {"$unset": {"metadata.document_id": ""}})
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class PaymentsCustomersCollection(Migration):
    def __init__(self):
        super().__init__(description="Create payments.customers with a unique user_id")

    async def up(self, db) -> bool:
        try:
            if "payments.customers" not in await db.list_collection_names():
                await db.create_collection("payments.customers")
            await db["payments.customers"].create_index("user_id", unique=True)
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db["payments.customers"].drop()
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class AccessTokensExpiryIndex(Migration):
    def __init__(self):
        super().__init__(description="Expire access tokens at expires_at")

    async def up(self, db) -> bool:
        try:
            await db.access_tokens.create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")
            return True
        except Exception as e:
            logger.error(f"Index creation failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.access_tokens.drop_index("expires_at_ttl")
            return True
        except Exception as e:
            logger.error(f"Index removal failed: {e}")
            return False


class OrganizationMembersRoles(Migration):
    def __init__(self):
        super().__init__(description="Organization members become {user_id, role}")

    async def up(self, db) -> bool:
        try:
            async for org in db.organizations.find({}):
                members = org.get("members", [])
                if members and not isinstance(members[0], dict):
                    new = [{"user_id": str(m), "role": "admin" if i == 0 else "user"} for i, m in enumerate(members)]
                    await db.organizations.update_one({"_id": org["_id"]}, {"$set": {"members": new}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        from bson import ObjectId

        try:
            async for org in db.organizations.find({}):
                members = org.get("members", [])
                if members and isinstance(members[0], dict):
                    old = [ObjectId(m["user_id"]) for m in members]
                    await db.organizations.update_one({"_id": org["_id"]}, {"$set": {"members": old}})
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class DocumentsPdfIdBackfill(Migration):
    def __init__(self):
        super().__init__(description="Documents get pdf_id (their own id until converted)")

    async def up(self, db) -> bool:
        try:
            async for doc in db.documents.find({"pdf_id": {"$exists": False}}, {"_id": 1}):
                await db.documents.update_one({"_id": doc["_id"]}, {"$set": {"pdf_id": str(doc["_id"])}})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.documents.update_many({}, {"$unset": {"pdf_id": ""}})
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class RenameLlmQueue(Migration):
    def __init__(self):
        super().__init__(description="Rename llm_queue to queues.llm")

    async def up(self, db) -> bool:
        try:
            if "llm_queue" in await db.list_collection_names():
                await db.llm_queue.rename("queues.llm")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            if "queues.llm" in await db.list_collection_names():
                await db["queues.llm"].rename("llm_queue")
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


class ReconcileIndexes(Migration):
    def __init__(self):
        super().__init__(description="Make sure the documents indexes exist")

    async def up(self, db) -> bool:
        try:
            indexes = await db.documents.index_information()
            if "state_upload" not in indexes:
                await db.documents.create_index([("state", 1), ("upload_date", -1)], name="state_upload")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        return True


class CleanupEmptyLlmResults(Migration):
    def __init__(self):
        super().__init__(description="Remove llm.runs without a result")

    async def up(self, db) -> bool:
        try:
            await db["llm.runs"].delete_many({"llm_result": None})
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        # Deleted runs had no result: nothing worth restoring
        return True


class CountersCollection(Migration):
    def __init__(self):
        super().__init__(description="Seed the counters collection with document counts")

    async def up(self, db) -> bool:
        try:
            total = await db.documents.count_documents({})
            await db.counters.update_one({"_id": "documents"}, {"$set": {"value": total}}, upsert=True)
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        try:
            await db.counters.drop()
            return True
        except Exception as e:
            logger.error(f"Migration revert failed: {e}")
            return False


LATER = [
    SchemaRevisionsSplit(),
    UsersRoleDefault(),
    DropTagsNameIndex(),
    TagsUniqueNamePerOrg(),
    OcrMetadataMigration(),
    PaymentsCustomersCollection(),
    AccessTokensExpiryIndex(),
    OrganizationMembersRoles(),
    DocumentsPdfIdBackfill(),
    RenameLlmQueue(),
    ReconcileIndexes(),
    CleanupEmptyLlmResults(),
    CountersCollection(),
]
