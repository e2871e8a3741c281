"""GridFS through the async API: layout, round trip, rename, delete, and transactions."""

from __future__ import annotations

from typing import Any

import pytest
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import InvalidOperation

from analytiq_data.client import server_kind

DATA = bytes(range(256)) * 10  # 2560 bytes: chunks of 1024, 1024, 512
CHUNK = 1024


def _bucket(db: AsyncDatabase[Any]) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(db, bucket_name="ocr", chunk_size_bytes=CHUNK)


async def test_upload_writes_files_and_chunks_documents(db: AsyncDatabase[Any]) -> None:
    file_id = await _bucket(db).upload_from_stream("doc1_list", DATA, metadata={"document_id": "doc1"})
    files = await db["ocr.files"].find({}).to_list()
    assert len(files) == 1
    assert files[0]["_id"] == file_id
    assert {k: files[0][k] for k in ("filename", "length", "chunkSize", "metadata")} == {
        "filename": "doc1_list",
        "length": len(DATA),
        "chunkSize": CHUNK,
        "metadata": {"document_id": "doc1"},
    }
    assert "uploadDate" in files[0]
    chunks = await db["ocr.chunks"].find({}, sort=[("n", 1)]).to_list()
    assert [(c["files_id"], c["n"], len(c["data"])) for c in chunks] == [
        (file_id, 0, 1024),
        (file_id, 1, 1024),
        (file_id, 2, 512),
    ]
    assert b"".join(c["data"] for c in chunks) == DATA
    assert sorted(await db.list_collection_names()) == ["ocr.chunks", "ocr.files"]


async def test_upload_creates_the_gridfs_indexes(db: AsyncDatabase[Any]) -> None:
    await _bucket(db).upload_from_stream("doc1_list", DATA)
    files_ix = {ix["name"]: ix for ix in await (await db["ocr.files"].list_indexes()).to_list()}
    chunks_ix = {ix["name"]: ix for ix in await (await db["ocr.chunks"].list_indexes()).to_list()}
    assert dict(files_ix["filename_1_uploadDate_1"]["key"]) == {"filename": 1, "uploadDate": 1}
    assert dict(chunks_ix["files_id_1_n_1"]["key"]) == {"files_id": 1, "n": 1}
    assert chunks_ix["files_id_1_n_1"]["unique"] is True


async def test_download_returns_the_uploaded_bytes(db: AsyncDatabase[Any]) -> None:
    bucket = _bucket(db)
    file_id = await bucket.upload_from_stream("doc1_list", DATA)
    by_name = await bucket.open_download_stream_by_name("doc1_list")
    assert await by_name.read() == DATA
    by_id = await bucket.open_download_stream(file_id)
    assert await by_id.read() == DATA


async def test_rename_changes_only_the_files_document(db: AsyncDatabase[Any]) -> None:
    bucket = _bucket(db)
    file_id = await bucket.upload_from_stream("doc1_list", DATA)
    chunks_before = await db["ocr.chunks"].find({}, sort=[("n", 1)]).to_list()
    await bucket.rename(file_id, "doc1_json")
    assert [f.filename for f in await bucket.find({}).to_list()] == ["doc1_json"]
    assert await db["ocr.chunks"].find({}, sort=[("n", 1)]).to_list() == chunks_before
    assert await (await bucket.open_download_stream_by_name("doc1_json")).read() == DATA


async def test_delete_removes_the_file_and_its_chunks(db: AsyncDatabase[Any]) -> None:
    bucket = _bucket(db)
    keep = await bucket.upload_from_stream("keep", b"k" * 3000)
    gone = await bucket.upload_from_stream("gone", DATA)
    await bucket.delete(gone)
    assert [f["_id"] for f in await db["ocr.files"].find({}).to_list()] == [keep]
    assert {c["files_id"] for c in await db["ocr.chunks"].find({}).to_list()} == {keep}


async def test_gridfs_bucket_refuses_a_session_in_a_transaction(
    client: AsyncMongoClient[Any], db: AsyncDatabase[Any]
) -> None:
    """PyMongo refuses GridFS bucket calls inside a transaction on every server (a driver rule)."""
    if not server_kind(await client.admin.command("hello")).supports_transactions:
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions")
    bucket = _bucket(db)
    file_id = await bucket.upload_from_stream("doc1_list", DATA)
    async with client.start_session() as session:
        await session.start_transaction()
        with pytest.raises(InvalidOperation, match="GridFS does not support multi-document transactions"):
            await bucket.rename(file_id, "doc1_json", session=session)
        with pytest.raises(InvalidOperation, match="GridFS does not support multi-document transactions"):
            await bucket.upload_from_stream("in_txn", DATA, session=session)
        await session.abort_transaction()
    assert [f.filename for f in await bucket.find({}).to_list()] == ["doc1_list"]


async def test_renaming_files_documents_in_a_transaction(client: AsyncMongoClient[Any], db: AsyncDatabase[Any]) -> None:
    """A transactional GridFS rename is a plain update of `<bucket>.files` (here: suffix _list -> _json)."""
    if not server_kind(await client.admin.command("hello")).supports_transactions:
        pytest.skip("MONGODB_URI names a standalone mongod: no transactions")
    bucket = _bucket(db)
    for name in ("a_list", "b_list", "c_other"):
        await bucket.upload_from_stream(name, DATA)
    new_name = {"$concat": [{"$substrCP": ["$filename", 0, {"$subtract": [{"$strLenCP": "$filename"}, 5]}]}, "_json"]}

    async def rename(session: Any) -> None:
        await db["ocr.files"].update_many(
            {"filename": {"$regex": "_list$"}}, [{"$set": {"filename": new_name}}], session=session
        )

    async with client.start_session() as session:
        await session.with_transaction(rename)
    assert sorted(f.filename for f in await bucket.find({}).to_list()) == ["a_json", "b_json", "c_other"]
    assert await (await bucket.open_download_stream_by_name("b_json")).read() == DATA
