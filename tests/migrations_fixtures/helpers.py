"""Shared helpers of the engine tests: a client on a test database and readers of its state."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def effects(db: AsyncDatabase[Any]) -> dict[str, int]:
    """Return how many times each ``<version>:<direction>`` ran."""
    return {doc["_id"]: doc["n"] async for doc in db.effects.find()}


async def version_doc(db: AsyncDatabase[Any]) -> dict[str, Any] | None:
    """Return the raw version document."""
    doc: dict[str, Any] | None = await db.migrations.find_one({"_id": "schema_version"})
    return doc


async def history_docs(db: AsyncDatabase[Any]) -> list[dict[str, Any]]:
    """Return the raw history records, oldest first (by start time, as ``history`` orders them: two runners'
    ObjectIds made in the same second do not sort by time, their process parts differ)."""
    return [doc async for doc in db.migration_history.find().sort([("started_at", 1), ("_id", 1)])]


CLI = str(Path(sys.executable).parent / "analytiq-db")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CliProcess:
    """An ``analytiq-db`` process the test started, with its stdout and stderr in files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stdout(self) -> str:
        """Return what it printed on stdout so far."""
        return self.out.read_text()

    def stderr(self) -> str:
        """Return what it printed on stderr so far."""
        return self.err.read_text()

    def wait(self, timeout: float = 60) -> int:
        """Wait for it to end and return its exit code."""
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Kill it by PID if still running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)


def start_cli(tmp: Path, name: str, *args: str) -> CliProcess:
    """Start ``analytiq-db ARGS`` in the repository root, its output going to files under ``tmp``."""
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    env = {**os.environ, "ANALYTIQ_DB_LOG": str(tmp / f"{name}.log")}
    with open(out, "wb") as out_file, open(err, "wb") as err_file:
        proc = subprocess.Popen([CLI, *args], cwd=ROOT, stdout=out_file, stderr=err_file, env=env)
    return CliProcess(proc, out, err)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, limit_s: float = 60) -> None:
    """Wait until ``check()`` is true (polling an observable condition), failing after ``limit_s`` s."""
    deadline = time.monotonic() + limit_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
