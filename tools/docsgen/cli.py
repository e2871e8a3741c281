"""The command-line reference: every command and flag, read from the argparse parsers the commands use."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from tools.docsgen.markdown import code, escape, table, text_block

WIDTH = 100
INTRO = """# Command line

Every command and flag of `analytiq-db` and `backup-db` (also run as `python backup_db.py`), generated
from the parsers the commands themselves use, so it is what `-h` prints. Flags given on the command
line win over the environment, which wins over `[tool.analytiq-db]` in `pyproject.toml`
([configuration](configuration.md)); failures exit with one of the [exit codes](exit-codes.md).
"""


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """Yield ``(name, one-line help, parser)`` of each subcommand of ``parser``, in the order ``-h`` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if name in helps:  # aliases are listed under their first name only
                    yield name, helps[name], sub


def option_label(action: argparse.Action) -> str:
    """Return how the action is written on the command line: ``-v, --verbose``, ``--to N``, ``NAME``."""
    formatter = argparse.HelpFormatter("x")
    if not action.option_strings:
        return formatter._metavar_formatter(action, action.dest)(1)[0]
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = formatter._format_args(action, action.dest.upper())
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


def option_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """Return the action's help as ``-h`` shows it (``%(default)s`` expanded), plus its choices."""
    text = parser._get_formatter()._expand_help(action) if action.help else ""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        listed = ", ".join(str(choice) for choice in action.choices)
        if listed not in text:
            text = f"{text} (one of: {listed})".strip()
    if action.required and action.option_strings:
        text = f"required. {text}"
    return text


def options_tables(parser: argparse.ArgumentParser) -> list[str]:
    """Return one table per argument group of ``parser`` (positionals, options, then named groups)."""
    out: list[str] = []
    for group in parser._action_groups:
        rows = [
            [code(option_label(action)), escape(option_help(parser, action))]
            for action in group._group_actions
            if action.help is not argparse.SUPPRESS
            and not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
        ]
        if rows:
            out.append(f"**{escape(group.title or 'options')}**\n\n" + table(["option", "meaning"], rows))
    return out


def usage(parser: argparse.ArgumentParser) -> str:
    """Return the usage of ``parser`` wrapped at a fixed width (not the terminal's: the page is the same anywhere)."""
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def command_section(title: str, summary: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    """Return the Markdown of one command: heading, summary, usage, its options, its subcommands."""
    parts = [f"{'#' * level} {title}"]
    if summary:
        parts.append(escape(summary))
    if parser.description and parser.description != summary:
        parts.append(escape(parser.description))
    parts.append(text_block(usage(parser)))
    parts.extend(options_tables(parser))
    if parser.epilog:
        parts.append(text_block(parser.epilog))
    for name, helptext, sub in subcommands(parser):
        parts.extend(command_section(f"{title} {name}", helptext, sub, level + 1))
    return parts


def cli_page(parsers: list[tuple[str, argparse.ArgumentParser]]) -> str:
    """Return the command-line reference page for these ``(name, parser)`` pairs."""
    parts = [INTRO]
    for name, parser in parsers:
        parts.extend(command_section(name, "", parser, 2))
    return "\n\n".join(parts) + "\n"


def project_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Return the parsers of ``analytiq-db`` (every verb registered) and ``backup-db``."""
    from analytiq_data.cli import backup_main, main

    return [(main.PROG, main.build_parser()), (backup_main.PROG, backup_main.build_parser())]
