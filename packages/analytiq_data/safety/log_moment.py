"""The moment a restore from the log goes to: named directly, or "just before migration N".

Before step N runs, the migration engine inserts its history record (``migration_history``,
outcome ``started``); that insert is an event in the log, so the database before the step is the
database at the cluster time just before that event. The latest such start of N (direction up)
is taken. History written by the original runner (no ``migration_history``) has no such event:
then the moment must be given with ``--at``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bson.timestamp import Timestamp

from analytiq_data.backup.consistent.point import ts_text
from analytiq_data.backup.log.catalog import load_catalog, when_text
from analytiq_data.backup.log.format import previous
from analytiq_data.backup.log.moment import parse_moment
from analytiq_data.backup.log.reader import read_tail
from analytiq_data.backup.log.segment import Content, parse, read_file
from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.state import HISTORY_COLLECTION


def resolve_moment(log_dir: str, at: Timestamp | str | None, before_migration: int | None) -> tuple[Timestamp, str]:
    """Return the cluster time to restore to and how it was named (for the summary)."""
    if isinstance(at, Timestamp):
        return at, ts_text(at)
    if at is not None:
        moment = parse_moment(at)
        return moment, at.strip()
    assert before_migration is not None
    start = migration_start(log_dir, before_migration)
    return previous(start), f"just before migration {before_migration} (it started at {when_text(start)})"


def migration_start(log_dir: str, version: int) -> Timestamp:
    """Return the cluster time of the latest start of migration ``version`` (up) logged; ConfigurationError if none."""
    catalog = load_catalog(log_dir)
    found: Timestamp | None = None
    tail, _ = read_tail(catalog)

    def contents() -> Iterator[Content]:
        for entry in catalog.segments:
            yield parse(read_file(Path(catalog.folder) / str(entry["file"])), str(entry["file"]))
        if tail is not None:
            yield tail

    for content in contents():
        for event in content.events:
            if event.get("operationType") != "insert" or (event.get("ns") or {}).get("coll") != HISTORY_COLLECTION:
                continue
            doc = event.get("fullDocument") or {}
            if doc.get("version") == version and doc.get("direction") == "up" and doc.get("outcome") == "started":
                found = max(found, event["clusterTime"]) if found is not None else event["clusterTime"]
    if found is None:
        raise ConfigurationError(
            f"the log in {log_dir} holds no start of migration {version}: it ran before the log's first base, "
            "was run by the original runner (which keeps no history), or has not run",
            hint="name the moment with --at (analytiq-db history shows when each step ran)",
        )
    return found
