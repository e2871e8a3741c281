#!/usr/bin/env python3
"""Copy a MongoDB database, as the migration guide runs it:

    python backup_db.py --src-uri URI [--dest-uri URI] --src DB --dest DB

The same as ``analytiq-db backup``; the work is done by ``analytiq_data.backup``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "packages"))

from analytiq_data.cli.backup_main import console_main

if __name__ == "__main__":
    console_main()
