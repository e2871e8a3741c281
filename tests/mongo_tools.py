"""The real mongo-tools (mongodump, mongorestore), found through MONGO_TOOLS_BIN, for every test that runs them.

A test that needs them (``tests/interop``, documentation pages running them) calls ``tools_dir``.
On a machine without the tools (MONGO_TOOLS_BIN unset or empty: a fresh clone) it skips, with one
line in the summary saying how to run them (``fold_tools_skips`` in the test plugin folds them into
one), so a newcomer's ``make test`` passes. Where the tools are expected they must run: with
``ANALYTIQ_REQUIRE_MONGO_TOOLS=1`` (``.ci/run`` exports it, with MONGO_TOOLS_BIN) their absence
FAILS, and a MONGO_TOOLS_BIN naming a directory without the binaries always fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TOOLS_ENV = "MONGO_TOOLS_BIN"
REQUIRE_ENV = "ANALYTIQ_REQUIRE_MONGO_TOOLS"
HOW = f"set {TOOLS_ENV}=/path/to/mongo-tools to run them (CI's .ci/run does: ../shared/mongo-tools)"
SKIP_REASON = f"needs the real mongodump/mongorestore: {HOW}"


def tools_dir() -> Path:
    """Return the directory holding mongodump and mongorestore; skip (or fail, as the module says) without it."""
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
