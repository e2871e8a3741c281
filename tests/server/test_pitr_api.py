"""Point-in-time recovery from Python: ``run_migrations(..., backup=True, backup_log=DIR)`` as ``up --backup --backup-log``."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations import run_migrations
from tests.migrations_fixtures.basic import MIGRATIONS
from tests.server.test_pitr import ADB, ROOT, WAIT_S, durable, seed, sync_client, wait_for


async def test_run_migrations_with_a_backup_log_records_a_restore_point(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    follow = [ADB, "follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder)]
    follower = subprocess.Popen(follow, cwd=ROOT, text=True, stderr=subprocess.PIPE)
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
