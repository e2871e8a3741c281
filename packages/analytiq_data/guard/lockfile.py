"""The lockfile: the versions, classes and code checksums of a migration list, committed with the code.

CI jobs that cannot reach a database compare the code with it instead (``check --lockfile``). The
file is JSON with sorted keys and no timestamps, so writing it twice from the same code gives the
same bytes and a review shows exactly which versions changed::

    {
      "checksum_method": "...",
      "format_version": 1,
      "generated_by": "analytiq-db lock",
      "migrations": [
        {"checksum": "…", "class": "OcrKeyMigration", "description": "…", "version": 1},
        …
      ]
    }

The comparisons are the engine's (``checks.class_mismatches``, ``checks.code_changed``) and the
checksums its ``migration_checksum``: the lockfile stands in for the migration history.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analytiq_data.errors import CheckFailed, ConfigurationError
from analytiq_data.guard.results import CheckResult, Finding, LockEntry, LockResult
from analytiq_data.guard.source import migration_list
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.checksum import migration_checksum

DEFAULT_LOCKFILE = "migrations.lock.json"
FORMAT_VERSION = 1
GENERATED_BY = "analytiq-db lock"
CHECKSUM_METHOD = "sha256 of each class's syntax tree (layout, comments and docstrings ignored)"


def lock_entries(migrations: Sequence[Migration]) -> tuple[LockEntry, ...]:
    """Return one lock entry per version of ``migrations``: class name, description and code checksum."""
    return tuple(
        LockEntry(version=v, name=m.name, description=m.description, checksum=migration_checksum(m))
        for v, m in enumerate(migrations, start=1)
    )


def render_lockfile(entries: Sequence[LockEntry]) -> str:
    """Return the lockfile text for ``entries``: stable JSON, sorted keys, one entry per version."""
    doc = {
        "format_version": FORMAT_VERSION,
        "generated_by": GENERATED_BY,
        "checksum_method": CHECKSUM_METHOD,
        "migrations": [e.to_json() for e in sorted(entries, key=lambda e: e.version)],
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _relock(path: Path) -> str:
    return "analytiq-db lock" if str(path) == DEFAULT_LOCKFILE else f"analytiq-db lock --output {path}"


def _bad(path: Path, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"lockfile {path} {problem}",
        hint=f"restore it from version control, or regenerate it with {_relock(path)} --force",
    )


def _entry(path: Path, position: int, item: Any) -> LockEntry:
    if not isinstance(item, dict):
        raise _bad(path, f"entry {position} is not an object")
    version, name, description, checksum = (item.get(k) for k in ("version", "class", "description", "checksum"))
    if isinstance(version, bool) or version != position:
        raise _bad(path, f"entry {position} has version {version!r}; versions must be 1, 2, 3, … in order")
    if not isinstance(name, str) or not name.isidentifier():
        raise _bad(path, f"entry {position} has class {name!r}, not a class name")
    if not isinstance(description, str):
        raise _bad(path, f"entry {position} has description {description!r}, not text")
    if checksum is not None and not isinstance(checksum, str):
        raise _bad(path, f"entry {position} has checksum {checksum!r}, not text")
    return LockEntry(version=position, name=name, description=description, checksum=checksum)


def parse_lockfile(doc: Any, path: str | Path = DEFAULT_LOCKFILE) -> tuple[LockEntry, ...]:
    """Return the entries of a decoded lockfile; raise ConfigurationError naming what is wrong with it."""
    where = Path(path)
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise _bad(where, "is not an analytiq-db lockfile (no format_version)")
    fmt = doc["format_version"]
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise _bad(where, f"has format_version {fmt!r}, not a positive whole number")
    if fmt > FORMAT_VERSION:
        raise ConfigurationError(
            f"lockfile {where} has format version {fmt}; this analytiq-db reads format {FORMAT_VERSION}",
            hint="upgrade analytiq_data to the version that wrote it",
        )
    items = doc.get("migrations")
    if not isinstance(items, list):
        raise _bad(where, "has no list of migrations")
    return tuple(_entry(where, position, item) for position, item in enumerate(items, start=1))


def read_lockfile(path: str | Path = DEFAULT_LOCKFILE) -> tuple[LockEntry, ...]:
    """Return the entries of the lockfile at ``path``; raise ConfigurationError if it is missing or malformed."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"no lockfile at {where}", hint=f"create it with analytiq-db lock --output {where} and commit it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read lockfile {where}: {getattr(exc, 'strerror', None) or exc}", hint="check the path"
        ) from exc
    return _parse_text(text, where)


def _parse_text(text: str, where: Path) -> tuple[LockEntry, ...]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(where, f"is not valid JSON (line {exc.lineno}: {exc.msg}; a merge conflict?)") from exc
    return parse_lockfile(doc, where)


