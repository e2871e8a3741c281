"""Two migrations whose list check is counted: every read of ``declared_version`` (what
``validate_migrations`` checks of each entry) adds one to ``CHECKS["n"]``."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration

CHECKS = {"n": 0}


class CountedMigration(Migration):
    """A step that records itself; its stated version is read through a counter."""

    @property
    def declared_version(self) -> int | None:
        CHECKS["n"] += 1
        return None

    @declared_version.setter
    def declared_version(self, value: int | None) -> None:
        pass

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.counted.insert_one({"step": type(self).__name__})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.counted.delete_many({"step": type(self).__name__})
        return True


class FirstCountedMigration(CountedMigration):
    """The first counted step."""


class SecondCountedMigration(CountedMigration):
    """The second counted step."""


MIGRATIONS: list[Migration] = [FirstCountedMigration(), SecondCountedMigration()]
