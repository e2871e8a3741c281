"""Two backups into one destination at once: the second stops with exit code 5 naming the destination
and the backup holding it, and changes nothing; the first finishes verified (issue 17 §3: the loser
exited 1 with a raw ``E11000 … __backup_state``, or was told to ``--resume`` a backup still running).

The first run is held still while it holds the destination: the test waits for its plan to appear
in the destination (a handshake on the destination's state), then stops the process with SIGSTOP,
runs the second one to its end, and lets the first go on with SIGCONT. No timing is assumed but
that the second run starts within the first one's lease (30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from subprocess import PIPE
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.catalog import STATE_COLLECTION
from analytiq_data.backup.claim import HOLDER_ID, DestinationClaim, claimed
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.identity import ServerIdentity
from analytiq_data.errors import ExitCode, LockError
from analytiq_data.liveness import stat_of, this_process
from tests.cli.test_backup_signals import BIG, CHUNKS, RANGE_DOCS, planned, seed
from tests.recorders import Notes
from tests.server.test_backup_resume import ROOT, cli, raw_sorted, wait_until


@pytest.mark.parametrize("flag", [None, "--drop", "--resume"])
async def test_a_second_backup_into_a_destination_in_use_exits_5_and_changes_nothing(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, flag: str | None
) -> None:
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    args = ["--src-uri", mongo_uri, "--dest-uri", mongo_uri_2, "--src", db_name, "--dest", db_name_2]
    args += ["--range-docs", str(RANGE_DOCS), "--batch-size", "250", "--parallel", "1"]
    try:
        await seed(src)
        first = await asyncio.create_subprocess_exec(*cli(*args, "--json"), cwd=ROOT, stdout=PIPE, stderr=PIPE)
        try:
            await wait_until(planned(dst))  # the first run holds the destination and has written its plan
            first.send_signal(signal.SIGSTOP)
            assert first.returncode is None, "the first backup finished before the second one started"
            header = await dst[STATE_COLLECTION].find_one({"_id": "header"})
            second = await asyncio.create_subprocess_exec(
                *cli(*args, *([flag] if flag else [])), cwd=ROOT, stdout=PIPE, stderr=PIPE
            )
            _, err = await asyncio.wait_for(second.communicate(), 120)
            assert await dst[STATE_COLLECTION].find_one({"_id": "header"}) == header  # the first run's state, intact
            first.send_signal(signal.SIGCONT)
            out, first_err = await asyncio.wait_for(first.communicate(), 300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                first.send_signal(signal.SIGCONT)
                first.kill()
        lines = err.decode().strip().splitlines()
        assert second.returncode == ExitCode.LOCK, err.decode()
        assert lines[-1].startswith(
            f"backup_db.py: error: another backup holds destination database {db_name_2!r} on 127.0.0.1:"
        ), err.decode()
        assert f"a backup on {socket.gethostname()} (pid {first.pid}) since " in lines[-1]
        assert "E11000" not in err.decode() and "Traceback" not in err.decode()

        assert first.returncode == 0, first_err.decode()
        report = json.loads(out)
        assert report["verified"] is True and report["resumed"] is False
        for name in ("big", "ocr.chunks", "small"):
            assert await raw_sorted(dst, name) == await raw_sorted(src, name), name  # nothing lost, no duplicates
        assert STATE_COLLECTION not in await dst.list_collection_names()
        assert report["documents"] == BIG + CHUNKS + 300
    finally:
        await src_client.close()
        await dst_client.close()


def _side(db: AsyncDatabase[Any]) -> Side:
    return Side("destination", "test server", db, ServerIdentity("standalone"))


async def test_of_two_claims_taken_at_once_exactly_one_wins(db: AsyncDatabase[Any]) -> None:
    claims = [DestinationClaim(_side(db)) for _ in range(4)]
    outcomes = await asyncio.gather(*(c.take() for c in claims), return_exceptions=True)
    try:
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert all(isinstance(o, LockError) for o in outcomes if o is not None)
        winner = next(c for c, o in zip(claims, outcomes, strict=True) if o is None)
        holder = await db[STATE_COLLECTION].find_one({"_id": HOLDER_ID})
        assert holder is not None and holder["run"] == winner.run and holder["pid"] == os.getpid()
    finally:
        for claim in claims:
            await claim.release()
    assert STATE_COLLECTION not in await db.list_collection_names()  # released, and nothing else was in it


def identity_of(pid: int, **other: object) -> dict[str, object]:
    """Return what a run with process ``pid`` of this host, boot and PID namespace records (``liveness``),
    with the fields ``other`` changed."""
    found = stat_of(pid)
    start = found[1] if found is not None else this_process().pid_start  # a gone pid: any start time
    return {**this_process().record(), "pid": pid, "pid_start": start, **other}


async def plant_claim(db: AsyncDatabase[Any], run: str, pid: int, **other: object) -> None:
    """Write the claim a run with process ``pid`` of this host would hold (``other``: fields changed), live for
    another minute."""
    fields = {"run": run, **identity_of(pid, **other)}
    lease = [{"$set": {**{k: {"$literal": v} for k, v in fields.items()}, "expires_at": {"$add": ["$$NOW", 60_000]}}}]
    await db[STATE_COLLECTION].update_one({"_id": HOLDER_ID}, lease, upsert=True)


async def test_a_claim_of_a_process_that_is_gone_is_taken_over_at_once(db: AsyncDatabase[Any]) -> None:
    """A run killed with SIGKILL leaves its claim: on the same host, with its process gone, it is taken over
    without waiting for the lease; a live process's claim is not."""
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()  # a pid that no longer exists
    await plant_claim(db, "killed", child.pid)
    notes = Notes()
    async with claimed(_side(db), notes) as claim:
        assert claim.took_over is not None and claim.took_over.run == "killed"
    host = socket.gethostname()
    assert notes.lines == [f"Took over the destination from a backup on {host} (pid {child.pid}) (its process is gone)"]

    await plant_claim(db, "live", os.getppid())  # alive, on this host: its claim holds
    expected = f"another backup holds destination database {db.name!r} on test server: a backup on {host} \\(pid "
    with pytest.raises(LockError, match=expected):
        await DestinationClaim(_side(db)).take()


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"pid_ns": "pid:[1]"},  # another container on this kernel, with the same host name
        {"boot_id": "00000000-0000-0000-0000-000000000000"},  # another machine (or kernel) named alike
        {"boot_id": None, "pid_ns": None, "pid_start": None},  # a holder that could not say (no /proc)
    ],
    ids=["other-pid-namespace", "other-boot", "unknown"],
)
async def test_a_claim_from_another_pid_space_is_never_taken_over_before_its_lease_ends(
    db: AsyncDatabase[Any], elsewhere: dict[str, object]
) -> None:
    """The claim of a live backup in another container with the same host name names a pid that does not
    exist here: it is not a dead run's (review finding 1: host name + kill(pid, 0) took it over)."""
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()  # a pid that means nothing here
    await plant_claim(db, "elsewhere", child.pid, **elsewhere)
    with pytest.raises(LockError, match="another backup holds destination database"):
        await DestinationClaim(_side(db)).take()
    holder = await db[STATE_COLLECTION].find_one({"_id": HOLDER_ID})
    assert holder is not None and holder["run"] == "elsewhere"


async def test_a_claim_naming_a_reused_pid_is_taken_over_at_once(db: AsyncDatabase[Any]) -> None:
    """The pid exists, but its process started at another time than the claim's: the claim's run is gone."""
    parent = os.getppid()
    started = stat_of(parent)
    assert started is not None
    await plant_claim(db, "reused", parent, pid_start=started[1] + 1)
    async with claimed(_side(db), Notes()) as claim:
        assert claim.took_over is not None and claim.took_over.run == "reused" and claim.took_over.gone
