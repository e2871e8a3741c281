"""Small text helpers shared by every room (backup, safety, fleet, cli): plain functions, no imports of the project."""

from __future__ import annotations

from collections.abc import Sequence


def first_few(items: Sequence[str], n: int, sep: str = "; ") -> str:
    """Return the first ``n`` of ``items`` joined with ``sep``, then how many were left out.

    ``"a; b; c; and 2 more"`` (a ``"; "`` list keeps its separator before "and"); ``"a, b and 2
    more"`` (a ``", "`` list, as English writes it: no comma before "and"). Nothing is added when
    ``items`` holds ``n`` or fewer; an empty ``items`` gives ``""``.
    """
    shown = sep.join(items[:n])
    if len(items) <= n:
        return shown
    before_and = " " if sep.strip() == "," else sep
    return f"{shown}{before_and}and {len(items) - n} more"


def plural(n: int, noun: str) -> str:
    """Return ``1 database`` / ``2 databases`` / ``1,000 databases`` (an ``s`` added unless ``n`` is 1)."""
    return f"{n:,} {noun}{'s' if n != 1 else ''}"
