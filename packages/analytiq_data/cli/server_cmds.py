"""Verbs about the server itself: ``ping``."""

from __future__ import annotations

import argparse
from typing import Any

from analytiq_data.cli.options import announce, settings_from
from analytiq_data.cli.render import print_json
from analytiq_data.client import make_client, ping, server_kind
from analytiq_data.uri import redact_uri


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``ping`` verb."""
    p = sub.add_parser("ping", parents=[parent], help="check that the server answers and say what it is")
    p.set_defaults(handler=cmd_ping)


async def cmd_ping(args: argparse.Namespace) -> int:
    """Connect, run ``hello`` and print the deployment kind and version."""
    settings = settings_from(args)
    client = make_client(settings.uri, timeout_s=settings.timeout_s)
    announce(args)
    try:
        hello = await ping(client, settings.uri, settings.timeout_s)
        build = await client.admin.command("buildInfo")
    finally:
        await client.close()
    kind = server_kind(hello)
    info = {
        "uri": redact_uri(settings.uri),
        "db": settings.db,
        "topology": kind.topology,
        "set_name": kind.set_name,
        "version": build.get("version"),
        "transactions": kind.supports_transactions,
    }
    if args.json:
        print_json(info)
    else:
        rs = f" (replica set {kind.set_name})" if kind.set_name else ""
        tx = "with" if kind.supports_transactions else "without"
        print(f"{info['uri']}: MongoDB {info['version']}, {kind.topology}{rs}, {tx} transactions")
    return 0
