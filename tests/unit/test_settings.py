"""Settings: flags > environment > [tool.analytiq-db] in pyproject.toml > defaults, built in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytiq_data.errors import ConfigurationError
from analytiq_data.settings import DEFAULT_URI, Flags, Settings, find_project, resolve

VARIABLES = (
    "MONGODB_URI",
    "ENV",
    "ANALYTIQ_DB_URI",
    "ANALYTIQ_DB_DATABASE",
    "ANALYTIQ_DB_TIMEOUT",
    "ANALYTIQ_DB_MIGRATIONS",
    "ANALYTIQ_DB_LOCK_WAIT",
    "ANALYTIQ_DB_LEASE",
    "ANALYTIQ_DB_DRIVER",
)

TABLE = """[project]
name = "app"

[tool.analytiq-db]
migrations = "app.migs:MIGRATIONS"
database = "fromtoml"
uri = "mongodb://tomlhost/"
timeout = 7
lock_wait = 0
lease = 45
"""


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No variables of ours, and a working directory without a pyproject.toml above it."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a [tool.analytiq-db] table; the working directory is a subdirectory of it."""
    (tmp_path / "pyproject.toml").write_text(TABLE)
    sub = tmp_path / "app" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    return tmp_path


def test_defaults() -> None:
    s = Settings.load()
    assert (s.uri, s.db, s.timeout_s, s.migrations, s.lock_wait_s, s.lease_s) == (
        DEFAULT_URI,
        "dev",
        5.0,
        None,
        None,
        None,
    )
    assert s.project is None and s.origin["db"] == "default"


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://envhost/")
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("ANALYTIQ_DB_TIMEOUT", "2.5")
    s = Settings.load()
    assert (s.uri, s.db, s.timeout_s) == ("mongodb://envhost/", "prod", 2.5)
    s = Settings.load(uri="mongodb://flaghost/", db="stage", timeout_s=1)
    assert (s.uri, s.db, s.timeout_s) == ("mongodb://flaghost/", "stage", 1)


def test_pyproject_found_walking_up_gives_every_setting(project: Path) -> None:
    s = resolve(Flags())
    assert s.project is not None and s.project.path == project / "pyproject.toml"
    assert (s.uri, s.db, s.timeout_s, s.migrations, s.lock_wait_s, s.lease_s) == (
        "mongodb://tomlhost/",
        "fromtoml",
        7.0,
        "app.migs:MIGRATIONS",
        0.0,
        45.0,
    )
    assert s.origin["migrations"].endswith("pyproject.toml [tool.analytiq-db] migrations")


def test_our_variables_beat_pyproject_and_flags_beat_both(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTIQ_DB_MIGRATIONS", "env.migs:LIST")
    monkeypatch.setenv("ANALYTIQ_DB_LEASE", "20")
    monkeypatch.setenv("ANALYTIQ_DB_URI", "mongodb://ours/")
    monkeypatch.setenv("ANALYTIQ_DB_DATABASE", "ourdb")
    s = resolve(Flags())
    assert (s.uri, s.db, s.migrations, s.lease_s, s.timeout_s) == ("mongodb://ours/", "ourdb", "env.migs:LIST", 20.0, 7)
    assert s.origin["db"] == "ANALYTIQ_DB_DATABASE" and s.source("lease") == "$ANALYTIQ_DB_LEASE"
    s = resolve(Flags(uri="mongodb://flag/", db="flagdb", migrations="flag:M", lease_s=3, lock_wait_s=9))
    assert (s.uri, s.db, s.migrations, s.lease_s, s.lock_wait_s) == ("mongodb://flag/", "flagdb", "flag:M", 3, 9)
    assert (s.source("uri"), s.source("db")) == ("--uri", "--db")


def test_the_table_beats_a_stray_env_and_mongodb_uri(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://stray/")
    monkeypatch.setenv("ENV", "prod")
    s = resolve(Flags())
    assert (s.uri, s.db) == ("mongodb://tomlhost/", "fromtoml")
    assert s.source("db") == f"{project / 'pyproject.toml'} [tool.analytiq-db] database"
    assert s.ignored == ("MONGODB_URI", "ENV")
    assert resolve(Flags(db="flagdb")).ignored == ("MONGODB_URI",)  # ENV is not passed over for a flag


def test_the_guides_variables_are_read_for_what_the_table_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.analytiq-db]\nmigrations = "app.migs:MIGRATIONS"\n')
    monkeypatch.setenv("MONGODB_URI", "mongodb://guide/")
    monkeypatch.setenv("ENV", "prod")
    s = resolve(Flags())
    assert (s.uri, s.db, s.source("uri"), s.source("db"), s.ignored) == (
        "mongodb://guide/", "prod", "$MONGODB_URI", "$ENV", ()
    )


def test_uri_env_and_database_env_name_the_only_variables_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = '[tool.analytiq-db]\nuri_env = "SHOP_URI"\ndatabase_env = "SHOP_DB"\n'
    (tmp_path / "pyproject.toml").write_text(table)
    monkeypatch.setenv("MONGODB_URI", "mongodb://stray/")
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("SHOP_URI", "mongodb://shop/")
    with pytest.raises(ConfigurationError) as info:
        resolve(Flags())
    assert info.value.user_line() == (
        f"{tmp_path / 'pyproject.toml'} [tool.analytiq-db] database_env names SHOP_DB, which is not set — "
        "export SHOP_DB=<database name> or pass --db"
    )
    monkeypatch.setenv("SHOP_DB", "shop")
    s = resolve(Flags())
    assert (s.uri, s.db, s.ignored) == ("mongodb://shop/", "shop", ("MONGODB_URI", "ENV"))
    where = f"{tmp_path / 'pyproject.toml'} [tool.analytiq-db]"
    assert s.source("uri") == f"$SHOP_URI, named by {where} uri_env"
    assert s.source("db") == f"$SHOP_DB, named by {where} database_env"


def test_the_driver_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve(Flags()).driver == "auto"
    (tmp_path / "pyproject.toml").write_text('[tool.analytiq-db]\ndriver = "motor"\n')
    assert resolve(Flags()).driver == "motor"
    monkeypatch.setenv("ANALYTIQ_DB_DRIVER", "pymongo")
    assert resolve(Flags()).driver == "pymongo" and resolve(Flags(driver="auto")).driver == "auto"
    monkeypatch.setenv("ANALYTIQ_DB_DRIVER", "mongoose")
    with pytest.raises(ConfigurationError) as info:
        resolve(Flags())
    assert info.value.user_line() == "ANALYTIQ_DB_DRIVER='mongoose' is not a driver — use auto, pymongo or motor"


def test_uri_env_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.analytiq-db]\nuri_env = "APP_DB_URI"\n')
    with pytest.raises(ConfigurationError, match="names APP_DB_URI, which is not set"):
        resolve(Flags())
    assert resolve(Flags(uri="mongodb://flag/")).uri == "mongodb://flag/"  # not read when a flag is given
    monkeypatch.setenv("APP_DB_URI", "mongodb://user:pw@apphost/")
    s = resolve(Flags())
    assert s.uri == "mongodb://user:pw@apphost/" and s.origin["uri"] == "APP_DB_URI"


