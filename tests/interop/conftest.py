"""The real mongo-tools (mongodump, mongorestore) for the interop tests, found through MONGO_TOOLS_BIN.

Every test here is marked ``mongo_tools``. On a machine without the tools (MONGO_TOOLS_BIN unset
or empty: a fresh clone) they are skipped, with one line in the summary saying how to run them, so
a newcomer's ``make test`` passes. Where the tools are expected they must run: with
``ANALYTIQ_REQUIRE_MONGO_TOOLS=1`` (``.ci/run`` exports it, with MONGO_TOOLS_BIN) their absence
FAILS every test here, and a MONGO_TOOLS_BIN naming a directory without the binaries always fails.
``pytest -m "not mongo_tools"`` leaves them out on purpose.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

TOOLS_ENV = "MONGO_TOOLS_BIN"
REQUIRE_ENV = "ANALYTIQ_REQUIRE_MONGO_TOOLS"
HOW = f"set {TOOLS_ENV}=/path/to/mongo-tools to run them (CI's .ci/run does: ../shared/mongo-tools)"

Tool = Callable[..., subprocess.CompletedProcess[str]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every interop test ``mongo_tools`` (so ``-m "not mongo_tools"`` deselects them by name)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.mongo_tools)


SKIP_REASON = f"needs the real mongodump/mongorestore: {HOW}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report every "no mongo-tools" skip at the line that skips, so the summary folds them into ONE
    line (pytest would name each test's own line)."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and str(report.longrepr[2]).endswith(SKIP_REASON):
        here = [e for e in call.excinfo.traceback if str(e.path) == __file__] if call.excinfo else []
        report.longrepr = (__file__, here[-1].lineno + 1 if here else 1, str(report.longrepr[2]))
    return report


@pytest.fixture(scope="session", autouse=True)
def tools_dir() -> Path:
    """The directory holding mongodump and mongorestore, checked before any server starts.

    Unset: skip (one line for all the tests here, as the skip is raised at this one place), or
    fail under ``ANALYTIQ_REQUIRE_MONGO_TOOLS=1``. Set to a directory without the binaries: fail.
    """
    value = os.environ.get(TOOLS_ENV, "")
    if not value:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{TOOLS_ENV} is not set, and {REQUIRE_ENV}=1 requires the tools: {HOW}", pytrace=False)
        pytest.skip(SKIP_REASON)
    path = Path(value)
    for name in ("mongodump", "mongorestore"):
        if not os.access(path / name, os.X_OK):
            pytest.fail(f"{TOOLS_ENV}={value} has no executable {name}: {HOW}", pytrace=False)
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
