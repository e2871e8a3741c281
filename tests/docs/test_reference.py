"""The generated reference pages say what the code does, and fail the build when the code lacks a description."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import textwrap
from enum import IntEnum
from pathlib import Path

import pytest

from analytiq_data.cli import backup_main, main
from analytiq_data.errors import ExitCode
from tests.docs.examples import DOCS
from tools.docsgen import DocsGenError
from tools.docsgen.api import PUBLIC_MODULES, public_entries
from tools.docsgen.cli import cli_page, project_parsers, subcommands
from tools.docsgen.configuration import Scan, configuration_page, variables_read
from tools.docsgen.exit_codes import exit_codes_page, meanings, project_exit_codes_page
from tools.docsgen.pages import generated_pages


def every_option(parser: argparse.ArgumentParser) -> set[str]:
    """Return every option string of a parser and of its subcommands, however deep."""
    shown = [a for a in parser._actions if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
    found = {s for a in shown for s in a.option_strings}
    for _, _, sub in subcommands(parser):
        found |= every_option(sub)
    return found


def test_the_cli_page_lists_every_command_and_flag() -> None:
    page = cli_page(project_parsers())
    for name, parser in project_parsers():
        for verb, _, _ in subcommands(parser):
            assert f"## {name} {verb}\n" in page
        for option in every_option(parser):
            assert f"`{option}" in page or f", {option}" in page, f"{option} of {name} is missing"
    assert "### analytiq-db backup" in page and "## backup-db" in page
    assert {"status", "up", "down", "restore"} <= {verb for verb, _, _ in subcommands(main.build_parser())}
    assert backup_main.PROG == "backup-db"


def test_a_new_flag_appears_with_its_help_expanded_and_hidden_ones_stay_hidden() -> None:
    parser = argparse.ArgumentParser(prog="tool")
    verbs = parser.add_subparsers(metavar="COMMAND")
    run = verbs.add_parser("run", help="run it")
    run.add_argument("--limit", type=int, default=7, help="at most this many (default: %(default)s)")
    run.add_argument("--mode", choices=("fast", "safe"), help="how")
    run.add_argument("--secret", help=argparse.SUPPRESS)
    page = cli_page([("tool", parser)])
    assert "### tool run\n\nrun it" in page
    assert "| `--limit LIMIT` | at most this many (default: 7) |" in page
    assert "| `--mode {fast,safe}` | how (one of: fast, safe) |" in page
    assert "--secret" not in page


def test_exit_codes_page_lists_every_member_with_its_meaning_and_errors() -> None:
    page = project_exit_codes_page()
    for member in ExitCode:
        assert f"| {int(member)} | `{member.name.lower()}` |" in page
    assert "`LockError`" in page.split("| 5 |")[1].split("\n")[0]


def load_enum(path: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> type[IntEnum]:
    """Import ``source`` as a module from ``path`` and return its ``Codes`` enum (inspect reads the file)."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, path.stem, module)
    spec.loader.exec_module(module)
    codes: type[IntEnum] = module.Codes
    return codes


CODES = """from enum import IntEnum


class Codes(IntEnum):
    OK = 0  # fine
    SLOW = 9
    \"\"\"took too long\"\"\"
    NEW = 12
"""


def test_an_exit_code_without_a_meaning_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codes = load_enum(tmp_path / "codes_without.py", CODES, monkeypatch)
    with pytest.raises(DocsGenError, match=r"Codes.NEW \(12\) has no meaning"):
        exit_codes_page(codes, {})
    codes = load_enum(tmp_path / "codes_with.py", CODES.replace("NEW = 12", "NEW = 12  # a new failure"), monkeypatch)
    assert meanings(codes) == {"OK": "fine", "SLOW": "took too long", "NEW": "a new failure"}
    assert "| 12 | `new` | a new failure | `NewError` |" in exit_codes_page(codes, {12: ["NewError"]})


def test_environment_variables_are_found_where_the_code_reads_them() -> None:
    source = textwrap.dedent(
        """
        import os
        NAME = "APP_FROM_CONSTANT"
        a = os.environ.get("APP_A")
        b = os.getenv(NAME)
        c = os.environ["APP_C"]
        d = env.get("APP_D", "x")
        e = settings.get("NOT_AN_ENVIRONMENT")
        """
    )
    assert variables_read(source) == {"APP_A", "APP_FROM_CONSTANT", "APP_C", "APP_D"}


def test_a_variable_read_but_not_documented_fails_the_build() -> None:
    scan = Scan(read={"APP_NEW": ["app.module"]}, mentioned={"APP_NEW": ["app.module"]})
    with pytest.raises(DocsGenError, match=r"APP_NEW is read by app\.module but not documented"):
        configuration_page({}, "app", {}, scan)
    with pytest.raises(DocsGenError, match="lists APP_GONE, which no code reads"):
        configuration_page({}, "app", {"APP_NEW": "new", "APP_GONE": "gone"}, scan)


def test_the_python_api_documents_every_public_name_where_it_is_defined() -> None:
    import analytiq_data.migrations as migrations

    entries = {e.name: e.path for e in public_entries("analytiq_data.migrations")}
    assert set(entries) == set(migrations.__all__)
    assert entries["run_migrations"] == "analytiq_data.migrations.run_migrations"
    assert entries["MIGRATIONS"] == "analytiq_data.migrations.migration.MIGRATIONS"  # lazy: where it is defined
    assert entries["check"] == "analytiq_data.guard.check.check"
    pages = generated_pages()
    for module in PUBLIC_MODULES:
        page = next(text for path, text in pages.items() if f"::: {module}\n" in text)
        assert all(f"::: {e.path}\n" in page for e in public_entries(module))


def test_the_collections_page_names_every_collection_the_code_writes() -> None:
    from analytiq_data.backup.consistent.dumpfile import CATCHUP_COLLECTION
    from analytiq_data.backup.plan import MANIFEST_COLLECTION, STATE_COLLECTION
    from analytiq_data.migrations.analytiq.journal import JOURNAL_PREFIX
    from analytiq_data.migrations.batch import CHECKPOINTS
    from analytiq_data.migrations.engine.lock import LOCK_COLLECTION
    from analytiq_data.migrations.engine.state import HISTORY_COLLECTION, VERSION_COLLECTION
    from analytiq_data.restore_mark import MARK_COLLECTION, STAGE_PREFIX
    from analytiq_data.safety.restore_lock import LOCK_SUFFIX

    page = (DOCS / "reference" / "collections.md").read_text()
    for name in (VERSION_COLLECTION, HISTORY_COLLECTION, LOCK_COLLECTION, CHECKPOINTS, STATE_COLLECTION):
        assert f"| `{name}` |" in page, name
    for name in (MANIFEST_COLLECTION, CATCHUP_COLLECTION):
        assert f"| `{name}` |" in page, name
    assert f"`{JOURNAL_PREFIX}<MigrationClass>`" in page
    assert f"`<db>{LOCK_SUFFIX}`" in page
    assert f"| `{MARK_COLLECTION}` |" in page and f"| `{STAGE_PREFIX}<name>` |" in page
