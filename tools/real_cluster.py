"""Initiate the real MongoDB deployments of ``deploy/compose.yaml`` and say how the tests reach them.

    docker compose -f deploy/compose.yaml --profile replset up -d
    python -m tools.real_cluster init replset        # or: sharded
    eval "$(python -m tools.real_cluster env replset)"
    make test

``init`` waits for every member to answer, initiates each replica set (the config server and shards
too, for ``sharded``), adds the shards through mongos, and waits until every set has a primary.
It is idempotent: a set already initiated is left as it is. ``env`` prints the ``export`` lines of
``MONGODB_URI`` (the replica set, or mongos) and ``MONGODB_URI_2`` (the separate ``dest`` set).
The CI workflow ``.github/workflows/real-mongodb.yml`` runs the same two commands.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ReplicaSet:
    """A replica set of ``deploy/compose.yaml``: its name and the ports of its members (all on localhost)."""

    name: str
    ports: tuple[int, ...]
    configsvr: bool = False

    @property
    def hosts(self) -> list[str]:
        """Return the members as ``localhost:PORT``."""
        return [f"localhost:{p}" for p in self.ports]

    @property
    def uri(self) -> str:
        """Return the URI of the whole set."""
        return f"mongodb://{','.join(self.hosts)}/?replicaSet={self.name}"


RS0 = ReplicaSet("rs0", (27017, 27018, 27019))
DEST = ReplicaSet("dest", (27020,))
CONFIG = ReplicaSet("cfg", (27217,), configsvr=True)
SHARDS = (ReplicaSet("shard1", (27218,)), ReplicaSet("shard2", (27219,)))
MONGOS_PORT = 27030
PROFILES = ("replset", "sharded")


def uris(profile: str) -> dict[str, str]:
    """Return ``MONGODB_URI`` and ``MONGODB_URI_2`` for a profile of ``deploy/compose.yaml``."""
    first = RS0.uri if profile == "replset" else f"mongodb://localhost:{MONGOS_PORT}/"
    return {"MONGODB_URI": first, "MONGODB_URI_2": DEST.uri}


def _direct(port: int) -> MongoClient[dict[str, object]]:
    return MongoClient(f"mongodb://localhost:{port}/?directConnection=true", serverSelectionTimeoutMS=2000)


def _until(what: str, check: Callable[[], bool]) -> None:
    """Call ``check`` until it returns True (server errors count as not yet); fail after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except PyMongoError as exc:
            last = str(exc).splitlines()[0][:200]
        time.sleep(0.5)  # polling a server that is starting: pacing, not synchronisation
    raise SystemExit(f"real_cluster: timed out waiting for {what} ({last or 'no answer'})")


def initiate(rs: ReplicaSet) -> None:
    """Initiate ``rs`` (unless it is already) and wait until it has a primary."""
    with _direct(rs.ports[0]) as client:
        _until(f"{rs.hosts[0]} to answer", lambda: client.admin.command("ping")["ok"] == 1)
        members = [{"_id": i, "host": h, "priority": 2 if i == 0 else 1} for i, h in enumerate(rs.hosts)]
        config = {"_id": rs.name, "members": members, **({"configsvr": True} if rs.configsvr else {})}
        try:
            client.admin.command("replSetInitiate", config)
        except OperationFailure as exc:
            if exc.code != 23:  # AlreadyInitialized
                raise
        _until(f"a primary in {rs.name}", lambda: client.admin.command("hello").get("isWritablePrimary") is True)


def add_shards() -> None:
    """Add both shards through mongos (again is harmless) and wait until mongos lists them."""
    with _direct(MONGOS_PORT) as client:
        _until("mongos to answer", lambda: client.admin.command("ping")["ok"] == 1)
        for shard in SHARDS:

            def added(seed: str = f"{shard.name}/{shard.hosts[0]}") -> bool:
                return bool(client.admin.command("addShard", seed)["ok"] == 1)

            _until(f"mongos to add {shard.name}", added)
        _until("both shards", lambda: len(client.admin.command("listShards")["shards"]) == len(SHARDS))


def init(profile: str) -> None:
    """Initiate every replica set of ``profile`` and, for ``sharded``, add the shards."""
    sets = [RS0, DEST] if profile == "replset" else [CONFIG, *SHARDS, DEST]
    for rs in sets:
        initiate(rs)
    if profile == "sharded":
        add_shards()


def main(argv: list[str]) -> int:
    """``init PROFILE`` or ``env PROFILE``."""
    if len(argv) != 2 or argv[0] not in ("init", "env") or argv[1] not in PROFILES:
        print("usage: python -m tools.real_cluster {init|env} {replset|sharded}", file=sys.stderr)
        return 2
    if argv[0] == "init":
        init(argv[1])
    for name, uri in uris(argv[1]).items():
        print(f"export {name}='{uri}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
