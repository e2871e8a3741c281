"""The copy paced by the controller, on the test servers: levels reported, ceiling kept, never more inserts in flight.

The controller's choices depend on how fast the servers are, so these tests assert what must hold
whatever it chooses: the level stays within 1..--parallel, every insert batch is counted, the
inserts in flight (seen by a command listener on the destination's client) never exceed the highest
level the controller reported, and the copy is verified.
"""

from __future__ import annotations

import math
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, monitoring

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.copy import Flow, copy_range, gather_all, raw_collection
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.identity import ServerIdentity
from analytiq_data.backup.pacing import ConcurrencyController, WritePacer
from analytiq_data.backup.plan import IdRange, Intent, Kind

COUNTS = {"big": 3000, "medium": 1200, "small": 150}
BATCH = 100


async def fill(uri: str, db_name: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    try:
        for name, count in COUNTS.items():
            await client[db_name][name].insert_many([{"_id": i, "pad": "x" * 200, "n": i} for i in range(count)])
    finally:
        await client.close()


async def test_a_copy_reports_the_levels_it_used_within_the_ceiling(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    await fill(mongo_uri, db_name)
    options = BackupOptions(
        src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2, parallel=3, batch_size=BATCH
    )

    result = await backup(options)

    assert result.verified is True
    c = result.concurrency
    assert c is not None
    assert c.ceiling == 3
    assert 1 == c.lowest <= c.final <= c.highest <= 3
    assert 0.99 <= c.mean <= c.highest + 0.01  # time-weighted: between the levels used
    assert c.batches == sum(math.ceil(n / BATCH) for n in COUNTS.values())  # one paced insert per batch
    assert result.to_dict()["concurrency"]["batches"] == c.batches


async def test_parallel_one_keeps_one_insert_in_flight(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    await fill(mongo_uri, db_name)
    options = BackupOptions(
        src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2, parallel=1, batch_size=BATCH
    )

    result = await backup(options)

    assert result.verified is True
    assert result.concurrency is not None
    assert (result.concurrency.highest, result.concurrency.changes) == (1, ())


class InFlight(monitoring.CommandListener):
    """Counts ``insert`` commands between started and finished; remembers the most at once."""

    def __init__(self) -> None:
        self.now = self.most = self.seen = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.now += 1
            self.seen += 1
            self.most = max(self.most, self.now)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "insert":
            self.now -= 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.succeeded(event)  # type: ignore[arg-type]


async def test_inserts_in_flight_never_exceed_the_level(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    """Three ranges with all their writers, a pacer allowing up to 4: the destination never sees more than chosen."""
    await fill(mongo_uri, db_name)
    listener = InFlight()
    src_client: AsyncMongoClient[RawBSONDocument] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[RawBSONDocument] = AsyncMongoClient(mongo_uri_2, event_listeners=[listener])
    identity = ServerIdentity(topology="replicaset")
    src = Side("source", "src", src_client[db_name], identity)
    dst = Side("destination", "dst", dst_client[db_name_2], identity)
    # short windows, so that the level changes during this small copy
    flow = Flow(4, WritePacer(ConcurrencyController(4, min_batches=2, min_window_s=0.0)))
    try:
        digests = []
        for name, count in COUNTS.items():  # one range each, copied at once through the shared flow
            intent = Intent(name, Kind.COLLECTION, count=count)
            copy = copy_range(src, dst, intent, IdRange(0), batch_size=50, advance=lambda d, b: None, flow=flow)
            digests.append(copy)
        results = await gather_all(digests)
        report = flow.pacer.report()

        assert [d.count for d in results] == list(COUNTS.values())
        assert listener.seen == report.batches == sum(math.ceil(n / 50) for n in COUNTS.values())
        assert 1 <= listener.most <= report.highest <= 4
        for name, count in COUNTS.items():
            assert await raw_collection(dst, name).count_documents({}) == count
    finally:
        await src_client.close()
        await dst_client.close()
