"""The server side of a dump: connect to the source, and describe its namespaces as mongodump's metadata."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from analytiq_data.backup.catalog import collection_infos, index_specs
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.metadata import Metadata, uuid_hex
from analytiq_data.backup.identity import identify
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.plan import Kind, Plan, build_plan
from analytiq_data.client import make_client
from analytiq_data.errors import ConfigurationError
from analytiq_data.uri import hosts_of, redact_uri


@contextlib.asynccontextmanager
async def open_server(uri: str, db: str, timeout_s: float) -> AsyncIterator[tuple[Side, str]]:
    """Connect to the source, yield its side and server version; close the client afterwards."""
    async with open_sides(uri, timeout_s) as (side_of, server_version):
        yield side_of(db), server_version


@contextlib.asynccontextmanager
async def open_sides(uri: str, timeout_s: float) -> AsyncIterator[tuple[Callable[[str], Side], str]]:
    """Connect to the source once; yield a function giving the side of each database, and the server
    version (a dump of several databases reads them all through one client); close it afterwards."""
    client = make_client(uri, timeout_s=timeout_s)
    try:
        identity = await identify(client, uri, timeout_s)
        where = hosts_of(uri) or redact_uri(uri)

        def side_of(db: str) -> Side:
            return Side("source", where, client[db], identity)

        async with side_of("admin").errors("reading the server version"):
            info = await client.server_info()
        yield side_of, str(info.get("version") or "")
    finally:
        await client.close()


async def dump_catalog(side: Side, options: BackupOptions) -> tuple[Plan, dict[str, Metadata]]:
    """Return the plan of what to dump and each namespace's metadata (all indexes, options, UUID).

    Raises ConfigurationError for a database with nothing to dump, a selection that matches
    nothing, or time-series collections (mongodump writes their raw buckets, which this dump does
    not read).
    """
    infos = await collection_infos(side)
    if not infos:
        raise ConfigurationError(
            f"source database {side.db.name!r} does not exist on {side.where} (it has no collections)",
            hint="check --src and --src-uri",
        )
    async with side.errors("planning the dump"):
        plan = await build_plan(side.db, options)
    if not plan.intents:
        raise ConfigurationError(
            f"no collection of {side.db.name!r} matches --include/--exclude", hint="check the patterns"
        )
    series = sorted(i.name for i in plan.intents if i.kind is Kind.TIMESERIES)
    if series:
        raise ConfigurationError(
            f"time-series collections ({', '.join(series)}) cannot be dumped to files yet",
            hint=f"--exclude {','.join(series)}, or copy to a server with --dest",
        )
    metas: dict[str, Metadata] = {}
    for intent in plan.intents:
        info: dict[str, Any] = infos.get(intent.name, {})
        kind = "view" if intent.kind is Kind.VIEW else "collection"
        indexes = () if intent.kind is Kind.VIEW else tuple(await index_specs(side, intent.name))
        metas[intent.name] = Metadata(side.db.name, intent.name, kind, dict(intent.options), indexes, uuid_hex(info))
    return plan, metas
