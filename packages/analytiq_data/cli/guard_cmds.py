"""Verbs of the CI gate: ``check`` (code vs database, or vs a lockfile) and ``lock`` (write the lockfile).

Parsing, wiring and drawing only: the comparisons live in ``analytiq_data.guard``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from analytiq_data.cli.migrate_options import connected, load_list, migration_list_option
from analytiq_data.cli.options import output_options
from analytiq_data.cli.render import print_json
from analytiq_data.guard import DEFAULT_LOCKFILE, check, check_lockfile, write_lockfile
from analytiq_data.guard.results import CheckResult, LockResult

CHECK_DESCRIPTION = """\
Fail (exit 1) when the code and the database disagree in a way that needs a person: an applied
version whose code changed, a version applied as another class (list reordered or a class
inserted), a database newer than the code, a dirty step. Pending steps are listed but pass unless
--fail-on-pending. With --lockfile PATH the code is compared with that file instead (no
connection): changed code or another class at a locked version, or locked versions the code no
longer has. Reads only. Exit codes: 0 ok, 1 problems found, 3 bad input, 4 server unreachable.
"""

LOCK_DESCRIPTION = f"""\
Write the lockfile (default ./{DEFAULT_LOCKFILE}): one entry per version with its class,
description and code checksum, as stable sorted JSON to commit with the code, for check --lockfile.
Appending versions is always allowed; rewriting a locked version whose class or code changed, or
dropping one, needs --force. (Unrelated to the migration lock that unlock clears.)
"""


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``check`` and ``lock`` verbs."""
    p = sub.add_parser(
        "check",
        parents=[parent],
        help="CI gate: fail when the code and the database (or a lockfile) disagree",
        description=CHECK_DESCRIPTION,
    )
    p.add_argument(
        "--lockfile",
        metavar="PATH",
        help=f"compare the code with this lockfile instead of a database (no connection; e.g. {DEFAULT_LOCKFILE})",
    )
    p.add_argument(
        "--fail-on-pending",
        action="store_true",
        help="also fail when steps are not applied yet (with --lockfile: versions not locked yet)",
    )
    migration_list_option(p)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser(
        "lock",
        help=f"write {DEFAULT_LOCKFILE} (versions, classes, checksums) for check --lockfile",
        description=LOCK_DESCRIPTION,
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        default=DEFAULT_LOCKFILE,
        help=f"where to write it (default: {DEFAULT_LOCKFILE} in the current directory)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="rewrite locked versions whose class or code changed (only if they were never applied anywhere)",
    )
    migration_list_option(p)
    output_options(p)
    p.set_defaults(handler=cmd_lock)


def render_check(result: CheckResult, as_json: bool) -> None:
    """Print the findings, one line each, then the verdict (or the result as JSON)."""
    if as_json:
        print_json(result.to_json())
        return
    for finding in result.findings:
        print(f"{finding.level}: {finding.line}")
    print(result.summary())


def render_lock(result: LockResult, as_json: bool) -> None:
    """Print what was written, and on stderr which disagreements --force overrode."""
    for finding in result.overridden:
        print(f"overridden: {finding.line}", file=sys.stderr)
    if as_json:
        print_json(result.to_json())
        return
    count = len(result.entries)
    versions = f"{count} version{'s' if count != 1 else ''}"
    if result.changed:
        print(f"wrote {result.path}: {versions}")
    else:
        print(f"{result.path} is up to date: {versions}")


async def cmd_check(args: argparse.Namespace) -> int:
    """Compare the code with the database (or ``--lockfile``); exit 1 when a person is needed."""
    migrations = load_list(args)
    if args.lockfile is not None:
        result = check_lockfile(args.lockfile, migrations=migrations, fail_on_pending=args.fail_on_pending)
    else:
        async with connected(args) as client:
            result = await check(client, migrations=migrations, fail_on_pending=args.fail_on_pending)
    render_check(result, args.json)
    result.raise_for_failure()
    return 0


async def cmd_lock(args: argparse.Namespace) -> int:
    """Write the lockfile of the migration list."""
    migrations = load_list(args)
    result = write_lockfile(args.output, migrations=migrations, force=args.force)
    render_lock(result, args.json)
    return 0
