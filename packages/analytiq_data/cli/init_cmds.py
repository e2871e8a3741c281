"""The ``init`` verb: start using analytiq-db in a project (a starter migrations module and the config)."""

from __future__ import annotations

import argparse
from typing import Any

from analytiq_data.cli.options import output_options
from analytiq_data.cli.render import print_json
from analytiq_data.migrations.engine.scaffold import DEFAULT_STARTER, init_project

INIT_DESCRIPTION = f"""\
Write a starter migrations module (default {DEFAULT_STARTER.split(":")[0]}.py, with an empty
{DEFAULT_STARTER.split(":")[1]} list) and a [tool.analytiq-db] table naming it in the nearest
pyproject.toml (one is created here if there is none). Refuses to overwrite either. Then:
analytiq-db new "what the first migration does".
"""


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``init`` verb."""
    p = sub.add_parser(
        "init",
        help="start here: write a starter migrations module and [tool.analytiq-db] in pyproject.toml",
        description=INIT_DESCRIPTION,
    )
    p.add_argument(
        "--migrations",
        dest="module",
        default=DEFAULT_STARTER,
        metavar="MODULE:ATTRIBUTE",
        help=f"the module and list to create (default: {DEFAULT_STARTER})",
    )
    p.add_argument(
        "--db",
        dest="database",
        metavar="NAME",
        help="the database to write into the table (default: none written; then $ENV, else dev)",
    )
    output_options(p)
    p.set_defaults(handler=cmd_init)


async def cmd_init(args: argparse.Namespace) -> int:
    """Write the starter module and the configuration table, then say what to do next."""
    result = init_project(args.module, database=args.database)
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"wrote {result.module} (an empty list) and [tool.analytiq-db] in {result.pyproject}")
    print('next: analytiq-db new "what your first migration does", then analytiq-db up')
    return 0
