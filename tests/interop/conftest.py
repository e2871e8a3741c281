"""The real mongo-tools (mongodump, mongorestore) for the interop tests, found through MONGO_TOOLS_BIN.

Every test here is marked ``mongo_tools``. Without MONGO_TOOLS_BIN the tests FAIL, saying how to
set it (CI exports it in ``.ci/run``); to leave them out on purpose, deselect the marker:
``pytest -m "not mongo_tools"``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

TOOLS_ENV = "MONGO_TOOLS_BIN"

Tool = Callable[..., subprocess.CompletedProcess[str]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every interop test ``mongo_tools`` (so ``-m "not mongo_tools"`` deselects them by name)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.mongo_tools)


@pytest.fixture(scope="session")
def tools_dir() -> Path:
    """The directory holding mongodump and mongorestore; fails the test loudly when it is not set."""
    value = os.environ.get(TOOLS_ENV)
    if not value:
        pytest.fail(
            f"{TOOLS_ENV} is not set: export {TOOLS_ENV}=/path/to/mongo-tools (../shared/mongo-tools here), "
            'or deselect these tests with -m "not mongo_tools"',
            pytrace=False,
        )
    path = Path(value)
    for name in ("mongodump", "mongorestore"):
        if not os.access(path / name, os.X_OK):
            pytest.fail(f"{TOOLS_ENV}={value} has no executable {name}", pytrace=False)
    return path


@pytest.fixture
def tool(tools_dir: Path) -> Tool:
    """Run a mongo-tools binary; fail the test with its output when it exits non-zero."""

    def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(tools_dir / name), *args], capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL
        )
        assert result.returncode == 0, f"{name} {' '.join(args)} failed:\n{result.stderr[-3000:]}"
        return result

    return run
