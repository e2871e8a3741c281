"""Selecting many databases, without a server: the flags, the settings' precedence, patterns, shapes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bson import Int64, ObjectId

from analytiq_data.cli.options import database_flags
from analytiq_data.errors import ConfigurationError
from analytiq_data.fleet.select import Resolved, Selection, is_pattern, resolve_among
from analytiq_data.fleet.shapes import choose, shapes_of, type_name
from analytiq_data.settings import KEYS, Flags, database_patterns, resolve

VARIABLES = ("MONGODB_URI", "ENV", "ANALYTIQ_DB_DATABASE", "ANALYTIQ_DB_DATABASES", "ANALYTIQ_DB_URI")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _args(*db: str, all_databases: bool = False) -> argparse.Namespace:
    return argparse.Namespace(db=list(db) or None, all_databases=all_databases)


def test_one_plain_db_is_one_database_and_a_glob_or_repeats_are_several() -> None:
    assert database_flags(_args("shop")) == ("shop", None, "--db")
    assert database_flags(_args("tenant_*")) == (None, ("tenant_*",), "--db")
    assert database_flags(_args("a", "b")) == (None, ("a", "b"), "--db")
    assert database_flags(_args(all_databases=True)) == (None, ("*",), "--all-databases")
    assert database_flags(_args()) == (None, None, "--db")
    with pytest.raises(ConfigurationError, match="--all-databases and --db both"):
        database_flags(_args("a", all_databases=True))


def test_several_databases_win_or_lose_by_the_same_precedence_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.analytiq-db]\ndatabases = ["tenant_*", "acme"]\n')
    monkeypatch.setenv("ENV", "prod")
    s = resolve(Flags())
    assert s.databases == ("tenant_*", "acme")
    assert s.source("databases") == f"{tmp_path / 'pyproject.toml'} [tool.analytiq-db] databases"
    assert s.ignored == ("ENV",)  # the table says which databases: a stray ENV is passed over, and said
    monkeypatch.setenv("ANALYTIQ_DB_DATABASE", "one")  # our variable beats the table
    assert (resolve(Flags()).databases, resolve(Flags()).db) == (None, "one")
    monkeypatch.delenv("ANALYTIQ_DB_DATABASE")
    monkeypatch.setenv("ANALYTIQ_DB_DATABASES", "t1, t2")
    assert resolve(Flags()).databases == ("t1", "t2")
    assert resolve(Flags()).source("databases") == "$ANALYTIQ_DB_DATABASES"
    assert resolve(Flags(db="flagdb")).databases is None  # one --db beats every configured list
    assert resolve(Flags(databases=("x_*",))).databases == ("x_*",)


def test_both_shapes_at_one_level_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.analytiq-db]\ndatabase = "shop"\ndatabases = "app:TENANTS"\n')
    with pytest.raises(ConfigurationError, match="databases and database are both set"):
        resolve(Flags())
    monkeypatch.setenv("ANALYTIQ_DB_DATABASE", "a")
    monkeypatch.setenv("ANALYTIQ_DB_DATABASES", "b")
    with pytest.raises(ConfigurationError, match="ANALYTIQ_DB_DATABASE and ANALYTIQ_DB_DATABASES are both set"):
        resolve(Flags())


def test_the_configured_list_may_be_a_callable_a_file_or_a_list(tmp_path: Path) -> None:
    assert database_patterns("x", "myapp.tenants:list_tenant_dbs", tmp_path) == ("myapp.tenants:list_tenant_dbs",)
    (tmp_path / "tenants.txt").write_text("# our tenants\nacme\n\ntenant_* # the rest\n")
    assert database_patterns("x", "file:tenants.txt", tmp_path) == ("acme", "tenant_*")
    with pytest.raises(ConfigurationError, match="names no database"):
        database_patterns("x", [], tmp_path)
    with pytest.raises(ConfigurationError, match="must be a list of database names"):
        database_patterns("x", 3, tmp_path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        database_patterns("x", "file:missing.txt", tmp_path)
    assert "databases" in KEYS


def test_system_databases_are_never_selected_and_names_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="'admin' is a system database"):
        Selection(("admin", "tenant_1"))
    with pytest.raises(ConfigurationError, match="invalid database name"):
        Selection(("bad/name",))
    with pytest.raises(ConfigurationError, match="names two lists"):
        Selection(("a:B", "c:D"))
    assert is_pattern("tenant_*") and is_pattern("t?") and is_pattern("t[12]") and not is_pattern("tenant_1")
    assert Selection(("*",), ("demo_*",)).describe() == "all databases (from --db), excluding demo_*"


async def test_a_dumps_databases_are_matched_leaving_system_and_tool_names_out() -> None:
    held = ["admin", "t_1", "t_2", "t_1_backup_v3_20240601120000", "t_2__restore_tmp", "other"]
    found = await resolve_among(Selection(("t_*",), ("t_2",)), held, None, where="dump.archive")
    tool = ("t_1_backup_v3_20240601120000", "t_2__restore_tmp")
    assert found == Resolved(("t_1",), found.selection, ("t_2",), tool)
    assert found.describe() == (
        "1 database: t_* (from --db), excluding t_2; 2 of this tool's backup/scratch databases left out"
    )
    with pytest.raises(ConfigurationError) as nothing:
        await resolve_among(Selection(("zz_*",)), held, None, where="dump.archive")
    line = nothing.value.user_line()
    assert line.startswith("no database on dump.archive matches zz_* (from --db): nothing was done")
    with pytest.raises(ConfigurationError, match="holds no database 'missing'"):
        await resolve_among(Selection(("missing",)), held, None, where="dump.archive")


async def test_a_pattern_matching_nothing_in_a_dump_names_what_the_dump_holds() -> None:
    # status --all-databases lists the server's databases, not the dump's: the hint names the dump's
    held = ["admin", "t_1", "t_2", "t_2__restore_tmp"]
    with pytest.raises(ConfigurationError) as nothing:
        await resolve_among(Selection(("zz_*",)), held, None, where="dump.archive")
    line = nothing.value.user_line()
    assert "status --all-databases" not in line
    assert line.endswith("(quote it: --db 'tenant_*'); dump.archive holds: t_1, t_2, t_2__restore_tmp")


async def test_the_applications_function_gives_the_names(tmp_path: Path) -> None:
    async def tenants(client: object) -> list[str]:
        assert client == "the client"
        return ["t_2", "t_1", "local"]

    found = await resolve_among(Selection((), source=tenants), ["t_1", "t_2"], "the client", where="here")
    assert found.names == ("t_1", "t_2")  # sorted; local (a system database) never selected


def test_shapes_are_field_paths_with_their_bson_types() -> None:
    doc = {"_id": ObjectId(), "n": Int64(3), "tags": ["a", 1], "meta": {"ok": True, "when": None}}
    assert shapes_of("c", doc) == {
        ("c", "_id", "objectId"),
        ("c", "n", "long"),
        ("c", "tags", "array"),
        ("c", "tags[]", "string"),
        ("c", "tags[]", "int"),
        ("c", "meta", "object"),
        ("c", "meta.ok", "bool"),
        ("c", "meta.when", "null"),
    }
    assert (type_name(1.5), type_name(True), type_name(2)) == ("double", "bool", "int")


def test_the_sample_covers_the_most_shapes_greedily() -> None:
    a = frozenset({("c", "x", "int"), ("c", "y", "string")})
    same_as_a = frozenset(a)
    odd = frozenset({("c", "x", "string")})
    rich = a | {("c", "z", "array"), ("d", "w", "date")}
    picked = choose({"t_a": a, "t_b": same_as_a, "t_odd": odd, "t_rich": rich}, 2)
    assert [c.database for c in picked] == ["t_rich", "t_odd"]  # t_a and t_b add nothing after t_rich
    assert (picked[0].shapes, picked[0].new, picked[1].new) == (4, 4, 1)
    assert picked[1].why().startswith("1 of its 1 field shapes not seen in the databases chosen before it")
