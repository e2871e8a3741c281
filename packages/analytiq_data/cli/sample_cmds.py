"""The ``sample`` verb: write a realistic pre-migration Analytiq database (for demos, tests, benchmarks)."""

from __future__ import annotations

import argparse
from typing import Any

from analytiq_data.cli.options import announce, settings_from
from analytiq_data.cli.render import make_progress, print_json, print_table
from analytiq_data.client import make_client, ping
from analytiq_data.migrations.sample import generate_sample
from analytiq_data.uri import redact_uri


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``sample`` verb."""
    p = sub.add_parser(
        "sample",
        parents=[parent],
        help="fill an empty database with a realistic Analytiq sample at version 0",
        description="Write N uploaded documents with their OCR files (GridFS bucket ocr), LLM runs, schemas "
        "and prompts, in the shapes before the four migrations, with edge cases mixed in. The same "
        "--seed gives the same database.",
    )
    p.add_argument("--docs", type=_positive, default=1000, metavar="N", help="uploaded documents (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--drop", action="store_true", help="drop the database first if it is not empty")
    p.set_defaults(handler=cmd_sample)


async def cmd_sample(args: argparse.Namespace) -> int:
    """Connect, write the sample and print how many documents each collection got."""
    settings = settings_from(args)
    client = make_client(settings.uri, timeout_s=settings.timeout_s)
    announce(args)
    progress = make_progress(args.json)
    try:
        await ping(client, settings.uri, settings.timeout_s)
        summary = await generate_sample(
            client[settings.db], docs=args.docs, seed=args.seed, drop=args.drop, progress=progress
        )
    finally:
        progress.close()
        await client.close()
    counts = dict(sorted(summary.counts.items()))
    if args.json:
        print_json({"uri": redact_uri(settings.uri), "db": settings.db, "seed": args.seed, "counts": counts})
    else:
        title = f"sample database {settings.db!r} (seed {args.seed}, version 0)"
        print_table(title, ["collection", "documents"], [(name, f"{n:,}") for name, n in counts.items()])
    return 0
