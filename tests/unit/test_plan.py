"""Planning is pure: which steps, in which order and direction, and every refusal, with no server."""

from __future__ import annotations

import pytest

from analytiq_data.errors import ConfigurationError, MigrationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.plan import plan, target_for_down, target_for_up, validate_migrations


class A(Migration):
    pass


class B(Migration):
    pass


class C(Migration):
    reversible = False


class D(Migration):
    pass


def steps(current: int, target: int, migrations: list[Migration]) -> list[tuple[int, str, str]]:
    return [(s.version, s.name, s.direction) for s in plan(migrations, current, target).steps]


def test_up_runs_the_next_entries_in_order() -> None:
    migrations: list[Migration] = [A(), B(), D()]
    assert steps(0, 3, migrations) == [(1, "A", "up"), (2, "B", "up"), (3, "D", "up")]
    assert steps(1, 2, migrations) == [(2, "B", "up")]
    assert plan(migrations, 3, 3).is_empty and plan(migrations, 3, 3).direction is None


def test_down_runs_in_reverse_to_the_target() -> None:
    migrations: list[Migration] = [A(), B(), D()]
    assert steps(3, 1, migrations) == [(3, "D", "down"), (2, "B", "down")]
    result = plan(migrations, 3, 0)
    assert [s.version for s in result.steps] == [3, 2, 1] and result.direction == "down"
    assert [(s.from_version, s.to_version) for s in result.steps] == [(3, 2), (2, 1), (1, 0)]


def test_unknown_target_names_the_valid_range() -> None:
    with pytest.raises(ConfigurationError) as info:
        plan([A(), B()], 0, 3)
    assert info.value.message == "unknown target version 3: valid versions are 0–2"
    with pytest.raises(ConfigurationError, match="unknown target version -1"):
        plan([A(), B()], 0, -1)
    with pytest.raises(ConfigurationError, match="the only valid version is 0"):
        plan([], 0, 1)


def test_database_newer_than_the_list_is_refused() -> None:
    with pytest.raises(MigrationError, match="the database is at version 4, newer than this code's newest migration"):
        plan([A(), B()], 4, 2)


def test_down_past_an_irreversible_step_is_refused() -> None:
    migrations: list[Migration] = [A(), B(), C(), D()]
    assert steps(4, 3, migrations) == [(4, "D", "down")]
    with pytest.raises(MigrationError) as info:
        plan(migrations, 4, 1)
    assert info.value.message == "cannot go down past version 3 (C): it is declared reversible = False"


def test_stated_version_must_equal_the_position() -> None:
    assert validate_migrations([Migration("a", version=1), A("b", version=2), B()])
    with pytest.raises(ConfigurationError) as info:
        validate_migrations([A(), B("x", version=3)])
    assert info.value.message == "B is at position 2 in the migration list but states version=3"


def test_list_entries_must_be_distinct_migration_instances() -> None:
    with pytest.raises(ConfigurationError, match="entry 2 is the class B, not an instance"):
        validate_migrations([A(), B])
    with pytest.raises(ConfigurationError, match="entry 1 is str, not a Migration"):
        validate_migrations(["A"])
    a = A()
    with pytest.raises(ConfigurationError, match=r"A appears twice in the migration list \(positions 1 and 2\)"):
        validate_migrations([a, a])


def test_the_same_class_twice_is_refused_and_a_subclass_is_its_own_version() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_migrations([A(), B(), A("again")])
    assert info.value.user_line() == (
        "A is listed twice in the migration list (positions 1 and 3) — each version needs its own class (the "
        "history records versions by class name); to repeat a change, subclass it: class AAgain(A): pass"
    )

    class AAgain(A):
        pass

    assert [m.name for m in validate_migrations([A(), B(), AAgain()])] == ["A", "B", "AAgain"]


def test_up_and_down_targets() -> None:
    assert target_for_up(1, 4, None) == 4
    assert target_for_up(1, 4, 3) == 3
    with pytest.raises(ConfigurationError, match="target version 0 is below the current version 1"):
        target_for_up(1, 4, 0)
    assert target_for_down(3, 4, None, None) == 2  # one step by default
    assert target_for_down(3, 4, None, 2) == 1
    assert target_for_down(3, 4, 0, None) == 0
    with pytest.raises(ConfigurationError, match="target version 4 is above the current version 3"):
        target_for_down(3, 4, 4, None)
    with pytest.raises(ConfigurationError, match="cannot go down 4 step"):
        target_for_down(3, 4, None, 4)
    with pytest.raises(ConfigurationError, match="cannot go down 1 step"):
        target_for_down(0, 4, None, None)


def test_analytiqs_list_is_exposed_checked_and_lazily() -> None:
    import analytiq_data as ad
    from analytiq_data.migrations import migration

    assert ad.migrations.MIGRATIONS is migration.MIGRATIONS
    assert validate_migrations(ad.migrations.MIGRATIONS) == tuple(migration.MIGRATIONS)


def test_a_list_mixing_declared_database_kinds_is_refused_in_one_line() -> None:
    from analytiq_data.errors import ConfigurationError
    from analytiq_data.migrations import Migration
    from analytiq_data.migrations.engine.drivers import declared

    class ForPymongo(Migration):
        database_kind = "pymongo"

    class ForMotor(Migration):
        database_kind = "motor"

    class Either(Migration):
        pass

    assert declared([Either()]) is None
    assert declared([Either(), ForPymongo()]) == ("pymongo", "declared: ForPymongo.database_kind")
    with pytest.raises(ConfigurationError, match="mixes steps written for PyMongo"):
        declared([ForPymongo(), ForMotor()])
