"""The two ends of a copy: clients, databases, server identities, and driver errors made readable."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.identity import ServerIdentity, ensure_distinct, identify
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.results import CopyFailed
from analytiq_data.client import make_client
from analytiq_data.errors import AnalytiqError, DatabaseConnectionError
from analytiq_data.uri import hosts_of, redact_text, redact_uri

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Side:
    """One end: which it is (``source``/``destination``), where (hosts only), and its database."""

    role: str
    where: str
    db: AsyncDatabase[Any]
    identity: ServerIdentity

    def lost(self, exc: BaseException, doing: str) -> DatabaseConnectionError:
        """Return the error for losing this server while ``doing`` something."""
        detail = redact_text(str(exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return DatabaseConnectionError(
            f"lost the {self.role} MongoDB at {self.where} while {doing}: {detail}",
            hint="when it is reachable again, run the same command with --resume",
        )

    def failed(self, exc: BaseException, doing: str) -> CopyFailed:
        """Return the error for a server refusing an operation while ``doing`` something."""
        detail = redact_text(str(exc)).splitlines()[0][:300]
        return CopyFailed(f"the {self.role} MongoDB at {self.where} failed while {doing}: {detail}")

    @contextlib.asynccontextmanager
    async def errors(self, doing: str) -> AsyncIterator[None]:
        """Turn driver errors raised inside the block into one-line AnalytiqErrors naming this side."""
        try:
            yield
        except AnalytiqError:
            raise
        except pm_errors.ConnectionFailure as exc:
            raise self.lost(exc, doing) from exc
        except pm_errors.PyMongoError as exc:
            raise self.failed(exc, doing) from exc


@dataclass(frozen=True)
class Endpoints:
    """Source and destination of one run."""

    src: Side
    dst: Side
    src_uri: str  # redacted
    dst_uri: str  # redacted


def _where(uri: str) -> str:
    return hosts_of(uri) or redact_uri(uri)


@contextlib.asynccontextmanager
async def open_endpoints(options: BackupOptions, *, check_distinct: bool = True) -> AsyncIterator[Endpoints]:
    """Connect to both servers, learn who they are, and refuse a copy of a database onto itself."""
    src_uri, dst_uri = options.src_uri, options.destination_uri
    clients: list[AsyncMongoClient[Any]] = []
    try:
        src_client = make_client(src_uri, timeout_s=options.timeout_s)
        clients.append(src_client)
        dst_client = make_client(dst_uri, timeout_s=options.timeout_s)
        clients.append(dst_client)
        src_id = await identify(src_client, src_uri, options.timeout_s)
        dst_id = await identify(dst_client, dst_uri, options.timeout_s)
        src = Side("source", _where(src_uri), src_client[options.src_db], src_id)
        dst = Side("destination", _where(dst_uri), dst_client[options.dest_db], dst_id)
        if check_distinct:
            async with src.errors("checking the databases are distinct"):
                await ensure_distinct(src.db, src_id, dst.db, dst_id, f"{src.where} and {dst.where}")
        yield Endpoints(src, dst, redact_uri(src_uri), redact_uri(dst_uri))
    finally:
        for client in clients:
            await client.close()


async def guarded(side: Side, doing: str, call: Callable[[], Any]) -> Any:
    """Await ``call()`` with this side's driver errors turned into AnalytiqErrors."""
    async with side.errors(doing):
        return await call()
