"""A ``--consistent`` dump read by the real mongorestore: the collections as read, the events as one more collection.

mongorestore knows nothing of the catch-up section: it restores every collection as the dump read
it (not at T) and the change events as an ordinary collection ``__backup_catchup``, without error
(docs/explanation/consistent-copy.md). Only this tool's restore replays the events to reach T.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.conftest import Tool
from tests.server.consistent_writer import initial_doc
from tests.server.test_backup_consistent import COLLS, INITIAL, contents, paused_dump, seed, sync


async def test_mongorestore_restores_a_consistent_archive_without_error(
    mongo_uri: str, db_name: str, tmp_path: Path, tool: Tool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(mongo_uri, db_name)
    result = await paused_dump(mongo_uri, db_name, tmp_path, "archive", monkeypatch)
    target = f"{db_name}_mongorestore"

    tool(
        "mongorestore",
        "--uri",
        mongo_uri,
        f"--archive={tmp_path / 'a.archive'}",
        "--nsFrom",
        f"{db_name}.*",
        "--nsTo",
        f"{target}.*",
    )

    as_read = {f"c{c}": {i: initial_doc(c, i) for i in range(INITIAL)} for c in range(COLLS)}
    assert contents(mongo_uri, target) == as_read, "the collections as the dump read them, not at T"
    with sync(mongo_uri) as client:
        events = client[target]["__backup_catchup"].count_documents({})
    assert result.point_in_time is not None
    assert events == result.point_in_time.events + 1  # the events and the record of T
