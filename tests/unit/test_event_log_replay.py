"""What replaying a logged DDL event sends to the server (no server): commands every server takes."""

from __future__ import annotations

from typing import Any

from bson.timestamp import Timestamp

from analytiq_data.backup.consistent.events import Definition
from analytiq_data.backup.log.replay import Ddl, plan


def _event(op: str, coll: str, desc: dict[str, Any]) -> dict[str, Any]:
    return {"operationType": op, "clusterTime": Timestamp(1, 1), "ns": {"db": "app", "coll": coll}, **desc}


def test_an_index_drop_names_its_index_as_a_string() -> None:
    """mongod logs one index per dropIndexes event; a list of names is refused by some servers (SecantusDB)."""
    item = plan(
        _event("dropIndexes", "c", {"operationDescription": {"indexes": [{"key": {"a": 1}, "name": "a_1"}]}}),
        "app",
        lambda _n: True,
    )
    assert isinstance(item, Definition)
    assert item.command["index"] == "a_1"


def test_a_view_is_created_with_its_pipeline_whatever_the_event_calls_it() -> None:
    for field in ("pipeline", "viewPipeline"):  # mongod's name, SecantusDB's name
        desc = {"viewOn": "c", field: [{"$match": {"a": 1}}], "idIndex": {"key": {"_id": 1}}}
        item = plan(_event("create", "v", {"operationDescription": desc}), "app", lambda _n: True)
        assert isinstance(item, Ddl) and item.command is not None
        assert dict(item.command) == {"create": "v", "viewOn": "c", "pipeline": [{"$match": {"a": 1}}]}


def test_the_follower_knows_a_restore_by_its_mark() -> None:
    """A write of the restore's mark (``restore_mark``) is where the log must stop; other writes are not."""
    from analytiq_data.backup.log import swapmark
    from analytiq_data.restore_mark import MARK_COLLECTION, MARK_ID

    mark = {"ns": {"db": "app", "coll": MARK_COLLECTION}, "documentKey": {"_id": MARK_ID}}
    for op in ("insert", "replace", "update"):
        assert swapmark.swap_begins({**mark, "operationType": op}), op
    assert not swapmark.swap_begins({**mark, "operationType": "delete"})  # the restore ending
    assert not swapmark.swap_begins({"ns": {"db": "app", "coll": "users"}, "operationType": "insert"})
    assert not swapmark.swap_begins({"ns": {"db": "app", "coll": "migration_lock"}, "operationType": "update"})


def test_a_moment_given_as_text_is_named_as_given() -> None:
    """The summary says "restored database app to 2024-05-29T17:15:00Z", not "to --at 2024-…"."""
    from analytiq_data.safety.log_moment import resolve_moment

    assert resolve_moment("unused", "2024-05-29T17:15:00Z", None) == (
        Timestamp(1717002900, 0xFFFFFFFF),
        "2024-05-29T17:15:00Z",
    )
