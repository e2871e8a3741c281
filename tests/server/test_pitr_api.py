"""Point-in-time recovery from Python: ``run_migrations(..., backup_log=DIR)``, ``restore_to_moment(at=wall time)``,
``rehearse(from_log=DIR)``."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson.timestamp import Timestamp

from analytiq_data.backup.log.catalog import load_catalog
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations import run_migrations
from analytiq_data.safety import rehearse
from analytiq_data.safety.restore_log import LogRestoreOptions, restore_to_moment
from tests.migrations_fixtures.basic import MIGRATIONS
from tests.server.pitr_model import snapshot, state_at
from tests.server.test_pitr import ADB, WAIT_S, adb, durable, seed, start, sync_client, wait_for


async def test_run_migrations_with_a_backup_log_records_a_restore_point(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    follow = [ADB, "follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder)]
    follower = start(follow)
    client = AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        wait_for(lambda: durable(folder) is not None, "the follower's first heartbeat")
        result = await run_migrations(client, migrations=MIGRATIONS, backup=True, backup_log=str(folder))
        assert [s.version for s in result.steps] == [1, 2, 3]
    finally:
        await client.close()
        follower.send_signal(signal.SIGTERM)
        follower.communicate(timeout=WAIT_S)
    with sync_client(mongo_uri) as sync:
        record = sync[db_name].migration_history.find_one({"direction": "backup"})
        assert record is not None and record["backup_log"] == str(folder) and "restore_point" in record
        assert not [n for n in sync.list_database_names() if n.startswith(f"{db_name}_backup")]


async def test_a_backup_log_without_backup_is_refused(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    client = AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        with pytest.raises(ConfigurationError, match="need backup=True"):
            await run_migrations(client, migrations=MIGRATIONS, backup_log=str(tmp_path))
    finally:
        await client.close()


async def test_restore_to_a_wall_time_from_python(mongo_uri: str, db_name: str, tmp_path: Path) -> None:
    """``restore_to_moment(at="…Z")``: an ISO-8601 time means every write stamped in or before that second."""
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    follow = ["follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up"]
    assert adb(*follow).returncode == 0
    base_at = load_catalog(folder).bases[0]["at"]["t"]
    with sync_client(mongo_uri) as client:
        wait_for(lambda: client.admin.command("ping")["operationTime"].time > base_at, "a later second")
        with client.start_session() as s:
            client[db_name].c0.insert_one({"_id": "later"}, session=s)
            later = s.operation_time
        assert later is not None
        assert adb(*follow).returncode == 0
        second = datetime.fromtimestamp(later.time - 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        options = LogRestoreOptions(uri=mongo_uri, db=f"{db_name}_wall", log_dir=str(folder), at=second)
        result = await restore_to_moment(options)
        assert result.moment == Timestamp(later.time - 1, 0xFFFFFFFF) and result.named == second
        assert snapshot(client[f"{db_name}_wall"]) == state_at([], Timestamp(0, 0))  # the seed, not "later"


async def test_rehearse_from_the_log_starts_at_the_logs_version_not_the_live_one(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    """The log is behind the live database (step 1 ran after it was last followed): the scratch copy rebuilt
    from the log is at version 0, so steps 1 to 3 are rehearsed, not 2 and 3 on data step 1 never touched."""
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    assert adb("follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up").returncode == 0
    client = AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        await run_migrations(client, 1, migrations=MIGRATIONS)
        result = await rehearse(client, MIGRATIONS, from_log=str(folder))
    finally:
        await client.close()
    assert (result.from_version, result.to_version) == (0, 3)
    assert [m.version for m in result.migrations] == [1, 2, 3]  # (the fixtures count their runs: not idempotent)
