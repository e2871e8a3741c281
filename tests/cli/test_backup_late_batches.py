"""Batches of a killed run that land after ``--resume`` cleared their range: the first resume still verifies.

The issue's E11000 (``ocr.chunks``) on the first resume after Ctrl-C: on a loaded destination single
inserts took up to 31 s, so batches the stopped tool had sent were still executing after the
resume had cleared their range; the resume's own inserts then met their ``_id``s. To make that
order happen on demand, each run reaches the destination through a TCP relay that can hold what
it sends (as a slow network or a busy server would) and let it through later:

1. the first run's relay holds its batches in flight, and the run is killed;
2. the resume's relay lets everything through until its first ``insert`` (all clearing is done by
   then), and holds from there;
3. the killed run's batches reach the server and are answered; then the resume goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from subprocess import PIPE
from typing import Any
from urllib.parse import urlsplit

import bson
from pymongo import AsyncMongoClient

from analytiq_data.backup.plan import STATE_COLLECTION
from tests.cli.test_backup_signals import BIG, CHUNKS, RANGE_DOCS, copying, seed
from tests.server.test_backup_resume import ROOT, cli, raw_sorted, wait_until

OP_MSG = 2013


def command_of(message: bytes) -> tuple[str, Any] | None:
    """Return the command an OP_MSG carries and its value (``("insert", "big")``), or None."""
    if int.from_bytes(message[12:16], "little") != OP_MSG or message[20] != 0:
        return None
    size = int.from_bytes(message[21:25], "little")
    body = bson.decode(message[21 : 21 + size])
    return next(iter(body.items()), None)


def command_name(message: bytes) -> str | None:
    """Return the command an OP_MSG carries (the first key of its body section), or None."""
    found = command_of(message)
    return found[0] if found else None


class HoldingRelay:
    """A TCP relay to one server that can hold what clients send, whole wire messages at a time, in order."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        hold_from: str | Callable[[bytes], bool] | None = None,
        hold_after: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.hold_from = hold_from  # start holding at the first message running this command (or accepted by it)
        self.hold_after = hold_after  # or: let the first message it accepts through, and hold from the next one
        self.holding = False
        self.held = 0  # messages held
        self.held_inserts = 0  # of which ``insert`` commands (batches of documents)
        self.held_into: Counter[str] = Counter()  # held ``insert`` commands by collection
        self.released = 0  # held messages sent on
        self.answered = 0  # answers the server sent after a release
        self.pending: list[tuple[asyncio.StreamWriter, list[bytes]]] = []
        self.waiting: list[list[int]] = []  # per connection: answers still owed for released messages
        self.tasks: list[asyncio.Task[None]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        self.writers += [client_w, server_w]
        held: list[bytes] = []
        self.pending.append((server_w, held))
        waiting = [0]
        self.waiting.append(waiting)

        async def up() -> None:
            # Whole messages only (each starts with its int32 length): the server never waits for the rest.
            buffer = b""
            while data := await client_r.read(1 << 16):
                buffer += data
                while len(buffer) >= 4 and len(buffer) >= (size := int.from_bytes(buffer[:4], "little")):
                    message, buffer = buffer[:size], buffer[size:]
                    if self.hold_from is not None and (
                        self.hold_from(message) if callable(self.hold_from) else command_name(message) == self.hold_from
                    ):
                        self.holding, self.hold_from = True, None
                    if self.holding:
                        held.append(message)
                        self.held += 1
                        command = command_of(message)
                        if command is not None and command[0] == "insert":
                            self.held_inserts += 1
                            self.held_into[str(command[1])] += 1
                    else:
                        server_w.write(message)
                        if self.hold_after is not None and self.hold_after(message):
                            self.holding, self.hold_after = True, None

        async def down() -> None:
            buffer = b""
            while data := await server_r.read(1 << 16):
                with contextlib.suppress(ConnectionError):  # the client is gone: the server still answers
                    client_w.write(data)
                buffer += data
                while len(buffer) >= 4 and len(buffer) >= (size := int.from_bytes(buffer[:4], "little")):
                    buffer = buffer[size:]
                    if waiting[0]:
                        waiting[0] -= 1
                        self.answered += 1

        self.tasks += [asyncio.create_task(up()), asyncio.create_task(down())]

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        """Send everything held (each connection's messages in order), then relay again."""
        for (server_w, held), waiting in zip(self.pending, self.waiting, strict=True):
            if held:
                server_w.write(b"".join(held))
                waiting[0] += len(held)
                self.released += len(held)
                held.clear()
        self.holding = False

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:
            writer.close()


def reached(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def poll() -> bool:
        return check()

    return poll


async def test_batches_landing_after_the_resume_cleared_their_range(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    parts = urlsplit(mongo_uri_2)
    host, port = parts.hostname or "127.0.0.1", parts.port or 27017
    first, second = HoldingRelay(host, port), HoldingRelay(host, port, hold_from="insert")
    first_uri, second_uri = await first.start(), await second.start()
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2)
    src, dst = src_client[db_name], dst_client[db_name_2]
    args = [
        "--src-uri",
        mongo_uri,
        "--src",
        db_name,
        "--dest",
        db_name_2,
        "--range-docs",
        str(RANGE_DOCS),
        "--batch-size",
        "250",
    ]
    try:
        await seed(src)
        proc = await asyncio.create_subprocess_exec(
            *cli(*args, "--dest-uri", first_uri), cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        try:
            await wait_until(copying(dst))
            first.hold()
            # A batch in flight, unanswered (the copy starts at one insert in flight: see backup/pacing.py).
            await wait_until(reached(lambda: first.held_inserts >= 1))
            assert proc.returncode is None, "the copy finished before it could be interrupted"
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # SIGKILL: what it sent is still on its way
            await proc.wait()
        assert await dst[STATE_COLLECTION].count_documents({"_id.range": {"$exists": True}}) < BIG // RANGE_DOCS

        resumed = await asyncio.create_subprocess_exec(
            *cli(*args, "--dest-uri", second_uri, "--resume", "--json"), cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        try:
            await wait_until(reached(lambda: second.held >= 1))  # the resume cleared, and its first insert waits
            first.release()  # the killed run's batches reach the server now ...
            await wait_until(reached(lambda: first.answered >= first.released))  # ... and are done
        finally:
            second.release()
        out, err = await asyncio.wait_for(resumed.communicate(), 300)

        assert first.released == first.held and first.held_inserts >= 1
        assert resumed.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["resumed"] is True and report["verified"] is True
        for name in ("big", "ocr.chunks", "small"):
            assert await raw_sorted(dst, name) == await raw_sorted(src, name), name
        assert report["documents"] == BIG + CHUNKS + 300
    finally:
        await first.close()
        await second.close()
        await src_client.close()
        await dst_client.close()
