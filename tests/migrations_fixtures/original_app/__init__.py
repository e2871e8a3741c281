"""A migration list of the kind the Analytiq application really has, written for the original runner.

``MIGRATIONS`` (35 classes: ``early``, ``middle``, ``later``) runs on the data ``seed.seed`` writes, with the
app's own motor client or with a PyMongo client. ``SWALLOWS`` / ``RAISES``: one step each that
drops an index that does not exist — the first catches the error, logs it and returns False (the
guide's style), the second lets it raise.
"""

import logging

from analytiq_data.migrations import Migration
from tests.migrations_fixtures.original_app.early import EARLY
from tests.migrations_fixtures.original_app.later import LATER
from tests.migrations_fixtures.original_app.middle import MIDDLE

logger = logging.getLogger(__name__)

MIGRATIONS: list[Migration] = [*EARLY, *MIDDLE, *LATER]



def step(name: str) -> Migration:
    """Return the list's instance of the class called ``name`` (for tests running one step)."""
    return next(m for m in MIGRATIONS if m.name == name)


# Versions whose down returns False by design (irreversible): a full down stops above the highest.
IRREVERSIBLE_DOWNS = (1, 2)


class DropOldTokenIndex(Migration):
    def __init__(self):
        super().__init__(description="Drop the old token index")

    async def up(self, db) -> bool:
        try:
            await db.access_tokens.drop_index("token_1")
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False

    async def down(self, db) -> bool:
        return True


class DropOldTokenIndexRaising(Migration):
    def __init__(self):
        super().__init__(description="Drop the old token index, letting errors raise")

    async def up(self, db) -> bool:
        await db.access_tokens.drop_index("token_1")
        return True

    async def down(self, db) -> bool:
        return True


SWALLOWS: list[Migration] = [DropOldTokenIndex()]
RAISES: list[Migration] = [DropOldTokenIndexRaising()]
