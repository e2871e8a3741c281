"""A project that is not Analytiq adopts ``analytiq-db``: no list configured, init, new, up, status,
configuration from pyproject.toml and the environment, and the exit codes of docs/reference/exit-codes.md."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.migrations_fixtures.helpers import CLI, ROOT
from tools.testserver import free_port

OURS = (
    "MONGODB_URI",
    "ENV",
    "ANALYTIQ_DB_URI",
    "ANALYTIQ_DB_DATABASE",
    "ANALYTIQ_DB_MIGRATIONS",
    "ANALYTIQ_DB_TIMEOUT",
)
BASIC = "tests.migrations_fixtures.basic:MIGRATIONS"
RUFF = str(Path(sys.executable).parent / "ruff")


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run analytiq-db in ``cwd`` with none of our variables set except ``env`` (and a log in ``cwd``)."""
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean.setdefault("ANALYTIQ_DB_LOG", str(cwd / "analytiq-db.log"))
    clean.update(env)
    return subprocess.run([CLI, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=90)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Return the one error line on stderr (after the ``target:`` header, when the verb got as far as saying it)."""
    lines = result.stderr.splitlines()
    assert len(lines) in (1, 2) and lines[-1].startswith("analytiq-db: error: "), result.stderr
    assert len(lines) == 1 or lines[0].startswith("target: database "), result.stderr
    return lines[-1]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A project of someone else's: a pyproject.toml without our table."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1"\n')
    return tmp_path


@pytest.mark.parametrize("verb", [["up"], ["status"], ["new", "first"], ["check"], ["rehearse"], ["down"]])
def test_no_list_configured_stops_with_one_line(app: Path, mongo_uri: str, db_name: str, verb: list[str]) -> None:
    result = run(app, *verb, "--uri", mongo_uri, "--db", db_name)
    assert result.returncode == 3
    assert error_line(result).startswith(
        'analytiq-db: error: no migration list configured — add [tool.analytiq-db] migrations = "yourapp.migrations:'
    )
    assert result.stdout == ""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        assert db_name not in client.list_database_names()  # nothing applied, nothing recorded


def test_init_new_up_status_in_a_fresh_project(app: Path, mongo_uri: str, db_name: str) -> None:
    result = run(app, "init", "--migrations", "shop.migrations:MIGRATIONS", "--db", db_name)
    assert result.returncode == 0, result.stderr
    assert "wrote " in result.stdout and "[tool.analytiq-db]" in result.stdout
    again = run(app, "init")
    assert again.returncode == 3 and "already has a [tool.analytiq-db] table: nothing written" in error_line(again)

    sub = app / "shop"
    for description in ("create users index", "backfill names"):
        made = run(sub, "new", description)  # from a subdirectory: the pyproject is found walking up
        assert made.returncode == 0, made.stderr
    assert made.stdout == f"wrote BackfillNamesMigration (version 2) to {sub / 'migrations.py'}\n"
    lint = subprocess.run(
        [RUFF, "check", "--no-cache", "--isolated", "--select", "I,F,E,W,UP,B", str(sub / "migrations.py")],
        cwd=app,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout

    up = run(app, "up", "--uri", mongo_uri)  # the database comes from the table
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"database {db_name}: version 0 → 2 (2 steps applied)"
    status = run(app, "status", "--json", MONGODB_URI=mongo_uri)  # the guide's variable still works
    assert status.returncode == 0 and json.loads(status.stdout)["current"] == 2


def test_the_table_wins_over_a_stray_env_and_mongodb_uri_and_the_header_says_where_from(
    app: Path, mongo_uri: str, db_name: str
) -> None:
    table = f'[tool.analytiq-db]\nmigrations = "{BASIC}"\ndatabase = "{db_name}"\nuri_env = "SHOP_URI"\n'
    (app / "pyproject.toml").write_text(table)
    elsewhere = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"  # nothing listens there
    env = {"PYTHONPATH": str(ROOT), "SHOP_URI": mongo_uri, "MONGODB_URI": elsewhere, "ENV": "stray"}
    up = run(app, "up", "--timeout", "2", **env)
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"database {db_name}: version 0 → 3 (3 steps applied)"
    where = f"{app / 'pyproject.toml'} [tool.analytiq-db]"
    assert up.stderr.splitlines()[0] == (
        f"target: database {db_name} (from {where} database) on {mongo_uri} (from $SHOP_URI, named by {where} "
        "uri_env); $MONGODB_URI and $ENV are set but not read: [tool.analytiq-db] wins"
    )
    status = run(app, "status", "--json", **env)
    assert json.loads(status.stdout)["connection"] == {
        "uri": mongo_uri,
        "uri_from": f"$SHOP_URI, named by {where} uri_env",
        "database": db_name,
        "database_from": f"{where} database",
        "ignored": ["MONGODB_URI", "ENV"],
    }
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        assert "stray" not in client.list_database_names()

    # Our own variables and the flags still beat the table.
    other = run(app, "status", "--json", ANALYTIQ_DB_DATABASE=f"{db_name}_x", **env)
    assert json.loads(other.stdout)["connection"]["database_from"] == "$ANALYTIQ_DB_DATABASE"
    flagged = run(app, "history", "--json", "--db", f"{db_name}_y", "--migrations", BASIC, **env)
    assert flagged.returncode == 0, flagged.stderr  # history takes --migrations, as status and up do
    assert json.loads(flagged.stdout)["connection"]["database"] == f"{db_name}_y"


def test_the_guides_variables_still_work_without_a_table(app: Path, mongo_uri: str, db_name: str) -> None:
    env = {"PYTHONPATH": str(ROOT), "MONGODB_URI": mongo_uri, "ENV": db_name}
    up = run(app, "up", "--migrations", BASIC, **env)
    assert up.returncode == 0 and up.stdout.strip().endswith("version 0 → 3 (3 steps applied)")
    assert up.stderr.splitlines()[0] == f"target: database {db_name} (from $ENV) on {mongo_uri} (from $MONGODB_URI)"
    status = run(app, "status", "--json", "--migrations", BASIC, **env)
    connection = json.loads(status.stdout)["connection"]
    assert (connection["database_from"], connection["uri_from"]) == ("$ENV", "$MONGODB_URI")


@pytest.mark.parametrize(("args", "env"), [(["--db", ""], {}), ([], {"ENV": ""})])
def test_explicit_empty_database_is_an_error_not_dev(
    app: Path, mongo_uri: str, args: list[str], env: dict[str, str]
) -> None:
    result = run(app, "ping", "--uri", mongo_uri, *args, **env)
    assert result.returncode == 3
    assert error_line(result).endswith("is empty — give a value or leave it unset")


@pytest.mark.parametrize(
    "args",
    [
        ["history", "--limit", "-5"],
        ["up", "--lock-wait", "-1"],
        ["up", "--lease", "0"],
        ["ping", "--timeout", "0"],
        ["down", "--steps", "0"],
        ["rehearse", "--sample", "0"],
        ["backup", "--src", "a", "--dest", "b", "--parallel", "0"],
    ],
)
def test_invalid_numbers_on_the_command_line_are_usage_errors(app: Path, args: list[str]) -> None:
    result = run(app, *args)
    assert result.returncode == 2
    assert "error: argument" in result.stderr and ("must be" in result.stderr or "not " in result.stderr)


def test_bad_numbers_in_the_environment_are_configuration_errors(app: Path, mongo_uri: str) -> None:
    result = run(app, "up", "--uri", mongo_uri, "--migrations", BASIC, ANALYTIQ_DB_LEASE="0", PYTHONPATH=str(ROOT))
    assert result.returncode == 3
    assert error_line(result) == (
        "analytiq-db: error: ANALYTIQ_DB_LEASE='0' is not a number of seconds more than 0 — e.g. 30"
    )


def test_status_exits_1_when_it_flags_a_problem(app: Path, mongo_uri: str, db_name: str) -> None:
    env = {"PYTHONPATH": str(ROOT), "ANALYTIQ_DB_URI": mongo_uri, "ENV": db_name}
    assert run(app, "up", "--migrations", BASIC, **env).returncode == 0
    fine = run(app, "status", "--migrations", BASIC, **env)
    assert fine.returncode == 0
    reordered = run(app, "status", "--migrations", "tests.migrations_fixtures.basic:REORDERED", **env)
    assert reordered.returncode == 1 and "applied as" in reordered.stdout
    assert reordered.stderr.startswith("target: database ") and reordered.stderr.count("\n") == 1  # the header alone


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("def broken(:\n", "migrations module 'badmigs' has a syntax error: invalid syntax (badmigs.py, line 1)"),
        ("raise RuntimeError('no config here')\n", "migrations module 'badmigs' raised RuntimeError when imported"),
    ],
)
def test_a_broken_migrations_module_is_a_configuration_error(app: Path, source: str, needle: str) -> None:
    (app / "badmigs.py").write_text(source)
    result = run(app, "status", "--migrations", "badmigs:MIGRATIONS")
    assert result.returncode == 3
    assert needle in error_line(result)


def test_rehearse_refuses_a_database_that_does_not_exist(app: Path, mongo_uri: str, db_name: str) -> None:
    result = run(app, "rehearse", "--uri", mongo_uri, "--db", db_name, "--migrations", BASIC, PYTHONPATH=str(ROOT))
    assert result.returncode == 3
    assert f"error: database '{db_name}' does not exist on 127.0.0.1:" in error_line(result)


def test_json_failure_prints_an_error_object_on_stdout(app: Path) -> None:
    result = run(app, "ping", "--json", "--uri", "notauri")
    assert result.returncode == 3
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    assert error["code"] == 3 and error["name"] == "configuration"
    assert error["message"] == "invalid MongoDB URI 'notauri': not a mongodb:// URI"
    assert error["hint"].startswith("expected mongodb://")
    usage = run(app, "history", "--json", "--limit", "-5")
    assert usage.returncode == 2 and json.loads(usage.stdout)["error"]["code"] == 2


def test_the_default_log_is_private_in_the_state_directory(app: Path) -> None:
    state = app / "state"
    result = run(app, "ping", "--uri", "notauri", ANALYTIQ_DB_LOG="", XDG_STATE_HOME=str(state))
    assert result.returncode == 3
    log = state / "analytiq-db" / "analytiq-db.log"
    assert "invalid MongoDB URI" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "command",
    [
        [CLI, "--version"],
        [str(Path(sys.executable).parent / "backup-db"), "--version"],
        [sys.executable, "-m", "analytiq_data", "--version"],
        [sys.executable, "-m", "analytiq_data.cli.backup_main", "--version"],
    ],
)
def test_version_everywhere(command: list[str]) -> None:
    from importlib.metadata import version

    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip().endswith(version("analytiq_data"))


def test_backup_help_speaks_of_the_command_it_is(app: Path) -> None:
    helped = run(app, "backup", "--help")
    assert "analytiq-db backup --src-uri" in helped.stdout and "backup_db.py" not in helped.stdout
    module = subprocess.run(
        [sys.executable, "-m", "analytiq_data.cli.backup_main"], capture_output=True, text=True, timeout=60
    )
    # --dest is not required by the parser: --archive/--out are the other destinations
    assert module.returncode == 2 and "the following arguments are required: --src" in module.stderr
