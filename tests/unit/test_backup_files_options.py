"""Options of dumps to files and restores from them: refused before any connection, one line each."""

from __future__ import annotations

import pytest

from analytiq_data.backup.files import DumpOptions
from analytiq_data.errors import ConfigurationError
from analytiq_data.safety.restore_files import FileRestoreOptions

URI = "mongodb://localhost:27017"


def test_a_dump_needs_exactly_one_of_archive_or_out() -> None:
    with pytest.raises(ConfigurationError, match="give one of --archive FILE or --out DIR"):
        DumpOptions(src_uri=URI, src_db="prod")
    with pytest.raises(ConfigurationError, match="give one of --archive FILE or --out DIR"):
        DumpOptions(src_uri=URI, src_db="prod", archive="a", out="d")
    assert DumpOptions(src_uri=URI, src_db="prod", archive="-").to_stdout
    assert DumpOptions(src_uri=URI, src_db="prod", out="dump").destination == "dump/prod"


def test_a_dump_checks_uri_names_and_limits_like_a_copy() -> None:
    with pytest.raises(ConfigurationError, match="must start with mongodb://"):
        DumpOptions(src_uri="localhost", src_db="prod", archive="a")
    with pytest.raises(ConfigurationError, match="--parallel must be between"):
        DumpOptions(src_uri=URI, src_db="prod", archive="a", parallel=0)
    with pytest.raises(ConfigurationError, match="bad collection pattern"):
        DumpOptions(src_uri=URI, src_db="prod", archive="a", include=("$x",))
    with pytest.raises(ConfigurationError):
        DumpOptions(src_uri=URI, src_db="bad/name", archive="a")


def test_a_restore_from_files_needs_one_source_and_a_writable_database() -> None:
    with pytest.raises(ConfigurationError, match="give one of --archive FILE or --dir DIR"):
        FileRestoreOptions(uri=URI, db="prod")
    with pytest.raises(ConfigurationError, match="refusing to restore into the 'admin' database"):
        FileRestoreOptions(uri=URI, db="admin", archive="a")
    options = FileRestoreOptions(uri=URI, db="prod", directory="dump")
    assert options.where == "dump"
    with pytest.raises(ConfigurationError, match="--parallel must be between 1 and 64, got 0"):
        FileRestoreOptions(uri=URI, db="prod", directory="dump", parallel=0)
