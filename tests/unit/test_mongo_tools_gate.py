"""The interop tests on a fresh machine and in CI (issue 17 §5): without mongo-tools a newcomer's run
passes, skipping them with ONE line saying how to run them; where they are required (``.ci/run``)
or MONGO_TOOLS_BIN names a wrong directory, their absence fails the run.

Each case runs pytest on ``tests/interop`` in a child process; the gate acts before any test server
starts, so each takes about a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "tests/interop"]


def _env(**values: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MONGO_TOOLS", "ANALYTIQ_REQUIRE"))}
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def _pytest(**values: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(PYTEST, cwd=ROOT, env=_env(**values), capture_output=True, text=True, timeout=120)


def test_without_the_tools_the_interop_tests_skip_with_one_line() -> None:
    done = _pytest()
    assert done.returncode == 0, done.stdout[-2000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, done.stdout[-2000:]
    assert "set MONGO_TOOLS_BIN=" in skipped[0] and ".ci/run" in skipped[0]
    assert " passed" not in done.stdout and "error" not in done.stdout.lower()


def test_when_the_tools_are_required_their_absence_fails() -> None:
    done = _pytest(ANALYTIQ_REQUIRE_MONGO_TOOLS="1")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "MONGO_TOOLS_BIN is not set, and ANALYTIQ_REQUIRE_MONGO_TOOLS=1 requires the tools" in done.stdout
    assert "skipped" not in done.stdout


def test_a_wrong_tools_directory_fails(tmp_path: Path) -> None:
    done = _pytest(MONGO_TOOLS_BIN=str(tmp_path))
    assert done.returncode == 1, done.stdout[-2000:]
    assert f"MONGO_TOOLS_BIN={tmp_path} has no executable mongodump" in done.stdout


def test_ci_run_requires_the_tools(tmp_path: Path) -> None:
    """``.ci/run`` with a wrong MONGO_TOOLS_BIN fails: its ``make test`` is replaced here by a ``make``
    that runs only the interop tests, with the environment ``.ci/run`` exported."""
    fake = tmp_path / "bin"
    fake.mkdir()
    make = fake / "make"
    make.write_text(f"#!/bin/sh\nexec {' '.join(PYTEST)}\n")
    make.chmod(0o755)
    env = _env(MONGO_TOOLS_BIN=str(tmp_path / "nowhere"), PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([str(ROOT / ".ci" / "run")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stdout[-2000:]
    assert "has no executable mongodump" in done.stdout
    script = (ROOT / ".ci" / "run").read_text()
    assert "export ANALYTIQ_REQUIRE_MONGO_TOOLS=1" in script
