"""The real mongo-tools (mongodump, mongorestore) for the interop tests: skipped or failing without them as
``tests.mongo_tools`` says. Every test here is marked ``mongo_tools`` (``pytest -m "not mongo_tools"``
leaves them out on purpose).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import mongo_tools

Tool = Callable[..., subprocess.CompletedProcess[str]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every interop test ``mongo_tools`` (so ``-m "not mongo_tools"`` deselects them by name)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.mongo_tools)


@pytest.fixture(scope="session", autouse=True)
def tools_dir() -> Path:
    """The directory holding mongodump and mongorestore, checked before any server starts (``tests.mongo_tools``)."""
    return mongo_tools.tools_dir()


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
