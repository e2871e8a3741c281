"""Settings every command needs, read from flags, then the environment, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

from analytiq_data.errors import ConfigurationError
from analytiq_data.uri import resolve_uri

DEFAULT_URI = "mongodb://localhost:27017"
DEFAULT_ENV = "dev"
DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Settings:
    """Where to connect: the URI, the database (``ENV``) and how long to wait for a server."""

    uri: str = DEFAULT_URI
    db: str = DEFAULT_ENV
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def load(cls, *, uri: str | None = None, db: str | None = None, timeout_s: float | None = None) -> Settings:
        """Return settings from flags, falling back to ``MONGODB_URI`` / ``ENV`` /
        ``ANALYTIQ_DB_TIMEOUT``, then to the defaults; reject an empty database name or timeout."""
        resolved_uri = resolve_uri(uri) or resolve_uri(os.environ.get("MONGODB_URI") or None) or DEFAULT_URI
        name = db or os.environ.get("ENV") or DEFAULT_ENV
        validate_db_name(name)
        if timeout_s is None:
            raw = os.environ.get("ANALYTIQ_DB_TIMEOUT")
            try:
                timeout_s = float(raw) if raw else DEFAULT_TIMEOUT_S
            except ValueError as exc:
                raise ConfigurationError(
                    f"ANALYTIQ_DB_TIMEOUT={raw!r} is not a number", hint="give seconds, e.g. 5"
                ) from exc
        if timeout_s <= 0:
            raise ConfigurationError(f"timeout must be positive, got {timeout_s}", hint="e.g. --timeout 5")
        return cls(uri=resolved_uri, db=name, timeout_s=timeout_s)


_BAD_DB_CHARS = set('/\\. "$*<>:|?\0')


def validate_db_name(name: str) -> None:
    """Raise ConfigurationError unless ``name`` is a valid MongoDB database name."""
    bad = sorted(_BAD_DB_CHARS.intersection(name))
    if not name or bad or len(name.encode()) > 63:
        shown = ", ".join(repr(c) for c in bad) or "length"
        raise ConfigurationError(
            f"invalid database name {name!r} ({shown})",
            hint="use letters, digits, '_' or '-', at most 63 bytes",
        )
