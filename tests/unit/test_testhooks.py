"""The one test-pause hook of the product (``analytiq_data/testhooks.py``; review finding 11: three copies,
one blocking its event loop)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from analytiq_data.testhooks import Pauses


def test_unarmed_points_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANALYTIQ_TEST_SOME_PAUSE", raising=False)
    pauses = Pauses("ANALYTIQ_TEST_SOME_PAUSE")
    assert pauses.points == set() and pauses.reached(10**9) == []
    monkeypatch.setenv("ANALYTIQ_TEST_SOME_PAUSE", "loaded")  # no directory: nothing armed
    assert Pauses("ANALYTIQ_TEST_SOME_PAUSE").points == set()


async def test_a_point_pauses_once_without_blocking_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTIQ_TEST_SOME_PAUSE", f"0,5,loaded:{tmp_path}")
    pauses = Pauses("ANALYTIQ_TEST_SOME_PAUSE")
    assert pauses.reached(3) == ["0"] and pauses.reached(7) == ["0", "5"]
    paused = asyncio.create_task(pauses.pause("loaded"))
    while not (tmp_path / "paused-loaded").exists():  # noqa: ASYNC110 (this loop runs while the point waits)
        await asyncio.sleep(0.01)
    assert (tmp_path / "paused-loaded").read_text() == str(os.getpid()) and not paused.done()
    (tmp_path / "go-loaded").touch()
    await asyncio.wait_for(paused, 30)
    (tmp_path / "paused-loaded").unlink()
    await pauses.pause("loaded")  # once only
    assert not (tmp_path / "paused-loaded").exists()
    (tmp_path / "go-0").touch()
    await pauses.pause("0", "12")
    assert (tmp_path / "paused-0").read_text() == "12" and pauses.reached(7) == ["5"]
