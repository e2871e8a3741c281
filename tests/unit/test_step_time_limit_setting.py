"""The run's default step time limit: ``--step-time-limit`` > $ANALYTIQ_DB_STEP_TIME_LIMIT >
``[tool.analytiq-db] step_time_limit`` > none; a class's own ``time_limit_s`` wins over all of them."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.plan import validate_migrations
from analytiq_data.settings import Flags, resolve

FIELDS = {"step_time_limit"}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANALYTIQ_DB_STEP_TIME_LIMIT", raising=False)
    monkeypatch.chdir(tmp_path)


def test_no_limit_unless_configured() -> None:
    assert resolve(Flags(), fields=FIELDS).step_time_limit_s is None


def test_flag_beats_variable_beats_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.analytiq-db]\nstep_time_limit = 600\n")
    s = resolve(Flags(), fields=FIELDS)
    assert s.step_time_limit_s == 600 and s.origin["step_time_limit"].endswith("step_time_limit")
    monkeypatch.setenv("ANALYTIQ_DB_STEP_TIME_LIMIT", "90")
    assert resolve(Flags(), fields=FIELDS).step_time_limit_s == 90
    s = resolve(Flags(step_time_limit_s=5), fields=FIELDS)
    assert s.step_time_limit_s == 5 and s.origin["step_time_limit"] == "--step-time-limit"


@pytest.mark.parametrize("bad", ["0", "-1", "soon"])
def test_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("ANALYTIQ_DB_STEP_TIME_LIMIT", bad)
    with pytest.raises(ConfigurationError, match="ANALYTIQ_DB_STEP_TIME_LIMIT"):
        resolve(Flags(), fields=FIELDS)


def test_a_class_limit_must_be_positive() -> None:
    class Quick(Migration):
        time_limit_s: ClassVar[float | None] = 0

    with pytest.raises(ConfigurationError) as info:
        validate_migrations([Quick()])
    assert info.value.user_line() == "Quick declares time_limit_s = 0 — give a positive number of seconds, or None"
