"""The lockfile, without a server: stable writes, the code-vs-lockfile gate, refusals, malformed files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import analytiq_data as ad
from analytiq_data import guard
from analytiq_data.errors import CheckFailed, ConfigurationError, ExitCode
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.checksum import migration_checksum
from tests.migrations_fixtures import basic, changed


@pytest.fixture
def lockfile(tmp_path: Path) -> Path:
    """The basic list, locked."""
    path = tmp_path / "migrations.lock.json"
    guard.write_lockfile(path, migrations=basic.MIGRATIONS)
    return path


def kinds(result: guard.CheckResult) -> list[tuple[str, int, str, bool]]:
    return [(f.kind, f.version, f.name, f.failing) for f in result.findings]


def test_lockfile_is_sorted_stable_json_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    first = guard.write_lockfile(path, migrations=basic.MIGRATIONS)
    text = path.read_text()
    assert first.changed and first.path == str(path)
    doc = json.loads(text)
    assert doc["format_version"] == guard.FORMAT_VERSION == 1 and doc["generated_by"] == "analytiq-db lock"
    assert doc["migrations"] == [
        {
            "version": v,
            "class": m.name,
            "description": m.description,
            "checksum": migration_checksum(m),
        }
        for v, m in enumerate(basic.MIGRATIONS, start=1)
    ]
    assert doc["migrations"][1]["class"] == "RenameNameMigration" and len(doc["migrations"][1]["checksum"]) == 64
    assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # sorted keys, newline
    assert list(doc) == sorted(doc) and list(doc["migrations"][0]) == ["checksum", "class", "description", "version"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    mtime = path.stat().st_mtime_ns

    again = guard.write_lockfile(path, migrations=basic.MIGRATIONS)
    assert not again.changed and path.read_text() == text and path.stat().st_mtime_ns == mtime
    assert guard.render_lockfile(tuple(reversed(again.entries))) == text  # order of entries does not matter
    assert guard.read_lockfile(path) == again.entries
    assert not [p for p in tmp_path.iterdir() if p.name != "l.json"]  # no temporary file left behind


def test_default_path_is_in_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = guard.write_lockfile(migrations=basic.MIGRATIONS)
    assert result.path == "migrations.lock.json" and (tmp_path / "migrations.lock.json").is_file()
    assert guard.check_lockfile(migrations=basic.MIGRATIONS).ok


def test_clean_lockfile_passes(lockfile: Path) -> None:
    result = guard.check_lockfile(lockfile, migrations=basic.MIGRATIONS)
    assert result.ok and result.findings == () and (result.version, result.head) == (3, 3)
    assert result.summary() == f"ok: lockfile {lockfile} locks versions 1–3; the code's newest is 3"
    result.raise_for_failure()  # does not raise
    assert ad.migrations.check_lockfile is guard.check_lockfile and ad.migrations.write_lockfile is guard.write_lockfile


def test_changed_code_of_a_locked_version_fails(lockfile: Path) -> None:
    result = guard.check_lockfile(lockfile, migrations=changed.MIGRATIONS)
    assert not result.ok and kinds(result) == [("code_changed", 2, "RenameNameMigration", True)]
    locked = migration_checksum(basic.MIGRATIONS[1])
    now = migration_checksum(changed.MIGRATIONS[1])
    assert locked and now and locked != now
    assert result.findings[0].line == (
        f"version 2 (RenameNameMigration): code changed since it was locked (checksum {locked[:12]} locked, "
        f"{now[:12]} now) — revert the edit and put the change in a new migration; if this version was never "
        f"applied anywhere, rewrite the lockfile with analytiq-db lock --output {lockfile} --force"
    )
    with pytest.raises(CheckFailed) as info:
        result.raise_for_failure()
    assert info.value.exit_code == ExitCode.FAILURE
    assert info.value.message == (
        f"check failed for lockfile {lockfile}: version 2 (RenameNameMigration): code changed since it was locked "
        f"(checksum {locked[:12]} locked, {now[:12]} now)"
    )
    assert info.value.hint == result.findings[0].action


def test_reordered_list_fails_at_each_moved_version(lockfile: Path) -> None:
    result = guard.check_lockfile(lockfile, migrations=basic.REORDERED)
    assert kinds(result) == [
        ("class_mismatch", 2, "AddActiveMigration", True),
        ("class_mismatch", 3, "RenameNameMigration", True),
    ]
    assert result.findings[0].line == (
        "version 2 (AddActiveMigration): the lockfile has RenameNameMigration at this version — restore the "
        "list's order (append new migrations at the end, never insert or reorder)"
    )
    assert result.summary() == f"2 problems: lockfile {lockfile} locks versions 1–3; the code's newest is 3"


def test_inserted_class_fails_and_the_new_tail_is_unlocked(lockfile: Path) -> None:
    result = guard.check_lockfile(lockfile, migrations=changed.INSERTED)
    assert kinds(result) == [
        ("class_mismatch", 2, "AuditMigration", True),
        ("class_mismatch", 3, "RenameNameMigration", True),
        ("unlocked", 4, "AddActiveMigration", False),
    ]


def test_lockfile_newer_than_the_code_fails(lockfile: Path) -> None:
    result = guard.check_lockfile(lockfile, migrations=basic.MIGRATIONS[:2])
    assert kinds(result) == [("lockfile_ahead", 3, "AddActiveMigration", True)]
    assert result.findings[0].problem == (
        "locked but not in the code (the lockfile is newer than the code: a migration was removed)"
    )
    assert result.summary() == f"1 problem: lockfile {lockfile} locks versions 1–3; the code's newest is 2"


def test_versions_not_yet_locked_pass_unless_fail_on_pending(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    guard.write_lockfile(path, migrations=basic.MIGRATIONS[:1])
    result = guard.check_lockfile(path, migrations=basic.MIGRATIONS)
    assert result.ok and [f.version for f in result.pending] == [2, 3]
    assert result.summary() == f"ok: lockfile {path} locks versions 1–1; the code's newest is 3 (2 not locked)"
    assert result.findings[0].line == (
        f"version 2 (RenameNameMigration): not in the lockfile — run analytiq-db lock --output {path} and commit {path}"
    )
    strict = guard.check_lockfile(path, migrations=basic.MIGRATIONS, fail_on_pending=True)
    assert not strict.ok and [f.version for f in strict.failures] == [2, 3]
    assert strict.to_json()["ok"] is False and strict.to_json()["pending"] == [2, 3]


def _runtime_class() -> Migration:
    # Built at run time: no source to read, so no checksum (as in a frozen application).
    cls: Any = type("BuiltAtRunTimeMigration", (Migration,), {"__doc__": "Built at run time."})
    migration: Migration = cls()
    return migration


def test_code_without_source_is_a_note_not_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    migrations = [basic.SeedUsersMigration(), _runtime_class()]
    guard.write_lockfile(path, migrations=migrations)
    assert json.loads(path.read_text())["migrations"][1]["checksum"] is None
    result = guard.check_lockfile(path, migrations=migrations)
    assert result.ok and kinds(result) == [("unverified", 2, "BuiltAtRunTimeMigration", False)]
    assert result.findings[0].level == "note"


def test_lock_appends_freely_but_refuses_to_rewrite_locked_versions(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    guard.write_lockfile(path, migrations=basic.MIGRATIONS[:2])
    assert guard.write_lockfile(path, migrations=basic.MIGRATIONS).changed  # appending is normal work
    locked = path.read_text()

    for migrations, first in [
        (changed.MIGRATIONS, "version 2 (RenameNameMigration): code changed since it was locked"),
        (changed.INSERTED, "version 2 (AuditMigration): the lockfile has RenameNameMigration at this version"),
        (basic.MIGRATIONS[:2], "version 3 (AddActiveMigration): locked but not in the code"),
    ]:
        with pytest.raises(CheckFailed) as info:
            guard.write_lockfile(path, migrations=migrations)
        assert info.value.message.startswith(f"refusing to rewrite {path}: {first}"), info.value.message
        assert info.value.hint is not None and info.value.hint.endswith(f"analytiq-db lock --output {path} --force")
        assert path.read_text() == locked  # no partial damage

    forced = guard.write_lockfile(path, migrations=changed.MIGRATIONS, force=True)
    assert forced.changed and [(f.kind, f.version) for f in forced.overridden] == [("code_changed", 2)]
    assert guard.check_lockfile(path, migrations=changed.MIGRATIONS).ok


MALFORMED = [
    (
        "<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> branch\n",
        "is not valid JSON (line 1: Expecting value; a merge conflict?)",
    ),
    ("[]", "is not an analytiq-db lockfile (no format_version)"),
    ('{"format_version": "1", "migrations": []}', "has format_version '1', not a positive whole number"),
    ('{"format_version": 1}', "has no list of migrations"),
    (
        '{"format_version": 1, "migrations": [{"version": 2, "class": "A", "description": "", "checksum": null}]}',
        "entry 1 has version 2; versions must be 1, 2, 3, … in order",
    ),
    (
        '{"format_version": 1, "migrations": [{"version": 1, "class": "not a class", "description": ""}]}',
        "entry 1 has class 'not a class', not a class name",
    ),
    (
        '{"format_version": 1, "migrations": [{"version": 1, "class": "A", "description": "", "checksum": 7}]}',
        "entry 1 has checksum 7, not text",
    ),
]


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_malformed_lockfile_is_one_clear_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "l.json"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        guard.check_lockfile(path, migrations=basic.MIGRATIONS)
    assert info.value.user_line() == (
        f"lockfile {path} {problem} — restore it from version control, or regenerate it with "
        f"analytiq-db lock --output {path} --force"
    )
    with pytest.raises(ConfigurationError) as refused:
        guard.write_lockfile(path, migrations=basic.MIGRATIONS)
    assert refused.value.user_line() == (
        f"lockfile {path} {problem} — fix it, or overwrite it with analytiq-db lock --output {path} --force"
    )
    assert path.read_text() == text
    assert guard.write_lockfile(path, migrations=basic.MIGRATIONS, force=True).changed


def test_missing_newer_and_unwritable_lockfiles(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError) as info:
        guard.check_lockfile(missing, migrations=basic.MIGRATIONS)
    assert info.value.user_line() == (
        f"no lockfile at {missing} — create it with analytiq-db lock --output {missing} and commit it"
    )
    newer = tmp_path / "newer.json"
    newer.write_text('{"format_version": 2, "migrations": []}')
    with pytest.raises(ConfigurationError, match="has format version 2; this analytiq-db reads format 1"):
        guard.check_lockfile(newer, migrations=basic.MIGRATIONS)
    with pytest.raises(ConfigurationError, match=r"cannot write lockfile .*no-such-dir.*No such file or directory"):
        guard.write_lockfile(tmp_path / "no-such-dir" / "l.json", migrations=basic.MIGRATIONS)
    assert not os.path.exists(tmp_path / "no-such-dir")


def test_engine_comparisons_used_by_the_gate() -> None:
    recorded = {1: "SeedUsersMigration", 2: "RenameNameMigration", 3: "AddActiveMigration", 9: "Gone", 4: ""}
    assert [(m.version, m.recorded, m.current) for m in checks.class_mismatches(basic.REORDERED, recorded)] == [
        (2, "RenameNameMigration", "AddActiveMigration"),
        (3, "AddActiveMigration", "RenameNameMigration"),
    ]
    assert checks.class_mismatches(basic.MIGRATIONS, recorded) == []
    assert checks.code_changed("A", "x", "A", "y")
    assert not checks.code_changed("A", "x", "A", "x")
    assert not checks.code_changed("A", "x", "B", "y")  # another class is a mismatch, not a code change
    assert not checks.code_changed("A", None, "A", "y") and not checks.code_changed("A", "x", "A", None)
