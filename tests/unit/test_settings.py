"""Settings: flags win over the environment, which wins over the defaults."""

from __future__ import annotations

import pytest

from analytiq_data.errors import ConfigurationError
from analytiq_data.settings import DEFAULT_URI, Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGODB_URI", "ENV", "ANALYTIQ_DB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.load()
    assert (s.uri, s.db, s.timeout_s) == (DEFAULT_URI, "dev", 5.0)


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://envhost/")
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("ANALYTIQ_DB_TIMEOUT", "2.5")
    s = Settings.load()
    assert (s.uri, s.db, s.timeout_s) == ("mongodb://envhost/", "prod", 2.5)
    s = Settings.load(uri="mongodb://flaghost/", db="stage", timeout_s=1)
    assert (s.uri, s.db, s.timeout_s) == ("mongodb://flaghost/", "stage", 1)


@pytest.mark.parametrize("name", ["a/b", "a.b", "with space", "x" * 64, "d$"])
def test_bad_database_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid database name"):
        Settings.load(uri="mongodb://h/", db=name)


def test_bad_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTIQ_DB_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="not a number"):
        Settings.load()
    with pytest.raises(ConfigurationError, match="must be positive"):
        Settings.load(timeout_s=0)
