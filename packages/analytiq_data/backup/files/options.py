"""What a dump to files is asked to do: one frozen, validated set of options, checked before connecting."""

from __future__ import annotations

from dataclasses import dataclass

from analytiq_data.backup.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PARALLEL,
    MAX_BATCH_SIZE,
    MAX_PARALLEL,
    BackupOptions,
)
from analytiq_data.errors import ConfigurationError
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name


@dataclass(frozen=True)
class DumpOptions:
    """Dump database ``src_db`` at ``src_uri`` to an ``archive`` file (``-``: stdout) or an ``out`` directory.

    ``gzip`` compresses (the whole archive stream, or each file of a directory). ``drop`` replaces
    an existing archive file or ``out/<db>`` directory. ``parallel`` collections are read at once
    (interleaved in an archive). ``verify`` reads the files back and compares them with what was
    read from the server. ``consistent`` adds the change events up to one cluster time T, which
    this tool's restore replays (see ``backup.consistent.dumpfile``).
    """

    src_uri: str
    src_db: str
    archive: str | None = None
    out: str | None = None
    gzip: bool = False
    drop: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    parallel: int = DEFAULT_PARALLEL
    batch_size: int = DEFAULT_BATCH_SIZE
    verify: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    consistent: bool = False

    def __post_init__(self) -> None:
        if (self.archive is None) == (self.out is None):
            raise ConfigurationError("give one of --archive FILE or --out DIR", hint="e.g. --archive prod.archive")
        if self.archive == "" or self.out == "":
            raise ConfigurationError("the dump path is empty", hint="e.g. --archive prod.archive or --out dump/")
        validate_db_name(self.src_db)
        if not 1 <= self.parallel <= MAX_PARALLEL:
            raise ConfigurationError(f"--parallel must be between 1 and {MAX_PARALLEL}, got {self.parallel}")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigurationError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE:,}, got {self.batch_size}")
        self.plan_options()  # the URI, patterns and timeout, checked as for a copy

    @property
    def to_stdout(self) -> bool:
        """Return whether the archive goes to standard output."""
        return self.archive == "-"

    @property
    def destination(self) -> str:
        """Return where the dump goes, for messages."""
        if self.archive is not None:
            return "standard output" if self.to_stdout else self.archive
        return f"{self.out}/{self.src_db}"

    def plan_options(self) -> BackupOptions:
        """Return the copy options the shared planner reads (source, patterns, timeout)."""
        return BackupOptions(
            src_uri=self.src_uri,
            src_db=self.src_db,
            dest_db="dump",
            include=self.include,
            exclude=self.exclude,
            parallel=self.parallel,
            batch_size=self.batch_size,
            timeout_s=self.timeout_s,
        )
