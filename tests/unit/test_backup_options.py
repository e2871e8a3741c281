"""Backup options are checked before any connection: one clear error per mistake."""

from __future__ import annotations

from typing import Any

import pytest

from analytiq_data.backup import BackupOptions
from analytiq_data.backup.options import split_patterns
from analytiq_data.errors import ConfigurationError

URI = "mongodb://localhost:27017"


def make(**kw: Any) -> BackupOptions:
    base: dict[str, Any] = {"src_uri": URI, "src_db": "prod", "dest_db": "backup"}
    base.update(kw)
    return BackupOptions(**base)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"src_uri": "http://example"}, "must start with mongodb://"),
        ({"dest_uri": "localhost:27017"}, "destination URI"),
        ({"src_uri": ""}, "source URI is empty"),
        ({"dest_db": "admin"}, "refusing to copy into the 'admin' database"),
        ({"dest_db": "a/b"}, "invalid database name"),
        ({"src_db": ""}, "invalid database name"),
        ({"drop": True, "resume": True}, "--drop and --resume contradict"),
        ({"parallel": 0}, "--parallel must be between"),
        ({"batch_size": 0}, "--batch-size must be between"),
        ({"range_docs": 5}, "--range-docs must be between"),
        ({"timeout_s": 0}, "timeout must be positive"),
        ({"include": ("$x",)}, "bad collection pattern"),
    ],
)
def test_bad_options_are_configuration_errors(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make(**kw)


def test_destination_defaults_to_the_source() -> None:
    assert make().destination_uri == URI
    assert make(dest_uri="mongodb://other").destination_uri == "mongodb://other"


def test_include_and_exclude_take_globs() -> None:
    options = make(include=("logs_*", "users"), exclude=("logs_old",))
    assert options.selects("users")
    assert options.selects("logs_2024")
    assert not options.selects("logs_old")
    assert not options.selects("documents")
    assert make(exclude=("tmp*",)).selects("users")
    assert not make(exclude=("tmp*",)).selects("tmp1")


def test_patterns_are_repeatable_and_comma_separated() -> None:
    assert split_patterns(["a,b", " c ", "d,,"]) == ("a", "b", "c", "d")
    assert split_patterns(None) == ()
