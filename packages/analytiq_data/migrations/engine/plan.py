"""Ordering and planning: which steps take a database from one version to another.

Pure code, no I/O. Versions are positions in the migrations list, counting from 1; version 0 means
nothing is applied. Upgrading from version ``c`` to ``t`` runs ``up`` of entries ``c+1 … t`` in
order; downgrading runs ``down`` of entries ``c … t+1`` in reverse order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from analytiq_data.errors import ConfigurationError, MigrationError
from analytiq_data.migrations.base import Migration

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Step:
    """One migration applied in one direction: ``up`` takes the database from ``version - 1`` to
    ``version``; ``down`` takes it from ``version`` to ``version - 1``."""

    version: int
    migration: Migration
    direction: Direction

    @property
    def name(self) -> str:
        """Return the migration's class name."""
        return self.migration.name

    @property
    def from_version(self) -> int:
        """Return the version the database is at before this step."""
        return self.version - 1 if self.direction == "up" else self.version

    @property
    def to_version(self) -> int:
        """Return the version the database is at after this step."""
        return self.version if self.direction == "up" else self.version - 1

    def label(self) -> str:
        """Return how the step is named to a person: ``version 3 (AddFooMigration)``."""
        return f"version {self.version} ({self.name})"


@dataclass(frozen=True)
class Plan:
    """The steps from ``current`` to ``target`` over a list whose newest version is ``head``."""

    current: int
    target: int
    head: int
    steps: tuple[Step, ...]

    @property
    def direction(self) -> Direction | None:
        """Return ``up``, ``down``, or None when there is nothing to do."""
        if not self.steps:
            return None
        return self.steps[0].direction

    @property
    def is_empty(self) -> bool:
        """Return whether the database is already at the target."""
        return not self.steps


class MigrationList(tuple[Migration, ...]):
    """A migration list that passed ``validate_migrations``: a tuple the verbs take as it is.

    A run validates its list once: the loader (or the first verb) returns a MigrationList, and
    ``validate_migrations`` hands a MigrationList back unchanged instead of checking it again.
    """

    __slots__ = ()


def validate_migrations(migrations: Sequence[object]) -> MigrationList:
    """Return the list as a MigrationList after checking every entry is a Migration instance of its own
    class (the history names versions by class) whose stated ``version=`` (if any) equals its
    position; raise ConfigurationError naming the entry.
    A MigrationList is returned as it is (it was checked when it was made)."""
    if isinstance(migrations, MigrationList):
        return migrations
    checked: list[Migration] = []
    seen: dict[int, int] = {}
    classes: dict[type[Migration], int] = {}
    for position, entry in enumerate(migrations, start=1):
        if isinstance(entry, type) and issubclass(entry, Migration):
            raise ConfigurationError(
                f"migration list entry {position} is the class {entry.__name__}, not an instance",
                hint=f"write {entry.__name__}() in the list",
            )
        if not isinstance(entry, Migration):
            raise ConfigurationError(
                f"migration list entry {position} is {type(entry).__name__}, not a Migration",
                hint="every entry must be an instance of a Migration subclass",
            )
        limit = entry.time_limit_s
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0):
            raise ConfigurationError(
                f"{entry.name} declares time_limit_s = {limit!r}", hint="give a positive number of seconds, or None"
            )
        declared = getattr(entry, "declared_version", None)
        if declared is not None and declared != position:
            raise ConfigurationError(
                f"{entry.name} is at position {position} in the migration list but states version={declared}",
                hint="versions are positions in the list: remove version= or make it equal the position",
            )
        if id(entry) in seen:
            raise ConfigurationError(
                f"{entry.name} appears twice in the migration list (positions {seen[id(entry)]} and {position})",
                hint="each entry must be its own instance",
            )
        if type(entry) in classes:
            raise ConfigurationError(
                f"{entry.name} is listed twice in the migration list (positions {classes[type(entry)]} and "
                f"{position})",
                hint="each version needs its own class (the history records versions by class name); to repeat "
                f"a change, subclass it: class {entry.name}Again({entry.name}): pass",
            )
        seen[id(entry)] = classes[type(entry)] = position
        checked.append(entry)
    return MigrationList(checked)


def check_version(version: int, head: int, *, what: str = "target version") -> int:
    """Return ``version`` if it is between 0 and ``head``; else raise ConfigurationError naming the range."""
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= head:
        if head == 0:
            valid = "the only valid version is 0 (the migration list is empty)"
        else:
            valid = f"valid versions are 0–{head}"
        raise ConfigurationError(f"unknown {what} {version!r}: {valid}", hint="0 means no migration applied")
    return version


def database_ahead_error(current: int, head: int) -> MigrationError:
    """Return the error for a database whose version is newer than the newest migration known."""
    return MigrationError(
        f"the database is at version {current}, newer than this code's newest migration ({head})",
        hint="deploy the code that wrote it; this code will not run or undo migrations it does not have",
    )


def plan(migrations: Sequence[Migration], current: int, target: int) -> Plan:
    """Return the steps that take a database at ``current`` to ``target``.

    Raises ConfigurationError for an unknown target, MigrationError when the database is newer
    than the list, or when going down would pass a step declared ``reversible = False``.
    """
    head = len(migrations)
    check_version(target, head)
    if current > head:
        raise database_ahead_error(current, head)
    if current < 0:
        raise MigrationError(f"the database records an impossible version {current}", hint="fix it with stamp")
    steps: list[Step]
    if target >= current:
        steps = [Step(v, migrations[v - 1], "up") for v in range(current + 1, target + 1)]
    else:
        steps = [Step(v, migrations[v - 1], "down") for v in range(current, target, -1)]
        for step in steps:
            if not step.migration.reversible:
                raise MigrationError(
                    f"cannot go down past {step.label()}: it is declared reversible = False",
                    hint=f"choose a target of {step.version} or higher, or restore a backup taken before it",
                )
    return Plan(current=current, target=target, head=head, steps=tuple(steps))


def target_for_up(current: int, head: int, to: int | None) -> int:
    """Return the target of ``up [--to N]``: the newest version, or N when it is not below ``current``."""
    if to is None:
        return head
    check_version(to, head)
    if to < current:
        raise ConfigurationError(
            f"target version {to} is below the current version {current}",
            hint=f"use down --to {to} to go down",
        )
    return to


def target_for_down(current: int, head: int, to: int | None, steps: int | None) -> int:
    """Return the target of ``down [--to N | --steps K]``: one step down when neither is given."""
    if to is not None and steps is not None:
        raise ConfigurationError("give either --to or --steps, not both", hint="down --to N, or down --steps K")
    if to is not None:
        check_version(to, head)
        if to > current:
            raise ConfigurationError(
                f"target version {to} is above the current version {current}",
                hint=f"use up --to {to} to go up",
            )
        return to
    count = 1 if steps is None else steps
    if count < 0:
        raise ConfigurationError(f"--steps must not be negative, got {count}", hint="e.g. --steps 1")
    if current - count < 0:
        raise ConfigurationError(
            f"cannot go down {count} step(s) from version {current}",
            hint=f"at most {current} step(s), or down --to 0",
        )
    return current - count
