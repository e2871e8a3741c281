"""``backup_db.py``: the guide's backup command line (filled in by the backup work)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the guide's backup command line and return the exit code."""
    print("backup_db.py: error: the backup engine is not built yet", file=sys.stderr)
    return 1


def console_main() -> None:
    """Entry point of ``backup_db.py``."""
    sys.exit(main())
