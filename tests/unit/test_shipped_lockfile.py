"""Analytiq's own migrations are locked: the committed migrations.lock.json matches the shipped code.

This is the CI gate docs/how-to/ci-gate.md recommends, applied to this repository: editing a released migration
(its class at a version, or its code) fails here, and so does adding one without running
``analytiq-db lock``.
"""

from __future__ import annotations

from pathlib import Path

from analytiq_data import guard
from analytiq_data.migrations.migration import MIGRATIONS

LOCKFILE = Path(__file__).resolve().parents[2] / "migrations.lock.json"


def test_committed_lockfile_matches_the_shipped_migrations() -> None:
    result = guard.check_lockfile(LOCKFILE, fail_on_pending=True)
    assert result.ok, [f.problem for f in result.findings]
    assert [e.name for e in guard.read_lockfile(LOCKFILE)] == [type(m).__name__ for m in MIGRATIONS]
