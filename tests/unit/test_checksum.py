"""The code checksum ignores layout, comments and docstrings, and sees every change to the code."""

from __future__ import annotations

from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.checksum import class_checksum, source_checksum
from tests.migrations_fixtures import basic, changed

ORIGINAL = '''
class AddFieldMigration(Migration):
    """Add users.flag."""

    async def up(self, db):
        await db.users.update_many({}, {"$set": {"flag": True}})
        return True
'''

REFORMATTED = '''
class AddFieldMigration(Migration):
    # A comment, another docstring and a different layout.
    """Adds the flag field to every user (reworded)."""
    async def up(self, db):
        """Apply."""
        await db.users.update_many(
            {},
            {"$set": {"flag": True}},   # trailing comment
        )
        return True
'''

CHANGED_VALUE = ORIGINAL.replace('"flag": True', '"flag": False')
CHANGED_CALL = ORIGINAL.replace("update_many", "update_one")
RENAMED_CLASS = ORIGINAL.replace("class AddFieldMigration", "class SomethingElse")


def test_layout_comments_and_docstrings_do_not_change_it() -> None:
    assert source_checksum(ORIGINAL) == source_checksum(REFORMATTED)


def test_code_changes_do() -> None:
    checksums = {source_checksum(text) for text in (ORIGINAL, CHANGED_VALUE, CHANGED_CALL)}
    assert len(checksums) == 3


def test_the_class_name_is_left_to_the_reorder_check() -> None:
    assert source_checksum(ORIGINAL) == source_checksum(RENAMED_CLASS)


def test_classes_are_checksummed_from_their_source() -> None:
    same_name = class_checksum(basic.RenameNameMigration)
    assert same_name is not None and len(same_name) == 64
    assert same_name != class_checksum(changed.RenameNameMigration)
    assert class_checksum(basic.RenameNameMigration) == same_name


def test_a_class_without_source_has_no_checksum() -> None:
    built = type("Built", (Migration,), {"__module__": "nowhere"})
    assert class_checksum(built) is None
