"""Steps that misbehave in ways CI must not be misled by: ending the process, printing, running
migrations from inside a step, hanging past a time limit.

Each writes ``{_id: "<version>:<direction>"}`` counts in ``effects`` first (``basic.count``), so a test
sees whether the step's writes survived.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, ClassVar

from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.target import Target
from tests.migrations_fixtures.basic import AddActiveMigration, SeedUsersMigration, count


class ExitsZeroMigration(Migration):
    """Call sys.exit(0) halfway through."""

    code: ClassVar[int] = 0

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        sys.exit(self.code)

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


class ExitsOneMigration(ExitsZeroMigration):
    """Call sys.exit(1) halfway through."""

    code = 1


class RaisesKeyboardInterruptMigration(Migration):
    """Raise KeyboardInterrupt itself (no signal)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        raise KeyboardInterrupt

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


class PrintsMigration(Migration):
    """Print progress with print(), as scripts do."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        print(f"hello from a step: {await db.users.count_documents({})} users seen")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


class RunsMigrationsMigration(Migration):
    """Call the migration API on its own database from inside the step (a nested run)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        await ad.migrations.run_migrations(Target(db.client, db.name), migrations=NESTED, lock_wait_s=60)
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


class HangsMigration(Migration):
    """Wait for an event that never comes, with a time limit of a fraction of a second."""

    time_limit_s: ClassVar[float | None] = 0.3

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        await db.signals.insert_one({"_id": "entered"})
        await asyncio.Event().wait()
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


class HangsWithoutLimitMigration(HangsMigration):
    """The same wait, with no time limit of its own (the run's default applies)."""

    time_limit_s = None


class IgnoresCancelMigration(Migration):
    """Past its time limit, swallow the cancel and go on until the test writes the go signal."""

    time_limit_s: ClassVar[float | None] = 0.2

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        while True:
            try:
                if await db.signals.find_one({"_id": "go"}) is not None:
                    break
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                pass  # the mistake under test: swallowing the cancel
        await db.signals.insert_one({"_id": "finished"})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


#: Set by a test (from another thread) to let BlocksTheLoopMigration go on.
UNBLOCK = threading.Event()


class BlocksTheLoopMigration(Migration):
    """Block the event loop in synchronous code until the test sets UNBLOCK (bounded by a minute)."""

    time_limit_s: ClassVar[float | None] = 0.2
    use_transaction = False

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        UNBLOCK.wait(60)  # synchronous: nothing else on this event loop runs meanwhile
        await db.signals.insert_one({"_id": "unblocked"})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


EXITS_0: list[Migration] = [SeedUsersMigration(), ExitsZeroMigration(), AddActiveMigration()]
EXITS_1: list[Migration] = [SeedUsersMigration(), ExitsOneMigration(), AddActiveMigration()]
KEYBOARD: list[Migration] = [SeedUsersMigration(), RaisesKeyboardInterruptMigration(), AddActiveMigration()]
PRINTS: list[Migration] = [SeedUsersMigration(), PrintsMigration()]
PRINTS_ONLY: list[Migration] = [PrintsMigration()]
NESTED: list[Migration] = [SeedUsersMigration(), RunsMigrationsMigration(), AddActiveMigration()]
HANGS: list[Migration] = [SeedUsersMigration(), HangsMigration(), AddActiveMigration()]
HANGS_NO_LIMIT: list[Migration] = [SeedUsersMigration(), HangsWithoutLimitMigration(), AddActiveMigration()]
TWICE: list[Migration] = [SeedUsersMigration(), AddActiveMigration(), SeedUsersMigration()]
IGNORES_CANCEL: list[Migration] = [SeedUsersMigration(), IgnoresCancelMigration()]
BLOCKS_THE_LOOP: list[Migration] = [SeedUsersMigration(), BlocksTheLoopMigration()]
