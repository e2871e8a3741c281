"""How many databases to work on at once when ``--jobs`` is not given: from the server's cores.

A migration of a small database is mostly round trips: the client waits on the server, which
works on one request per connection at a time. Running more databases at once overlaps those
waits until the server's cores are busy, so the default is the number of cores the server reports
(``hostInfo``: ``system.numCores``), at least ``MIN_JOBS`` (one database's wait overlaps another's
even on one core) and at most ``MAX_JOBS`` (beyond it the runs mostly queue for the same locks and
disks, and each run holds a connection pool of its own). Where ``hostInfo`` is refused (a user
without the clusterMonitor role) or through mongos (whose own host says nothing of the shards),
the default is ``FALLBACK_JOBS``.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

MIN_JOBS = 2
MAX_JOBS = 8
FALLBACK_JOBS = 4


async def default_jobs(client: AsyncMongoClient[Any], *, mongos: bool = False) -> tuple[int, str]:
    """Return how many databases to run at once, and why (for people): one ``hostInfo`` command."""
    if mongos:
        return FALLBACK_JOBS, f"{FALLBACK_JOBS}: the default through mongos (give --jobs to choose)"
    try:
        info = await client.admin.command("hostInfo")
        cores = int(info.get("system", {}).get("numCores") or 0)
    except (PyMongoError, TypeError, ValueError) as exc:
        log.info("hostInfo refused (%s): %d jobs", exc, FALLBACK_JOBS)
        return FALLBACK_JOBS, f"{FALLBACK_JOBS}: the server did not say how many cores it has (give --jobs to choose)"
    if cores <= 0:
        return FALLBACK_JOBS, f"{FALLBACK_JOBS}: the server did not say how many cores it has (give --jobs to choose)"
    jobs = max(MIN_JOBS, min(MAX_JOBS, cores))
    plural = "s" if cores != 1 else ""
    return jobs, f"{jobs}: from the server's {cores} core{plural} (hostInfo), between {MIN_JOBS} and {MAX_JOBS}"
