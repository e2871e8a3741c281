"""Joining a step's operations to its transaction without the author passing ``session=``.

The step receives a plain ``AsyncDatabase`` (so ``gridfs.AsyncGridFSBucket(db)`` and any other
``isinstance`` check accepts it) while the step's session is *bound* to the running task with
PyMongo's ``AsyncClientSession.bind()`` (PyMongo ≥ 4.17): every operation on that client that is
given no explicit session uses the bound one, so it joins the transaction.

Two things the driver would otherwise trip on inside a transaction are handled here: the database
handed to the step has the server's default write concern (an operation-level write concern, such
as ``w=majority`` from the URI, is refused inside a transaction), and transient transaction errors
are retried by the caller (``stepexec``) — safe because an aborted transaction leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import ConfigurationError

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSACTION_RETRIES = 3
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"


def transaction_database(client: AsyncMongoClient[Any], name: str) -> AsyncDatabase[Any]:
    """Return ``client[name]`` with the server's default write concern, fit for use inside a transaction."""
    return client.get_database(name, write_concern=WriteConcern())


def has_label(exc: BaseException, label: str) -> bool:
    """Return whether a driver error carries the error label ``label``."""
    return isinstance(exc, PyMongoError) and exc.has_error_label(label)


async def _commit(session: AsyncClientSession) -> None:
    for attempt in range(1, TRANSACTION_RETRIES + 1):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as exc:
            if has_label(exc, UNKNOWN_COMMIT) and attempt < TRANSACTION_RETRIES:
                log.warning("commit result unknown (%s); committing again", exc)
                continue
            raise


async def attempt_in_transaction(
    client: AsyncMongoClient[Any],
    body: Callable[[AsyncClientSession], Awaitable[T]],
    *,
    on_session: Callable[[Any], Awaitable[None]] | None = None,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """Run ``body(session)`` once inside one transaction with the session bound, then commit.

    ``on_session(lsid)`` runs before the transaction starts (to record the session id, so a new
    lock holder can kill it if this process dies); ``await before_commit()`` may raise to abort instead
    of committing (e.g. when the lock was lost). Any error aborts the transaction and propagates:
    whether to try again, in a transaction or outside one, is the caller's decision (``stepexec``).
    """
    async with client.start_session() as session:
        if not hasattr(session, "bind"):
            raise ConfigurationError(
                f"PyMongo {pymongo.version} cannot bind a session to a step (AsyncClientSession.bind)",
                hint="install pymongo>=4.17",
            )
        if on_session is not None:
            await on_session(session.session_id)
        await session.start_transaction(write_concern=WriteConcern("majority"))
        try:
            async with session.bind(end_session=False):
                result = await body(session)
            if before_commit is not None:
                await before_commit()
            await _commit(session)
            return result
        except BaseException:
            if session.in_transaction:
                await _abort_quietly(session)
            raise


async def _abort_quietly(session: AsyncClientSession) -> None:
    try:
        await session.abort_transaction()
    except PyMongoError as exc:
        log.warning("could not abort the transaction cleanly (the server aborts it): %s", exc)
