"""Steps that fail in each way the runner must catch: raising, returning False, returning None.

Each failing step first writes ``{_id: "<name>"}`` into ``partial`` so tests can check whether the
failed step's writes survived. A step fails only while ``flags`` holds ``{_id: "fail"}``, so a test
can fix the cause and run again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration
from tests.migrations_fixtures.basic import SeedUsersMigration, count


class _Failing(Migration):
    mode: ClassVar[str] = "raise"

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.partial.insert_one({"name": self.name})
        await count(db, 2, "up")
        if await db.flags.find_one({"_id": "fail"}) is None:
            return True
        if self.mode == "raise":
            raise ValueError("boom: the data is not what this step expects")
        if self.mode == "false":
            return False
        return None  # type: ignore[return-value]  # the mistake under test: a forgotten return

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.partial.delete_many({"name": self.name})
        return True


class RaisesMigration(_Failing):
    """Raise while the fail flag is set."""

    mode = "raise"


class ReturnsFalseMigration(_Failing):
    """Return False while the fail flag is set."""

    mode = "false"


class ReturnsNoneMigration(_Failing):
    """Return None while the fail flag is set."""

    mode = "none"


class NotIdempotentMigration(_Failing):
    """Raise while the fail flag is set; declared unsafe to re-run, outside a transaction."""

    mode = "raise"
    idempotent = False
    use_transaction = False


class KeepsNothingMigration(Migration):
    """The guide's style: catch everything, log, return False (the traceback is lost)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        try:
            raise RuntimeError("hidden cause")
        except Exception:
            return False


RAISES: list[Migration] = [SeedUsersMigration(), RaisesMigration()]
RETURNS_FALSE: list[Migration] = [SeedUsersMigration(), ReturnsFalseMigration()]
RETURNS_NONE: list[Migration] = [SeedUsersMigration(), ReturnsNoneMigration()]
NOT_IDEMPOTENT: list[Migration] = [SeedUsersMigration(), NotIdempotentMigration()]


class IrreversibleMigration(Migration):
    """Drop data that cannot be brought back."""

    reversible = False

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.scratch.delete_many({})
        return True


IRREVERSIBLE: list[Migration] = [SeedUsersMigration(), IrreversibleMigration()]
