"""How a run is asked to behave (``RunOptions``) and to stop (``StopRequest``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analytiq_data.migrations.engine.hooks import RunHooks
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S
from analytiq_data.migrations.engine.prestep import PreStepHook

# (current version, newest version) -> target version; raises ConfigurationError for a bad request.
TargetChooser = Callable[[int, int], int]


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves: how long to wait for the lock, the lease length, whether to only plan,
    work to do under the lock before the first step when steps are pending (``before_steps``, e.g.
    a backup; see ``prestep``), the application's run hooks (``hooks``; see ``hooks``), and the
    time limit of a step that declares none (``step_time_limit_s``; None: no limit)."""

    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S
    dry_run: bool = False
    step_time_limit_s: float | None = None
    before_steps: PreStepHook | None = field(default=None, compare=False)
    hooks: RunHooks | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        *,
        lock_wait_s: float | None = None,
        lease_s: float | None = None,
        dry_run: bool = False,
        before_steps: PreStepHook | None = None,
        hooks: RunHooks | None = None,
        step_time_limit_s: float | None = None,
    ) -> RunOptions:
        """Return the options with None meaning the engine's default (what callers pass when nothing was set)."""
        return cls(
            lock_wait_s=DEFAULT_LOCK_WAIT_S if lock_wait_s is None else lock_wait_s,
            lease_s=DEFAULT_LEASE_S if lease_s is None else lease_s,
            dry_run=dry_run,
            step_time_limit_s=step_time_limit_s,
            before_steps=before_steps,
            hooks=hooks,
        )


class StopRequest:
    """A request to stop a run: the first stops at the next safe point between steps, the second
    aborts the running step at once (its transaction rolls back).

    ``handles_signals``: the caller turns SIGINT/SIGTERM into requests here (the command line
    does), so a KeyboardInterrupt inside a step was raised by the step itself, not by a person.
    """

    def __init__(self, *, handles_signals: bool = False) -> None:
        self.handles_signals = handles_signals
        self.count = 0
        self._step_task: asyncio.Task[Any] | None = None
        self._listeners: list[Callable[[int], None]] = []

    def request(self) -> None:
        """Ask the run to stop (call from a signal handler on the event loop)."""
        self.count += 1
        for listener in self._listeners:
            listener(self.count)
        if self.count >= 2 and self._step_task is not None and not self._step_task.done():
            self._step_task.cancel()

    def attach(self, task: asyncio.Task[Any] | None) -> None:
        """Name the task running the current step (the one a second request cancels)."""
        self._step_task = task

    def listen(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(count)`` on every request."""
        self._listeners.append(callback)

    @property
    def requested(self) -> bool:
        """Return whether a stop was requested."""
        return self.count > 0
