"""Verbs of the backup group (filled in by the backup work)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add this group's verbs to the parser."""
    return None
