"""Verbs of the migrate group (filled in by the migrate work)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add this group's verbs to the parser."""
    return None
