"""One verb API over one declared target (issue 10, "Shape of the code"): per run the list is
checked once, the server is asked ``hello`` once and the settings are resolved once, from the
command line and from Python alike."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data import settings as settings_module
from analytiq_data.cli import main as cli_main
from analytiq_data.cli import migrate_options, options
from analytiq_data.client import make_client
from analytiq_data.migrations import Target
from analytiq_data.migrations.engine.loader import load_migrations
from tests.migrations_fixtures import basic, counted

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
COUNTED = "tests.migrations_fixtures.counted:MIGRATIONS"


class CommandNames(monitoring.CommandListener):
    """The names of the commands a client sent (PyMongo publishes no event for its monitors'
    heartbeats nor for the handshake of a new connection: those are not commands of the verb)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def hellos(self) -> int:
        return sum(1 for name in self.names if name.lower() in ("hello", "ismaster"))


def _watched_make_client(monkeypatch: pytest.MonkeyPatch) -> CommandNames:
    """Make the command line's client (and the engine's copies of it) report to a CommandNames."""
    names = CommandNames()

    def watched(uri: str, **kwargs: Any) -> AsyncMongoClient[Any]:
        return make_client(uri, event_listeners=[names], **kwargs)

    monkeypatch.setattr(migrate_options, "make_client", watched)
    return names


def test_cli_up_sends_hello_once(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, db_name: str) -> None:
    names = _watched_make_client(monkeypatch)
    code = cli_main.main(["up", "--uri", mongo_uri, "--db", db_name, "--migrations", BASIC])
    assert code == 0
    assert names.names.count("findAndModify") >= 1  # the engine's bookkeeping (the lock) was watched too
    assert "update" in names.names  # and the steps' client
    assert names.hellos() == 1


def test_cli_status_and_history_send_hello_once(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, db_name: str) -> None:
    names = _watched_make_client(monkeypatch)
    for verb in (["status", "--migrations", BASIC], ["history"], ["unlock"]):
        names.names.clear()
        assert cli_main.main([*verb, "--uri", mongo_uri, "--db", db_name]) == 0
        assert names.hellos() == 1, verb


async def test_python_up_sends_hello_once(mongo_uri: str, db_name: str) -> None:
    names = CommandNames()
    app: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, event_listeners=[names], tz_aware=True)
    try:
        result = await ad.migrations.up(Target(app, db_name, mongo_uri), migrations=basic.MIGRATIONS)
        assert result.to_version == 3
        assert "findAndModify" in names.names and "update" in names.names
        assert names.hellos() == 1
        names.names.clear()
        again = await ad.migrations.run_migrations(Target(app, db_name, mongo_uri), migrations=basic.MIGRATIONS)
        assert again.nothing_to_do
        assert names.hellos() == 1
    finally:
        await app.close()


def test_cli_checks_the_list_once(mongo_uri: str, db_name: str) -> None:
    counted.CHECKS["n"] = 0
    assert cli_main.main(["up", "--uri", mongo_uri, "--db", db_name, "--migrations", COUNTED]) == 0
    assert counted.CHECKS["n"] == len(counted.MIGRATIONS)  # each entry checked once, not once per layer


async def test_python_verbs_check_the_list_once(aclient: ad.AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    for run in (
        lambda: ad.migrations.up(aclient, migrations=counted.MIGRATIONS),
        lambda: ad.migrations.run_migrations(aclient, 0, migrations=counted.MIGRATIONS),
        lambda: ad.migrations.status(aclient, migrations=counted.MIGRATIONS),
    ):
        counted.CHECKS["n"] = 0
        await run()
        assert counted.CHECKS["n"] == len(counted.MIGRATIONS)
    checked = load_migrations(COUNTED)
    counted.CHECKS["n"] = 0
    await ad.migrations.engine.verbs.up(aclient, checked)  # a checked list is taken as it is
    assert counted.CHECKS["n"] == 0
    assert await db.counted.count_documents({}) == 2


def test_cli_up_with_backup_resolves_the_settings_once(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, db_name: str
) -> None:
    calls: list[Any] = []
    real = settings_module.resolve

    def counting(*args: Any, **kwargs: Any) -> settings_module.Settings:
        calls.append(args)
        return real(*args, **kwargs)

    sync: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as sync:
        sync[db_name].command("insert", "seed", documents=[{"_id": 1}])  # something to back up
    monkeypatch.setattr(settings_module, "resolve", counting)
    monkeypatch.setattr(options, "resolve", counting)
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1")  # never read: --uri wins
    monkeypatch.setenv("ENV", "not_this_database")
    code = cli_main.main(["up", "--backup", "--uri", mongo_uri, "--db", db_name, "--migrations", BASIC])
    assert code == 0
    assert len(calls) == 1
    with MongoClient(mongo_uri) as sync:  # the backup really ran, on the settings' server and database
        records: list[dict[str, Any]] = list(sync[db_name].migration_history.find({"direction": "backup"}))
        (record,) = records
        assert record["outcome"] == "verified"
        sync.drop_database(record["backup"])
