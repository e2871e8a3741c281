"""Options shared by every verb: where to connect, how to print, how to fail; and the settings built once.

One rule for numbers given on the command line: the parser checks them (a negative count, a zero
lease) and a bad one is a usage error, exit 2. The same values read from the environment or from
pyproject.toml are checked when the settings are built: a bad one is a configuration error, exit 3.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from analytiq_data.cli.render import where
from analytiq_data.errors import ConfigurationError
from analytiq_data.fleet.select import is_pattern
from analytiq_data.settings import FIELDS, Flags, Settings, resolve
from analytiq_data.uri import redact_uri


def _number(kind: type[float] | type[int], minimum: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < minimum or value != value:
            raise argparse.ArgumentTypeError(f"must be {'more than 0' if minimum > 0 else '0 or more'}: {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


seconds = _number(float, 0, "a number of seconds")
positive_seconds = _number(float, 1e-9, "a number of seconds")


def count(text: str) -> int:
    """Parse a whole number ≥ 0 (an argparse type)."""
    return int(_number(int, 0, "a whole number")(text))


def positive(text: str) -> int:
    """Parse a whole number ≥ 1 (an argparse type)."""
    return int(_number(int, 1, "a whole number")(text))


def timeout_option(group: argparse._ActionsContainer) -> None:
    """Add ``--timeout SECONDS`` (server selection), defined here once for every verb."""
    group.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="how long to look for a server before giving up (default: $ANALYTIQ_DB_TIMEOUT, "
        "[tool.analytiq-db] timeout, else 5)",
    )


def connection_options(parser: argparse.ArgumentParser, *, with_db: bool = True) -> None:
    """Add ``--uri``, ``--db`` and ``--timeout`` (flags, then the environment, then pyproject.toml, then defaults)."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--uri",
        help="MongoDB URI, or env:NAME / file:PATH to read it from there (default: $ANALYTIQ_DB_URI, "
        "[tool.analytiq-db] uri_env / uri, $MONGODB_URI, else mongodb://localhost:27017)",
    )
    if with_db:
        group.add_argument(
            "--db",
            action="append",
            help="database name (default: $ANALYTIQ_DB_DATABASE, [tool.analytiq-db] database_env / database, $ENV, "
            "else 'dev'); the verbs that take several accept it repeated or as a glob ('tenant_*')",
        )
    timeout_option(group)


def output_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``, ``-v`` and ``--traceback``."""
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    group.add_argument("-v", "--verbose", action="count", default=0, help="show log lines on stderr")
    group.add_argument("--traceback", action="store_true", help="show the full traceback on errors")


def common_parent() -> argparse.ArgumentParser:
    """Return a parent parser holding the connection and output options."""
    parent = argparse.ArgumentParser(add_help=False)
    connection_options(parent)
    output_options(parent)
    return parent


def build_settings(args: argparse.Namespace) -> Settings:
    """Build the one Settings object of this command from the parsed flags, the environment and pyproject.toml."""
    one, several, several_from = database_flags(args)
    flags = Flags(
        uri=getattr(args, "uri", None),
        db=one,
        databases=several,
        databases_from=several_from,
        timeout_s=getattr(args, "timeout", None),
        migrations=getattr(args, "migrations", None),
        lock_wait_s=getattr(args, "lock_wait", None),
        lease_s=getattr(args, "lease", None),
        driver=getattr(args, "driver", None),
        step_time_limit_s=getattr(args, "step_time_limit", None),
    )
    return resolve(flags, fields={name for name in FIELDS if hasattr(args, name)})


def database_flags(args: argparse.Namespace) -> tuple[str | None, tuple[str, ...] | None, str]:
    """Return the database flags as (one name, several, the flag that gave several): ``--db`` once with a
    plain name is one; repeated, a glob, or ``--all-databases`` is several (``("*",)`` for all)."""
    given = getattr(args, "db", None)
    values = [given] if isinstance(given, str) else list(given or [])
    if getattr(args, "all_databases", False):
        if values:
            raise ConfigurationError("--all-databases and --db both say which databases", hint="give one of them")
        return None, ("*",), "--all-databases"
    if len(values) == 1 and not is_pattern(values[0]):
        return values[0], None, "--db"
    return None, (tuple(values) if values else None), "--db"


def settings_from(args: argparse.Namespace) -> Settings:
    """Return this command's Settings: built once (by the entry point) and kept on ``args``."""
    settings = getattr(args, "settings", None)
    if not isinstance(settings, Settings):
        settings = build_settings(args)
        args.settings = settings
    return settings


def _from(source: str) -> str:
    return "the default" if source == "default" else f"from {source}"


def connection_info(settings: Settings, steps: tuple[str, str] | None = None) -> dict[str, Any]:
    """Return where this command connects, and where each part came from: the URI (redacted), the
    database, the generic variables passed over (``ignored``) and, for a verb that runs steps,
    ``steps`` = (the kind of database steps get, why). ``line`` is the same in one line, for people."""
    info: dict[str, Any] = {
        "uri": redact_uri(settings.uri),
        "uri_from": settings.source("uri"),
        "database": settings.db,
        "database_from": settings.source("db"),
    }
    line = f"database {settings.db} ({_from(info['database_from'])}) on {info['uri']} ({_from(info['uri_from'])})"
    if steps is not None:
        info["driver"], info["driver_from"] = steps
        if steps[0] == "motor" or not steps[1].startswith(("detected:", "declared:")):  # said unless plain
            line += f"; steps get a {steps[0]} database ({steps[1]})"
    if settings.ignored:
        info["ignored"] = list(settings.ignored)
        names = " and ".join(f"${name}" for name in settings.ignored)
        line += f"; {names} {'is' if len(settings.ignored) == 1 else 'are'} set but not read: [tool.analytiq-db] wins"
    info["line"] = line
    return info


def announce(args: argparse.Namespace, steps: tuple[str, str] | None = None) -> Settings:
    """Say where this command connects (a header line on stderr; ``connection`` in its JSON); return the settings."""
    settings = settings_from(args)
    where(connection_info(settings, steps), as_json=bool(getattr(args, "json", False)))
    return settings


def refuse_unasked(db: str, what: str) -> None:
    """Raise the ConfigurationError of a restore over data that needs a confirmation no terminal can give
    (nothing changed)."""
    raise ConfigurationError(
        f"restore replaces database {db!r}, which holds data, with {what}: nothing changed",
        hint="pass --yes to confirm (there is no terminal to ask on)",
    )


def ask_for_name(db: str, said: str) -> None:
    """Print ``said`` and ask on the terminal for the database name; raise ConfigurationError unless it is
    typed exactly (nothing changed)."""
    print(said, file=sys.stderr)
    print(f"Type the database name ({db}) to confirm: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip()
    if answer != db:
        raise ConfigurationError(
            f"confirmation {answer!r} is not the database name {db!r}: nothing changed",
            hint="type the name exactly, or pass --yes",
        )


def confirm_replace(db: str, what: str, *, can_ask: bool, dropped: str = "") -> None:
    """Confirm that database ``db``, which holds data, is to be replaced with ``what``: the name typed on
    the terminal, or a ConfigurationError (nothing changed) when ``can_ask`` is false. ``dropped`` says
    what the replacement drops, after the description."""
    if not can_ask:
        refuse_unasked(db, what)
    ask_for_name(db, f"restore replaces database {db!r} with {what}{dropped}.")
