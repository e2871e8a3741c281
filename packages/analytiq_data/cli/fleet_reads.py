"""Drawing the reading verbs over many databases: ``status`` (how many at each version, which need a
person), ``history`` (each database's records) and ``check`` (each database's failing findings)."""

from __future__ import annotations

from collections import Counter

from analytiq_data.cli import migrate_render
from analytiq_data.cli.fleet_render import render_fleet, summary_rows, verdict
from analytiq_data.cli.render import print_json, print_table
from analytiq_data.fleet.migrate import needs_a_person
from analytiq_data.fleet.results import FleetResult, Outcome
from analytiq_data.guard.results import CheckResult
from analytiq_data.migrations.engine.results import HistoryResult, StatusResult
from analytiq_data.text import first_few, plural

SHOWN = 6


def statuses(result: FleetResult) -> list[StatusResult]:
    """Return the StatusResult of every database that could be read."""
    return [r.detail for r in result.databases if isinstance(r.detail, StatusResult)]


def version_rows(found: list[StatusResult]) -> list[tuple[str, str, str]]:
    """Return one row per version seen: the version (marking the newest and those ahead), how many, which."""
    head = max((s.head for s in found), default=0)
    by_version = Counter(s.current for s in found)
    rows = []
    for version in sorted(by_version, reverse=True):
        names = sorted(s.database for s in found if s.current == version)
        if version > head:
            label = f"{version} (ahead of the code)"
        elif version == head:
            label = f"{version} (the newest)"
        else:
            label = f"{version} ({plural(head - version, 'step')} pending)"
        rows.append((label, f"{by_version[version]:,}", first_few(names, SHOWN, ", ")))
    return rows


def render_status(result: FleetResult, as_json: bool) -> None:
    """Print how many databases are at each version, then every database that needs a person and why,
    every running migration, and the databases that could not be read."""
    if as_json:
        print_json(result.to_json())
        return
    found = statuses(result)
    head = max((s.head for s in found), default=0)
    print(f"{plural(len(result.databases), 'database')} against {plural(head, 'migration')}")
    print_table(None, ["version", "databases", "which"], version_rows(found))
    for status in found:
        attention = needs_a_person(status)
        for problem in status.problems:
            if attention or "running" in problem:
                print(f"! {status.database}: {problem}")
    for r in result.databases:
        if r.outcome is Outcome.FAILED:
            print(f"✗ {r.database}: {r.error}")
    behind = sum(1 for s in found if s.current < s.head)
    drifted = sum(1 for s in found if needs_a_person(s))
    print(
        f"status: {plural(len(found), 'database')} read, {behind} behind the code, {drifted} needing a person"
        + (f", {result.counts().get('failed', 0)} unreadable" if result.counts().get("failed") else "")
    )


def render_history(result: FleetResult, as_json: bool, limit: int) -> None:
    """Print each database's history under its name (newest first)."""
    if as_json:
        print_json(result.to_json())
        return
    for r in result.databases:
        if isinstance(r.detail, HistoryResult):
            print(f"== {r.database} ==")
            migrate_render.history_result(r.detail, False)
        else:
            print(f"✗ {r.database}: {r.error}")
    shown = "all records" if limit == 0 else f"the newest {limit} records of each"
    print(f"history: {plural(len(result.databases), 'database')} ({shown})")


def render_check(result: FleetResult, as_json: bool) -> None:
    """Print each failing finding with its database, then the summary; exit code is the caller's."""
    if as_json:
        print_json(result.to_json())
        return
    for r in result.databases:
        if isinstance(r.detail, CheckResult):
            for finding in r.detail.findings:
                if finding.failing:
                    print(f"{r.database}: {finding.level}: {finding.line}")
        elif r.outcome is not Outcome.OK:
            print(f"{r.database}: {r.error}")
    passed = sum(1 for r in result.databases if r.outcome is Outcome.OK)
    print(f"check: {passed} of {plural(len(result.databases), 'database')} pass")


def render_changes(result: FleetResult, as_json: bool) -> None:
    """Print a run that changed databases (up, down, stamp, …): grouped by outcome, or its JSON."""
    render_fleet(result, as_json)


__all__ = ["render_changes", "render_check", "render_history", "render_status", "summary_rows", "verdict"]
