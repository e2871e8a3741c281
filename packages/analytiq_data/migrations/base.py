"""The Migration base class: what a migration author writes and declares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pymongo.asynchronous.database import AsyncDatabase


class Migration:
    """One versioned, reversible change. Subclass it, implement ``up`` and ``down``, and append an
    instance to ``MIGRATIONS``; its version is its position in that list, counting from 1.

    Return ``True`` from ``up``/``down`` on success. Raising is better than returning ``False``:
    the traceback is kept in the migration history (either way, a server command that failed
    during the step is named in the error).

    Declarations (class attributes):

    - ``use_transaction`` (default True): run the step and its version write in one transaction
      where the server has transactions and the step's client can join it (PyMongo, not motor).
      A step the transaction gets in the way of (DDL, GridFS cursors) runs again outside one by
      itself (``engine/stepexec.py``). Set False to skip the attempt: index builds, collection
      DDL, big data migrations (the batch helper runs outside transactions anyway), effects
      outside the database.
    - ``idempotent`` (default True): the step can safely run again after a partial run. A step
      declared False that fails outside a transaction leaves the database *dirty* until
      ``analytiq-db resolve``.
    - ``reversible`` (default True): False makes ``down`` past this step refuse.
    - ``sample_filters``: collection name → filter selecting documents this step would change
      (used to rehearse on samples).
    - ``database_kind`` (default None): the kind of database the step is written for, ``"pymongo"``
      (``AsyncDatabase``: ``await coll.aggregate(...)``) or ``"motor"`` (``AsyncIOMotorDatabase``).
      None: the kind the run gives (the app's client's kind, or what the command line detects).
      A declaration wins over both, so a list written for PyMongo runs under a motor app.
    - ``time_limit_s`` (default None: the run's ``--step-time-limit``, else no limit): seconds the
      step may run; past them it is cancelled and fails like any failed step (its transaction
      rolled back), and the lock is released (docs/explanation/locking.md).
    """

    use_transaction: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    reversible: ClassVar[bool] = True
    time_limit_s: ClassVar[float | None] = None
    sample_filters: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    database_kind: ClassVar[Literal["pymongo", "motor"] | None] = None

    def __init__(self, description: str = "", version: int | None = None) -> None:
        self.description = description or (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        # The guide's examples pass version=; position in MIGRATIONS is the rule, and a stated
        # version must agree with it (checked when the list is planned).
        self.declared_version = version

    @property
    def name(self) -> str:
        """The class name, recorded in the history to detect a reordered list."""
        return type(self).__name__

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        """Apply the change to ``db``; return True on success."""
        raise NotImplementedError(f"{self.name}.up is not implemented")

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        """Revert the change on ``db``; return True on success."""
        raise NotImplementedError(f"{self.name}.down is not implemented")

    def __repr__(self) -> str:
        return f"{self.name}({self.description!r})"
