"""A migration list written for motor runs from ``analytiq-db`` as it runs from the app's motor client.

The steps of such a list build ``motor.motor_asyncio.AsyncIOMotorGridFSBucket(db)``, which accepts
only a motor database. Every verb that runs steps (``up``, ``down``, ``rehearse``, ``up --backup``,
``--hooks``) gives them motor's kind of database when the list's modules import motor (detected) or
when ``driver = "motor"`` is declared (flag, variable, pyproject table); ``driver = "pymongo"``
overrides the detection. Without motor installed such a list stops with one line saying what to install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.migrations_fixtures.original_app.seed import seed
from tests.server.test_dropin_original_app import HEAD, at_top, at_two

MOTOR = "tests.migrations_fixtures.motor_gridfs:MIGRATIONS"
ORIGINAL = "tests.migrations_fixtures.original_app:MIGRATIONS"
BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
OURS = ("MONGODB_URI", "ENV", "ANALYTIQ_DB_URI", "ANALYTIQ_DB_DATABASE", "ANALYTIQ_DB_MIGRATIONS", "ANALYTIQ_DB_DRIVER")
MOTOR_NOTE = "the app's motor client cannot join the engine's transaction"


def run(
    *args: str, prefix: tuple[str, ...] = (CLI,), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run analytiq-db (or ``prefix``) in the repository with none of our variables set except ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean["PYTHONPATH"] = str(ROOT)
    clean.update(env or {})
    return subprocess.run([*prefix, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli(mongo_uri: str, db_name: str) -> Any:
    def call(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(*args, "--uri", mongo_uri, "--db", db_name, env=env)

    return call


def readmes(sdb: Database[Any]) -> list[str]:
    return [f["filename"] for f in sdb["docs.files"].find({"filename": "readme.txt"})]


def test_a_list_building_motors_gridfs_bucket_runs_up_and_down_from_the_command_line(
    cli: Any, sdb: Database[Any]
) -> None:
    up = cli("up", "--migrations", MOTOR, "--json")
    assert up.returncode == 0, up.stderr
    data = json.loads(up.stdout)
    assert (data["from_version"], data["to_version"]) == (0, 2)
    assert data["connection"]["driver"] == "motor"
    assert data["connection"]["driver_from"] == "detected: tests.migrations_fixtures.motor_gridfs imports motor"
    assert readmes(sdb) == ["readme.txt"]

    down = cli("down", "--to", "0", "--migrations", MOTOR)
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip().endswith("version 2 → 0 (2 steps reverted)")
    assert "steps get a motor database (detected: tests.migrations_fixtures.motor_gridfs imports motor)" in (
        down.stderr
    )
    assert readmes(sdb) == []


async def test_the_original_apps_list_runs_up_and_down_from_the_command_line_on_motor(
    cli: Any, db: AsyncDatabase[Any]
) -> None:
    await seed(db)
    up = cli("up", "--migrations", ORIGINAL, "--json")
    assert up.returncode == 0, up.stderr
    steps = json.loads(up.stdout)["steps"]
    assert [s["version"] for s in steps] == list(range(1, HEAD + 1))
    assert {(s["transactional"], s["transaction_note"]) for s in steps} == {(False, MOTOR_NOTE)}  # motor's bucket
    await at_top(db)

    down = cli("down", "--to", "2", "--migrations", ORIGINAL, "--json")
    assert down.returncode == 0, down.stderr
    assert [s["version"] for s in json.loads(down.stdout)["steps"]] == list(range(HEAD, 2, -1))
    await at_two(db)


def test_hooks_backup_first_and_rehearse_give_steps_motor_databases(
    cli: Any, sdb: Database[Any], mongo_uri: str
) -> None:
    hooked = cli("up", "--to", "1", "--migrations", MOTOR, "--hooks", "tests.migrations_fixtures.motor_gridfs:HOOKS")
    assert hooked.returncode == 0, hooked.stderr
    rehearsal = cli("rehearse", "--migrations", MOTOR, "--json")
    assert rehearsal.returncode == 0, rehearsal.stdout
    assert [m["passed"] for m in json.loads(rehearsal.stdout)["migrations"]] == [True]
    backed = cli("up", "--backup", "--migrations", MOTOR, "--json")
    assert backed.returncode == 0, backed.stderr
    data = json.loads(backed.stdout)
    sdb.client.drop_database(data["backup"])
    assert (data["from_version"], data["to_version"]) == (1, 2)


def test_a_declared_driver_beats_the_detection(cli: Any) -> None:
    refused = cli("up", "--migrations", MOTOR, "--driver", "pymongo")
    assert refused.returncode == 6
    assert "must be MotorDatabase" in refused.stderr.splitlines()[-1]

    declared = cli("up", "--migrations", BASIC, "--json", ANALYTIQ_DB_DRIVER="motor")
    assert declared.returncode == 0, declared.stderr
    data = json.loads(declared.stdout)
    assert (data["connection"]["driver"], data["connection"]["driver_from"]) == ("motor", "$ANALYTIQ_DB_DRIVER")
    assert {s["transaction_note"] for s in data["steps"]} == {MOTOR_NOTE}

    bad = cli("up", "--migrations", BASIC, ANALYTIQ_DB_DRIVER="mongoose")
    assert bad.returncode == 3
    assert bad.stderr.splitlines()[-1] == (
        "analytiq-db: error: ANALYTIQ_DB_DRIVER='mongoose' is not a driver — use auto, pymongo or motor"
    )


NO_MOTOR = (
    sys.executable,
    "-c",
    "import sys; sys.modules['motor'] = None; from analytiq_data.cli.main import console_main; console_main()",
)


def test_without_motor_installed_a_motor_list_gets_one_line_saying_what_to_install(
    mongo_uri: str, db_name: str
) -> None:
    imported = run("up", "--migrations", MOTOR, "--uri", mongo_uri, "--db", db_name, prefix=NO_MOTOR)
    assert imported.returncode == 3
    assert imported.stderr.splitlines() == [
        "analytiq-db: error: migrations module 'tests.migrations_fixtures.motor_gridfs' imports motor, which is "
        "not installed — install it (pip install motor): the list's steps are written for motor's database"
    ]
    where = ("--uri", mongo_uri, "--db", db_name)
    declared = run("up", "--migrations", BASIC, "--driver", "motor", *where, prefix=NO_MOTOR)
    assert declared.returncode == 3
    assert declared.stderr.splitlines()[-1] == (
        "analytiq-db: error: the steps are to get a motor database (--driver), but motor is not installed — "
        "install it (pip install motor), or declare driver = \"pymongo\""
    )
