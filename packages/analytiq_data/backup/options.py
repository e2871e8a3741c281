"""What a backup is asked to do: one frozen, validated set of options, checked before any connection."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from analytiq_data.errors import ConfigurationError
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name

DEFAULT_PARALLEL = 8
DEFAULT_BATCH_SIZE = 1000
DEFAULT_RANGE_DOCS = 500_000
MAX_BATCH_SIZE = 100_000
MAX_PARALLEL = 64
MIN_RANGE_DOCS = 100

#: Databases a backup never writes into.
RESERVED_DATABASES = frozenset({"admin", "local", "config"})


def split_patterns(values: Iterable[str] | None) -> tuple[str, ...]:
    """Return the collection patterns of repeatable, comma-separated ``--include``/``--exclude`` values."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


@dataclass(frozen=True)
class BackupOptions:
    """A database copy from ``src_uri``/``src_db`` to ``dest_uri``/``dest_db`` (same server if ``dest_uri`` is None).

    ``drop`` replaces a non-empty destination; ``resume`` finishes an interrupted copy into it.
    ``include``/``exclude`` are collection names or glob patterns (``logs_*``). ``parallel`` is the
    ceiling of inserts in flight (the copy starts at one and adds more while the destination's
    throughput grows with them; ranges read at once: one more than that); documents move
    ``batch_size`` at a time; collections over ``range_docs`` documents are split into ``_id``
    ranges (the unit of parallelism and of resume).
    ``verify`` compares counts, content hashes, indexes and options after the copy.
    ``consistent`` makes the copy equal the source at one cluster time T (change streams: a replica
    set or mongos), see ``backup.consistent``.
    """

    src_uri: str
    src_db: str
    dest_db: str
    dest_uri: str | None = None
    drop: bool = False
    resume: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    parallel: int = DEFAULT_PARALLEL
    batch_size: int = DEFAULT_BATCH_SIZE
    range_docs: int = DEFAULT_RANGE_DOCS
    verify: bool = True
    dry_run: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    consistent: bool = False

    def __post_init__(self) -> None:
        _check_uri(self.src_uri, "source URI", "--src-uri")
        if self.dest_uri is not None:
            _check_uri(self.dest_uri, "destination URI", "--dest-uri")
        validate_db_name(self.src_db)
        validate_db_name(self.dest_db)
        if self.dest_db.lower() in RESERVED_DATABASES:
            raise ConfigurationError(
                f"refusing to copy into the {self.dest_db!r} database", hint="choose another --dest database name"
            )
        if self.drop and self.resume:
            raise ConfigurationError(
                "--drop and --resume contradict each other",
                hint="--drop starts over, --resume continues: pick one",
            )
        _check_range("--parallel", self.parallel, 1, MAX_PARALLEL)
        _check_range("--batch-size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_range("--range-docs", self.range_docs, MIN_RANGE_DOCS, 10**12)
        if not self.timeout_s > 0:
            raise ConfigurationError(f"timeout must be positive, got {self.timeout_s}", hint="e.g. --timeout 5")
        for pattern in (*self.include, *self.exclude):
            if not pattern or pattern.startswith("$"):
                raise ConfigurationError(f"bad collection pattern {pattern!r}", hint="e.g. --include users,logs_*")

    @property
    def destination_uri(self) -> str:
        """Return the destination URI (the source URI when none was given)."""
        return self.dest_uri if self.dest_uri is not None else self.src_uri

    def selects(self, name: str) -> bool:
        """Return whether collection ``name`` passes ``include`` (if any) and no ``exclude`` pattern."""
        if self.include and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)


def _check_uri(uri: str, what: str, flag: str) -> None:
    if not uri or not uri.strip():
        raise ConfigurationError(f"{what} is empty", hint=f"give {flag} mongodb://host:27017")
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigurationError(
            f"invalid MongoDB URI for the {what}: it must start with mongodb:// or mongodb+srv://",
            hint=f"e.g. {flag} mongodb://host:27017 (or env:NAME / file:PATH)",
        )


def _check_range(flag: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigurationError(f"{flag} must be between {low:,} and {high:,}, got {value!r}")
