"""The source's clock: its current cluster time, the time a resume token stands for, snapshot reads at T."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from bson.son import SON
from bson.timestamp import Timestamp
from pymongo import errors as pm_errors

from analytiq_data.backup.digest import Digest, digest_documents
from analytiq_data.backup.endpoints import Side
from analytiq_data.errors import ConfigurationError

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
#: The KeyString type byte a mongod resume token (and high-water mark) starts with: a Timestamp.
_KEYSTRING_TIMESTAMP = 0x82


def require_change_streams(side: Side) -> None:
    """Raise ConfigurationError (exit 3) unless ``side`` serves change streams (a replica set or mongos)."""
    if side.identity.topology == "standalone":
        raise ConfigurationError(
            f"--consistent needs change streams, which the standalone server at {side.where} does not have",
            hint="back up from a replica set member or mongos, or leave out --consistent (the copy is then "
            "consistent per document only)",
        )


async def cluster_time(side: Side) -> Timestamp:
    """Return the source's current cluster time: at or after every write it acknowledged so far.

    A replica set member says it in ``hello.lastWrite.opTime`` (its last applied write); mongos
    (and any server) in the reply's ``operationTime`` / ``$clusterTime``.
    """
    async with side.errors("reading the cluster time"):
        async with side.db.client.start_session() as session:
            hello: Mapping[str, Any] = await side.db.command("hello", session=session)
            candidates = [session.operation_time, hello.get("operationTime")]
    last_write = ((hello.get("lastWrite") or {}).get("opTime") or {}).get("ts")
    candidates.append(last_write)
    stamps = [t for t in candidates if isinstance(t, Timestamp)]
    if not stamps:
        cluster = (hello.get("$clusterTime") or {}).get("clusterTime")
        if isinstance(cluster, Timestamp):
            return cluster
        raise ConfigurationError(
            f"the server at {side.where} reports no cluster time", hint="--consistent needs a replica set or mongos"
        )
    return max(stamps)


def token_time(token: Mapping[str, Any] | None) -> Timestamp | None:
    """Return the cluster time a mongod resume token (or high-water mark) stands for, None if unreadable.

    mongod encodes ``_data`` as a hex KeyString whose first value is the event's cluster time
    (type byte 0x82, then seconds and increment, big-endian). Other servers may encode it
    otherwise: then None.
    """
    data = (token or {}).get("_data")
    if not isinstance(data, str) or len(data) < 18:
        return None
    try:
        raw = bytes.fromhex(data[:18])
    except ValueError:
        return None
    if raw[0] != _KEYSTRING_TIMESTAMP:
        return None
    return Timestamp(int.from_bytes(raw[1:5], "big"), int.from_bytes(raw[5:9], "big"))


def _snapshot(at: Timestamp) -> dict[str, Any]:
    return {"level": "snapshot", "atClusterTime": at}


async def snapshot_reads(side: Side, collection: str, at: Timestamp) -> str | None:
    """Return None if ``side`` reads at cluster time ``at`` (``readConcern: snapshot``), else why not.

    A server that honours ``atClusterTime`` refuses a time in the future (mongod: "must not be
    greater than the current clusterTime") and answers a past one with that time; one that accepts
    the future time, or answers another time, does not read at T, and the copy is then verified
    as copy plus replayed events.
    """
    future = Timestamp(at.time + 3600, 0)
    try:
        await side.db.command(SON([("find", collection), ("limit", 1), ("readConcern", _snapshot(future))]))
        return "the source does not read at a chosen cluster time (it accepted one in the future)"
    except pm_errors.OperationFailure:
        pass
    try:
        reply = await side.db.command(SON([("find", collection), ("limit", 1), ("readConcern", _snapshot(at))]))
    except pm_errors.OperationFailure as exc:
        return f"the source refuses a snapshot read at T ({str(exc).split(', full error')[0]})"
    answered = reply.get("cursor", {}).get("atClusterTime")
    if answered is not None and answered != at:
        return "the source answered a snapshot read at another cluster time"
    return None


async def digest_at(side: Side, collection: str, at: Timestamp, batch_size: int) -> Digest:
    """Return the digest of ``collection`` on ``side`` as it was at cluster time ``at`` (a snapshot read)."""
    db = side.db.with_options(codec_options=RAW)
    command = SON([("find", collection), ("batchSize", batch_size), ("readConcern", _snapshot(at))])
    # One explicit session for the find and its getMores: mongod continues a cursor only in the
    # session that opened it (each bare command would get an implicit session of its own), and no
    # causal consistency, which would add an afterClusterTime the snapshot read must not carry.
    async with side.db.client.start_session(causal_consistency=False) as session:
        reply = await db.command(command, session=session, codec_options=RAW)
        cursor = reply["cursor"]
        digest = digest_documents(list(cursor["firstBatch"]))
        cursor_id = int(cursor["id"])
        while cursor_id:
            more = SON([("getMore", cursor_id), ("collection", collection), ("batchSize", batch_size)])
            reply = await db.command(more, session=session, codec_options=RAW)
            cursor = reply["cursor"]
            digest += digest_documents(list(cursor["nextBatch"]))
            cursor_id = int(cursor["id"])
    return digest