@pytest.mark.parametrize(
    ("flags", "variable", "needle"),
    [
        (Flags(db=""), None, "--db is empty"),
        (Flags(), ("ENV", ""), "ENV is empty"),
        (Flags(), ("ANALYTIQ_DB_DATABASE", " "), "ANALYTIQ_DB_DATABASE is empty"),
        (Flags(uri=""), None, "--uri is empty"),
        (Flags(), ("ANALYTIQ_DB_MIGRATIONS", ""), "ANALYTIQ_DB_MIGRATIONS is empty"),
    ],
)
def test_an_explicit_empty_value_is_an_error_not_the_default(
    flags: Flags, variable: tuple[str, str] | None, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if variable:
        monkeypatch.setenv(*variable)
    with pytest.raises(ConfigurationError, match=needle):
        resolve(flags)


def test_a_verb_without_db_does_not_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "")
    assert resolve(Flags(), fields={"uri", "timeout"}).db == "dev"


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("ANALYTIQ_DB_TIMEOUT", "soon", "ANALYTIQ_DB_TIMEOUT='soon' is not a number of seconds more than 0"),
        ("ANALYTIQ_DB_TIMEOUT", "0", "more than 0"),
        ("ANALYTIQ_DB_LEASE", "0", "ANALYTIQ_DB_LEASE='0' is not a number of seconds more than 0"),
        ("ANALYTIQ_DB_LOCK_WAIT", "-1", "ANALYTIQ_DB_LOCK_WAIT='-1' is not a number of seconds 0 or more"),
    ],
)
def test_bad_numbers_from_the_environment_are_configuration_errors(
    variable: str, value: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        resolve(Flags())
    assert needle in info.value.message


def test_zero_lock_wait_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTIQ_DB_LOCK_WAIT", "0")
    assert resolve(Flags()).lock_wait_s == 0


@pytest.mark.parametrize("name", ["a/b", "a.b", "with space", "x" * 64, "d$"])
def test_bad_database_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid database name"):
        Settings.load(uri="mongodb://h/", db=name)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[tool.analytiq-db]\nmigration = "x:Y"\n', "unknown key 'migration' in [tool.analytiq-db]"),
        ("[tool.analytiq-db]\nmigrations = 3\n", "migrations must be a string"),
        ('[tool.analytiq-db]\nlease = "long"\n', "lease='long' is not a number of seconds"),
        ("[tool.analytiq-db\n", "is not valid TOML"),
        ('[tool.analytiq-db]\nuri = "mongodb://a/"\nuri_env = "X"\n', "uri_env and uri are both set"),
    ],
)
def test_bad_tables_are_one_configuration_error(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigurationError) as info:
        resolve(Flags())
    assert needle in info.value.message


def test_a_pyproject_without_the_table_is_passed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.analytiq-db]\nmigrations = "outer:M"\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    monkeypatch.chdir(inner)
    found = find_project()
    assert found is not None and found.path == tmp_path / "pyproject.toml"


def test_no_migration_list_says_how_to_configure_one() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve(Flags()).migration_list()
    line = info.value.user_line()
    assert line.startswith("no migration list configured — add [tool.analytiq-db] migrations =")
    assert "analytiq-db init" in line and "--migrations" in line
