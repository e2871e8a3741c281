"""``up --backup`` fails at a step: its error line names the verified backup it made and the exact ``restore``
command; that command, run as printed, gives the data back and keeps the history (issue 22 §2)."""

from __future__ import annotations

import asyncio
import shlex
from subprocess import PIPE
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.sample import generate_sample
from tests.migrations_fixtures.helpers import CLI, ROOT, history_docs
from tests.server.test_rehearse_support import raw_state

FAILING = "tests.migrations_fixtures.broken_migrations:FAILS_AFTER_TWO"


async def _run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=PIPE, stderr=PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_failure_line_names_the_backup_and_the_command_that_restores_it(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await generate_sample(db, docs=30, seed=2)
    before = await raw_state(db, identity=False)
    name = f"{db_name}_bk"
    code, _, err = await _run(
        CLI, "up", "--backup", "--backup-db", name, "--uri", mongo_uri, "--db", db_name, "--migrations", FAILING
    )
    assert code == 6, err
    last = err.splitlines()[-1]
    command = f"analytiq-db restore --uri '{mongo_uri}' --db {db_name} --from {name} --yes"
    assert last.endswith(f"; the verified backup made before the run is {name}; to go back to it: {command}"), last

    words = shlex.split(last.rsplit("to go back to it: ", 1)[1])
    code, out, err = await _run(CLI, *words[1:])  # the command as printed
    assert code == 0, err
    assert out.startswith(f"restored database {db_name} from backup {name} at version 0")
    skip = ("migration_history", "migration_lock")
    assert await raw_state(db, identity=False, skip=skip) == {k: v for k, v in before.items() if k not in skip}
    history = await history_docs(db)
    assert [d["direction"] for d in history] == ["backup", "up", "up", "up", "restore"]
    assert history[3]["outcome"] == "failed" and history[3]["error"]  # the failed step's record and its error
