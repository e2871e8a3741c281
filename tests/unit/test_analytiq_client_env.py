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


def test_explicit_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given uri and env, the client uses them as they are: MONGODB_URI/ENV (here unusable) are not consulted."""
    monkeypatch.setenv("MONGODB_URI", "not a uri")
    monkeypatch.setenv("ENV", "")
    client = AnalytiqClient(uri="mongodb://127.0.0.1:1/", env="prod", timeout_s=2)
    assert (client.uri, client.env, client.timeout_s) == ("mongodb://127.0.0.1:1/", "prod", 2)


def test_an_explicit_empty_uri_is_refused_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/")
    with pytest.raises(ConfigurationError) as caught:
        AnalytiqClient(uri="", env="prod")
    assert caught.value.exit_code == ExitCode.CONFIGURATION
