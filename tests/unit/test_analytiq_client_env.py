"""The application's client takes its database name from ENV; an empty name is refused, not 'dev'."""

from __future__ import annotations

import pytest

from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError, ExitCode


def test_empty_env_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "")
    with pytest.raises(ConfigurationError) as caught:
        AnalytiqClient(uri="mongodb://127.0.0.1:1/")
    assert caught.value.exit_code == ExitCode.CONFIGURATION
    assert "database name is empty" in str(caught.value)


def test_empty_env_argument_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "prod")
    with pytest.raises(ConfigurationError):
        AnalytiqClient(uri="mongodb://127.0.0.1:1/", env="")


def test_unset_env_means_dev_and_set_env_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENV", raising=False)
    assert AnalytiqClient(uri="mongodb://127.0.0.1:1/").env == "dev"
    monkeypatch.setenv("ENV", "prod")
    assert AnalytiqClient(uri="mongodb://127.0.0.1:1/").env == "prod"