def compare(
    migrations: Sequence[Migration],
    entries: Sequence[LockEntry],
    *,
    path: str | Path = DEFAULT_LOCKFILE,
    fail_on_pending: bool = False,
) -> list[Finding]:
    """Return the findings of the code against lockfile entries, ordered by version.

    Failing: a locked version whose class differs (reordered, inserted), whose code changed, or
    that the code no longer has. Versions not yet locked fail only with ``fail_on_pending``.
    """
    where = Path(path)
    head = len(migrations)
    found = checks.class_mismatches(migrations, {e.version: e.name for e in entries})
    findings = [
        Finding(
            "class_mismatch",
            mm.version,
            mm.current,
            f"the lockfile has {mm.recorded} at this version",
            checks.mismatch_error([mm]).hint or "",
            failing=True,
        )
        for mm in found
    ]
    mismatched = {mm.version for mm in found}
    for entry in entries:
        if entry.version > head:
            findings.append(_removed(entry, where))
        elif entry.version not in mismatched:
            findings.extend(_code_findings(migrations[entry.version - 1], entry, where))
    for version in range(len(entries) + 1, head + 1):
        action = f"run {_relock(where)} and commit {where}"
        name = migrations[version - 1].name
        findings.append(Finding("unlocked", version, name, "not in the lockfile", action, failing=fail_on_pending))
    return sorted(findings, key=lambda f: f.version)


def _removed(entry: LockEntry, where: Path) -> Finding:
    return Finding(
        "lockfile_ahead",
        entry.version,
        entry.name,
        "locked but not in the code (the lockfile is newer than the code: a migration was removed)",
        f"restore it as version {entry.version} (never remove a migration that was applied); if it was never "
        f"applied anywhere, rewrite the lockfile with {_relock(where)} --force",
        failing=True,
    )


def _code_findings(migration: Migration, entry: LockEntry, where: Path) -> list[Finding]:
    checksum = migration_checksum(migration)
    if checks.code_changed(migration.name, checksum, entry.name, entry.checksum):
        return [
            Finding(
                "code_changed",
                entry.version,
                entry.name,
                f"code changed since it was locked (checksum {str(entry.checksum)[:12]} locked, "
                f"{str(checksum)[:12]} now)",
                "revert the edit and put the change in a new migration; if this version was never applied "
                f"anywhere, rewrite the lockfile with {_relock(where)} --force",
                failing=True,
            )
        ]
    if checksum is None or entry.checksum is None:
        side = "the code's source cannot be read" if checksum is None else "the lockfile has no checksum"
        return [
            Finding(
                "unverified",
                entry.version,
                entry.name,
                f"its code cannot be compared ({side})",
                f"run from source files, then {_relock(where)}",
                failing=False,
            )
        ]
    return []


def check_lockfile(
    path: str | Path = DEFAULT_LOCKFILE,
    *,
    migrations: Sequence[Migration] | None = None,
    fail_on_pending: bool = False,
) -> CheckResult:
    """Compare the migration list with the lockfile at ``path`` (no database) and return the findings.

    ``migrations`` defaults to Analytiq's list. Raises ConfigurationError when the lockfile is
    missing or malformed; disagreements are findings (``result.ok`` is False), not exceptions.
    """
    checked = migration_list(migrations)
    entries = read_lockfile(path)
    findings = compare(checked, entries, path=path, fail_on_pending=fail_on_pending)
    return CheckResult(
        source="lockfile",
        target=str(path),
        version=len(entries),
        head=len(checked),
        findings=tuple(findings),
        fail_on_pending=fail_on_pending,
    )


def _overridden(where: Path, migrations: Sequence[Migration], old_text: str, force: bool) -> tuple[Finding, ...]:
    """Return the disagreements with the old lockfile that a rewrite would hide; refuse them unless ``force``."""
    try:
        old = _parse_text(old_text, where)
    except ConfigurationError as exc:
        if force:
            return ()
        raise ConfigurationError(exc.message, hint=f"fix it, or overwrite it with {_relock(where)} --force") from exc
    failing = tuple(f for f in compare(migrations, old, path=where) if f.failing)
    if failing and not force:
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        first = failing[0]
        raise CheckFailed(
            f"refusing to rewrite {where}: {first.who}: {first.problem}{more}",
            hint="put changes in new migrations appended at the end; if the locked versions were never applied "
            f"to any database, rewrite the lockfile with {_relock(where)} --force",
        )
    return failing


def _write_atomically(where: Path, text: str) -> None:
    mode = where.stat().st_mode & 0o777 if where.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{where.name}.", suffix=".tmp", dir=where.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, where)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_lockfile(
    path: str | Path = DEFAULT_LOCKFILE,
    *,
    migrations: Sequence[Migration] | None = None,
    force: bool = False,
) -> LockResult:
    """Write the lockfile of the migration list to ``path`` (atomically; unchanged bytes are not rewritten).

    New versions are appended freely. Rewriting a locked version whose class or code changed, or
    dropping one the code no longer has, is refused with CheckFailed unless ``force``: those are the
    changes ``check --lockfile`` exists to catch.
    """
    checked = migration_list(migrations)
    entries = lock_entries(checked)
    text = render_lockfile(entries)
    where = Path(path)
    try:
        old_text: str | None = where.read_text(encoding="utf-8") if where.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        if not force:
            raise ConfigurationError(
                f"cannot read the existing lockfile {where}: {exc}", hint="fix it, or overwrite it with --force"
            ) from exc
        old_text = None
    if old_text == text:
        return LockResult(path=str(where), entries=entries, changed=False)
    overridden = _overridden(where, checked, old_text, force) if old_text is not None else ()
    try:
        _write_atomically(where, text)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write lockfile {where}: {exc.strerror or exc}", hint="choose a writable path with --output"
        ) from exc
    return LockResult(path=str(where), entries=entries, changed=True, overridden=overridden)
