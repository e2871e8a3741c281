"""``restore --from-log`` checks the log once: the command used to plan (and CRC) the base and the segments
to refuse a bad moment before asking, then ``restore_to_moment`` planned and checked them all again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bson.timestamp import Timestamp

from analytiq_data.backup.log import base, reader
from analytiq_data.backup.log.catalog import load_catalog
from analytiq_data.cli import main as cli_main
from tests.server.pitr_model import snapshot, state_at
from tests.server.test_pitr import adb, seed, sync_client


def test_restore_from_the_log_checks_the_base_once(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    seed(mongo_uri, db_name)
    folder = tmp_path / "log"
    assert adb("follow", "--src-uri", mongo_uri, "--src", db_name, "--to", str(folder), "--catch-up").returncode == 0
    at = load_catalog(folder).bases[0]["at"]
    checked: list[Any] = []
    real = base.check_base

    def counting(*args: Any) -> Path:
        checked.append(args)
        return real(*args)

    monkeypatch.setattr(reader, "check_base", counting)
    target = f"{db_name}_at"
    argv = ["restore", "--uri", mongo_uri, "--db", target, "--from-log", str(folder), "--yes"]
    assert cli_main.main([*argv, "--at", f"Timestamp({at['t']}, {at['i']})", "--parallel", "2"]) == 0
    assert len(checked) == 1  # the base's size and CRC-64: read once, by the plan the command made
    with sync_client(mongo_uri) as client:
        assert snapshot(client[target]) == state_at([], Timestamp(0, 0))  # the seed, as the base holds it
