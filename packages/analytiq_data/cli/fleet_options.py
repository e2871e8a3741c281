"""The options of the verbs that take several databases, and the choice between one run and many.

``extend`` adds ``--all-databases``, ``--exclude``, ``--jobs`` and ``--keep-going`` to the verbs
that take several databases (after their modules registered them; ``--db`` itself may be repeated
or a glob on every verb). ``route`` runs once the settings are built: several databases selected
(``--db`` repeated or a glob, ``--all-databases``, ``ANALYTIQ_DB_DATABASES``, ``[tool.analytiq-db]
databases``) send the command to its handler in ``fleet_cmds``; one database keeps the verb's own
handler, unchanged. A verb that works on one database refuses several with one line.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from analytiq_data.cli.options import positive, settings_from
from analytiq_data.errors import ConfigurationError
from analytiq_data.fleet.select import is_pattern

#: The verbs that take several databases.
FLEET_VERBS = ("status", "up", "down", "history", "check", "stamp", "rehearse", "restore", "backup")
#: Verbs that read ``--db`` but use no database (writing code or configuration).
NO_DATABASE = ("new", "init", "lock")
#: Verbs whose ``--exclude`` is something else (backup: collections): there only ``--exclude-db``.
OWN_EXCLUDE = ("backup",)


def add_fleet_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """Add the options of a verb over several databases."""
    group = parser.add_argument_group("several databases")
    group.add_argument(
        "--all-databases",
        action="store_true",
        help="every database on the server but admin, local, config and this tool's backup/scratch databases",
    )
    names = ("--exclude-db",) if verb in OWN_EXCLUDE else ("--exclude", "--exclude-db")
    group.add_argument(
        *names,
        dest="exclude_db",
        action="append",
        metavar="PATTERN",
        help="leave out the databases matching this glob (repeatable)",
    )
    group.add_argument(
        "--jobs",
        type=positive,
        metavar="N",
        help="how many databases at once (default: the server's cores from hostInfo, between 2 and 8; 4 if unknown)",
    )
    if verb not in ("status", "history", "check"):  # those read every database anyway
        group.add_argument(
            "--keep-going",
            action="store_true",
            help="after a database fails, go on with the others (default: start no new one, finish those running)",
        )
    if verb == "rehearse":
        group.add_argument(
            "--sample-dbs",
            type=positive,
            metavar="K",
            help="rehearse on the K selected databases whose data shapes differ most (field paths and types)",
        )
    parser.set_defaults(fleet_verb=verb)


def extend(sub: Any) -> None:
    """Add the several-databases options to the verbs of ``sub`` that take them (those registered)."""
    for verb in FLEET_VERBS:
        parser = sub.choices.get(verb)
        if parser is not None:
            add_fleet_options(parser, verb)


def _backup_sources(args: argparse.Namespace) -> tuple[str, ...] | None:
    """Return the several source databases of ``backup`` (None: one, put back as a plain ``--src``)."""
    given = getattr(args, "src", None)
    values = [given] if isinstance(given, str) else list(given or [])
    if getattr(args, "all_databases", False):
        if values:
            raise ConfigurationError("--all-databases and --src both say which databases", hint="give one of them")
        return ("*",)
    if not values:
        raise ConfigurationError(
            "no source database", hint="give --src DB, several (--src a --src b, --src 'tenant_*') or --all-databases"
        )
    if len(values) == 1 and not is_pattern(values[0]):
        args.src = values[0]
        return None
    return tuple(values)


def several(args: argparse.Namespace) -> tuple[str, ...] | None:
    """Return the several databases the command selects (None: one database)."""
    if getattr(args, "fleet_verb", None) == "backup":
        return _backup_sources(args)
    if not hasattr(args, "db"):
        return None
    return settings_from(args).databases


def route(args: argparse.Namespace, handler: Any) -> Any:
    """Return the handler to run: the verb's own for one database, ``fleet_cmds``' for several.

    Several databases on a verb that works on one, or ``--exclude`` without several: ConfigurationError.
    """
    found = several(args)
    if found is None:
        for flag, attribute in (("--exclude", "exclude_db"), ("--sample-dbs", "sample_dbs")):
            if getattr(args, attribute, None):
                raise ConfigurationError(f"{flag} needs several databases", hint="add --all-databases or a glob --db")
        return handler
    verb = getattr(args, "fleet_verb", None)
    if verb is None:
        command = getattr(args, "command", None)
        if command in NO_DATABASE:
            return handler
        origin = settings_from(args).source("databases")
        raise ConfigurationError(
            f"{command or 'this command'} works on one database; {origin} selects several", hint="give one --db NAME"
        )
    fleet_cmds = importlib.import_module("analytiq_data.cli.fleet_cmds")  # only when several: start-up time
    return fleet_cmds.HANDLERS[verb]
