"""Moments to restore to: ``Timestamp(s, i)``, or an ISO-8601 wall time (pure code, tested without a server)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bson.timestamp import Timestamp

from analytiq_data.backup.log.format import MAX_INC
from analytiq_data.errors import ConfigurationError

_TIMESTAMP = re.compile(r"^\s*(?:Timestamp)?\s*\(?\s*(\d+)\s*,\s*(\d+)\s*\)?\s*$")


def parse_moment(text: str) -> Timestamp:
    """Return the cluster time ``text`` names: ``Timestamp(s, i)`` exactly, or an ISO-8601 wall time.

    A wall time means every write the server stamped in or before that second
    (``Timestamp(s, 4294967295)``); without a zone it is UTC. ConfigurationError if neither.
    """
    found = _TIMESTAMP.match(text)
    if found:
        seconds, inc = int(found.group(1)), int(found.group(2))
        if seconds >= 1 << 32 or inc > MAX_INC:
            raise ConfigurationError(f"--at {text!r} is out of range", hint="e.g. --at 'Timestamp(1717000000, 3)'")
        return Timestamp(seconds, inc)
    try:
        wall = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"--at {text!r} is neither a cluster time nor an ISO-8601 time",
            hint="e.g. --at 'Timestamp(1717000000, 3)' or --at 2024-05-29T16:30:00Z",
        ) from None
    if wall.tzinfo is None:
        wall = wall.replace(tzinfo=UTC)
    return Timestamp(int(wall.timestamp()), MAX_INC)
