"""The faithful-copy check of ``tests/server/test_backup_copy.py`` at full size (100,000 documents by default).

``python -m benchmarks.faithful_copy [--docs N]`` starts two SecantusDB servers (tools.testserver),
builds the source with every BSON type, index and collection kind (``--docs`` in the largest
collection), backs it up (default batch size) to the second server and checks the copy
independently, byte for byte, as the test does at its smaller size. Prints the seconds it took;
exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from tests.server.test_backup_copy import copy_and_check
from tools.testserver import TestServer

DEFAULT_DOCS = 100_000


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check once at ``--docs`` documents and print how long it took."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faithful_copy", description=__doc__)
    parser.add_argument(
        "--docs", type=int, default=DEFAULT_DOCS, help=f"documents in the largest collection ({DEFAULT_DOCS:,})"
    )
    args = parser.parse_args(argv)
    source, dest = TestServer(name="bench-src").start(), TestServer(name="bench-dst").start()
    try:
        started = time.monotonic()
        asyncio.run(copy_and_check(source.uri, dest.uri, "bench_faithful", "bench_faithful_copy", args.docs, 1000))
        print(
            f"faithful copy of {args.docs:,} documents (+ every kind): built, copied and checked in "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        source.cleanup()
        dest.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
