"""``up --backup --backup-log DIR``: with a follower logging the database, a restore point instead of a copy.

A pre-step hook (as ``BackupFirst``), awaited under the migration lock when steps are pending. If
a live follower of this database writes its heartbeat in DIR (``follower.json``: refreshed within
``FRESH_S``, by a process not known to be gone: ``liveness``), the hook notes the source's cluster time C, waits
until the follower's durable position has passed C, and records C as the run's restore point in
the history (a ``backup`` record with ``restore_point`` and ``backup_log``): seconds instead of a
full copy, and ``restore --from-log DIR --at C`` (or ``--before-migration N``) brings it back.
Without a live follower it makes the full verified copy, as ``up --backup`` always did. Nothing
of the tool's is left in the database: the heartbeat lives in DIR.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bson.timestamp import Timestamp

from analytiq_data.backup.consistent.point import ts_text
from analytiq_data.backup.log.follower import HEARTBEAT
from analytiq_data.errors import ConfigurationError
from analytiq_data.liveness import holder_gone
from analytiq_data.migrations.engine.applying import cluster_time_of
from analytiq_data.migrations.engine.prestep import BeforeSteps, HookRecord
from analytiq_data.safety.backup_first import PHASE, BackupFirst

#: A heartbeat older than this is not a live follower.
FRESH_S = 15.0
#: How long the hook waits for the follower to pass the cluster time.
DEFAULT_WAIT_S = 60.0


def live_follower(log_dir: str, db: str, now: float | None = None) -> dict[str, Any] | None:
    """Return the heartbeat of a live follower of ``db`` in ``log_dir``, None if there is none."""
    try:
        beat = json.loads((Path(log_dir) / HEARTBEAT).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(beat, dict) or beat.get("db") != db or beat.get("state") != "following":
        return None
    if (now or time.time()) - float(beat.get("updated", 0)) > FRESH_S:
        return None
    return None if holder_gone(beat) else beat


def _durable(beat: dict[str, Any] | None) -> Timestamp | None:
    d = (beat or {}).get("durable")
    return Timestamp(int(d["t"]), int(d["i"])) if d else None


class LogPointFirst:
    """A pre-step hook recording a restore point in the follower's log (or, without one, the full copy)."""

    def __init__(self, log_dir: str, fallback: BackupFirst, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.log_dir, self.fallback, self.wait_s = log_dir, fallback, wait_s
        self.name: str | None = None
        self.point: Timestamp | None = None

    async def __call__(self, ctx: BeforeSteps) -> HookRecord:
        """Record the restore point once the follower has passed the current cluster time; else copy."""
        if live_follower(self.log_dir, ctx.db_name) is None:
            ctx.progress.note(f"no follower of {ctx.db_name} is running in {self.log_dir}: making a full copy")
            record = await self.fallback(ctx)
            self.name = self.fallback.name
            return record
        started = time.monotonic()
        point = await cluster_time_of(ctx.client[ctx.db_name])
        if point is None:
            raise ConfigurationError("the server reports no cluster time", hint="a follower needs a replica set")
        await ctx.set_phase(PHASE)
        ctx.progress.note(f"waiting for the follower in {self.log_dir} to pass {ts_text(point)}")
        while True:
            beat = live_follower(self.log_dir, ctx.db_name)
            durable = _durable(beat)
            if durable is not None and durable >= point:
                break
            if beat is None or time.monotonic() - started > self.wait_s:
                raise ConfigurationError(
                    f"the follower in {self.log_dir} did not log up to {ts_text(point)} within {self.wait_s:g} s "
                    "(stopped, or too far behind): nothing was migrated",
                    hint="check analytiq-db follow, or run up --backup without --backup-log for a full copy",
                )
            await asyncio.sleep(0.2)  # the follower refreshes its heartbeat about every second
        self.point = point
        self.name = f"restore point {ts_text(point)} in {self.log_dir}"
        ctx.progress.note(f"restore point recorded: {ts_text(point)} (the follower has logged everything before it)")
        fields: dict[str, Any] = {"restore_point": point, "backup_log": self.log_dir}
        description = f"restore point in the event log before migrating from version {ctx.from_version}"
        return HookRecord(PHASE, self.name, description, "recorded", fields, round(time.monotonic() - started, 3))
