"""GridFS bucket operations inside a transactional step: rename files, upload, read back, delete."""

from __future__ import annotations

from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration


class OcrSuffixMigration(Migration):
    """Rename GridFS files <id>_list to <id>_json in bucket ocr, and leave a marker file."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        bucket = AsyncGridFSBucket(db, bucket_name="ocr")  # the driver checks isinstance(db, AsyncDatabase)
        # bucket.find() is refused inside a transaction by the driver; the files collection is not.
        async for f in db["ocr.files"].find({"filename": {"$regex": "_list$"}}):
            await bucket.rename(f["_id"], f["filename"][: -len("_list")] + "_json")
        await bucket.upload_from_stream("migrated-marker", b"renamed by OcrSuffixMigration")
        stream = await bucket.open_download_stream_by_name("migrated-marker")
        if await stream.read() != b"renamed by OcrSuffixMigration":
            raise AssertionError("the marker read back differs")
        if await db.flags.find_one({"_id": "fail"}):
            raise RuntimeError("failing after the GridFS writes")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        bucket = AsyncGridFSBucket(db, bucket_name="ocr")
        async for f in db["ocr.files"].find({"filename": {"$regex": "_json$"}}):
            await bucket.rename(f["_id"], f["filename"][: -len("_json")] + "_list")
        async for f in db["ocr.files"].find({"filename": "migrated-marker"}):
            await bucket.delete(f["_id"])
        return True


class UsesBucketFindMigration(Migration):
    """Iterate bucket.find(), which the driver refuses inside a transaction."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        async for _ in AsyncGridFSBucket(db, bucket_name="ocr").find({}):
            pass
        return True


MIGRATIONS: list[Migration] = [OcrSuffixMigration()]
BUCKET_FIND: list[Migration] = [UsesBucketFindMigration()]
