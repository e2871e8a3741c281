"""The restore command's flags reach the options of each kind of restore (no server): ``--parallel`` with
``--from-log`` was parsed and then dropped, the log's restore loading its base with the default."""

from __future__ import annotations

import argparse

import pytest

from analytiq_data.cli.main import build_parser
from analytiq_data.cli.restore_files_cmds import file_restore_options
from analytiq_data.cli.restore_log_cmds import log_restore_options
from analytiq_data.cli.safety_cmds import _from_options
from analytiq_data.errors import ConfigurationError
from analytiq_data.safety.restore_log import LogRestoreOptions

URI = "mongodb://127.0.0.1:1"


def parsed(*flags: str) -> argparse.Namespace:
    argv = ["restore", "--uri", URI, "--db", "prod", "--lock-wait", "7", "--lease", "9", "--parallel", "3", *flags]
    return build_parser(argv).parse_args(argv)


def test_from_log_takes_parallel_and_the_shared_flags_to_the_base_load() -> None:
    options = log_restore_options(parsed("--from-log", "log", "--at", "Timestamp(1, 1)"))
    assert (options.parallel, options.lock_wait_s, options.lease_s, options.db) == (3, 7, 9, "prod")
    base = options.file_options("log/bases/b.archive")
    assert (base.parallel, base.lock_wait_s, base.lease_s, base.uri) == (3, 7, 9, URI)


def test_every_kind_of_restore_gets_the_same_shared_flags() -> None:
    files = file_restore_options(parsed("--archive", "prod.archive"))
    backup = _from_options(parsed("--from", "prod_bk"))
    for options in (files, backup):
        assert (options.uri, options.db, options.parallel, options.lock_wait_s, options.lease_s) == (
            URI,
            "prod",
            3,
            7,
            9,
        )


def test_a_log_restores_parallel_is_checked_before_anything_is_read() -> None:
    with pytest.raises(ConfigurationError, match="--parallel must be between 1 and 64, got 0"):
        LogRestoreOptions(uri=URI, db="prod", log_dir="log", at="Timestamp(1, 1)", parallel=0)
