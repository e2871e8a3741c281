"""Fixtures for the server contract suite: more clients on the shared test server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient


@pytest.fixture
async def other_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    """A second, independent async client on the shared server (its own pool and sessions)."""
    c: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, serverSelectionTimeoutMS=5000, tz_aware=True)
    try:
        yield c
    finally:
        await c.close()
