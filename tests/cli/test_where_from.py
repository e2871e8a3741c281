"""Every verb that connects says where: the URI (redacted) and the database, and where each came from.

In text, a ``target:`` header line on stderr before the verb's work; under ``--json``, the ``connection``
object of the JSON result. Every such verb also accepts ``--migrations`` (``history`` refused it).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from pymongo.database import Database

from analytiq_data.migrations.engine.drivers import DETECTED_PYMONGO
from tests.migrations_fixtures.helpers import CLI, ROOT

BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
OURS = ("MONGODB_URI", "ENV", "ANALYTIQ_DB_URI", "ANALYTIQ_DB_DATABASE", "ANALYTIQ_DB_MIGRATIONS", "ANALYTIQ_DB_DRIVER")
VERBS = [
    ["rehearse", "--to", "1", "--migrations", "analytiq_data.migrations.migration:MIGRATIONS"],
    ["ping"],
    ["status", "--migrations", BASIC],
    ["up", "--to", "1", "--migrations", BASIC],
    ["history", "--migrations", BASIC],
    ["stamp", "1", "--migrations", BASIC],
    ["unlock", "--migrations", BASIC],
    ["check", "--migrations", BASIC],
    ["down", "--to", "0", "--migrations", BASIC],
]


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    """Run analytiq-db with the URI in a variable of ours and the database in the guide's ENV."""

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in OURS}
        env |= {"ANALYTIQ_DB_URI": mongo_uri, "ENV": db_name, "PYTHONPATH": str(ROOT)}
        return subprocess.run([CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    return call


def test_every_connecting_verb_says_where_in_its_header_and_its_json(
    cli: Any, mongo_uri: str, db_name: str, sdb: Database[Any]
) -> None:
    sdb.users.insert_one({"_id": 1, "name": "Ada"})  # rehearse needs a database that exists
    header = f"target: database {db_name} (from $ENV) on {mongo_uri} (from $ANALYTIQ_DB_URI)"
    expected = {"uri": mongo_uri, "uri_from": "$ANALYTIQ_DB_URI", "database": db_name, "database_from": "$ENV"}
    for verb in VERBS:
        text = cli(*verb)
        assert text.returncode == 0, (verb, text.stderr)
        assert text.stderr.splitlines()[0] == header, verb
        as_json = cli(*verb, "--json")
        assert as_json.returncode == 0, (verb, as_json.stderr)
        connection = json.loads(as_json.stdout)["connection"]
        if verb[0] in ("up", "down", "rehearse"):  # verbs that run steps say which kind of database they get
            assert connection.pop("driver") == "pymongo"
            analytiq = BASIC not in verb  # Analytiq's four declare database_kind; the basic list declares nothing
            why = "declared: OcrKeyMigration.database_kind" if analytiq else DETECTED_PYMONGO
            assert connection.pop("driver_from") == why
        assert connection == expected, verb


def test_a_password_in_the_uri_is_never_shown(cli: Any, mongo_uri: str) -> None:
    secret = mongo_uri.replace("mongodb://", "mongodb://admin:hunter2@")
    result = cli("ping", "--uri", secret, "--timeout", "1")  # the test server has no users: the login fails
    assert "hunter2" not in result.stderr + result.stdout
    assert result.stderr.splitlines()[0].startswith("target: database ") and "admin:***@" in result.stderr
