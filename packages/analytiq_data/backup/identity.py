"""Whether two connections reach the same database: ask the servers, never compare URI strings.

``localhost`` and ``127.0.0.1``, different options, a replica-set seed list naming another member,
two mongos of one cluster: all look different as text and are the same data. The servers know:

* ``hello.topologyVersion.processId`` is unique per server process: equal means the same process.
* A replica set: the same ``setName`` and a shared member in ``hosts``/``passives``/``arbiters`` (as
  the set's own config names them, however the client spelled the seed list) means the same set.
* mongos: the cluster id in ``config.version``, else the config servers'
  ``serverStatus.sharding.configsvrConnectionString``, is shared by every mongos of one cluster.
* Each collection has a UUID (``listCollections`` ``info.uuid``), the same on every member and
  every mongos. When the deployment check cannot decide, a source database whose UUIDs do not
  appear under the destination name is provably another database.

Everything here only reads. Names differing only in case count as the same database, as MongoDB
refuses two such databases on one server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pymongo import AsyncMongoClient
from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.catalog import collection_uuids
from analytiq_data.client import ping, server_kind
from analytiq_data.errors import ConfigurationError

log = logging.getLogger(__name__)


class Sameness(Enum):
    """What the servers' identities say about two connections."""

    SAME_PROCESS = "the same server process"
    SAME_DEPLOYMENT = "the same deployment"
    DIFFERENT = "different deployments"
    UNKNOWN = "undecided"


@dataclass(frozen=True)
class ServerIdentity:
    """What a server says about itself, enough to tell whether two connections share data."""

    topology: str  # "standalone" | "replicaset" | "sharded"
    process_id: str | None = None
    set_name: str | None = None
    members: frozenset[str] = frozenset()
    cluster: str | None = None  # mongos: cluster id, else the config server connection string
    host_pid: str | None = None  # serverStatus host and pid, when hello has no processId

    def describe(self) -> str:
        """Return a short description for messages (no credentials: servers never report them)."""
        if self.topology == "replicaset":
            return f"replica set {self.set_name}"
        if self.topology == "sharded":
            return "sharded cluster" + (f" {self.cluster}" if self.cluster else "")
        return "standalone server"


def identity_from(
    hello: dict[str, Any], server_status: dict[str, Any] | None = None, cluster: str | None = None
) -> ServerIdentity:
    """Return the identity a ``hello`` reply (and optionally ``serverStatus`` and a cluster id) describe."""
    kind = server_kind(hello)
    members = {str(h).lower() for key in ("hosts", "passives", "arbiters") for h in hello.get(key) or ()}
    status = server_status or {}
    if cluster is None:
        sharding = status.get("sharding") or {}
        cluster = sharding.get("configsvrConnectionString")
    host_pid = f"{status['host']}#{status['pid']}" if status.get("host") and status.get("pid") is not None else None
    return ServerIdentity(
        topology=kind.topology,
        process_id=str(kind.process_id) if kind.process_id is not None else None,
        set_name=kind.set_name,
        members=frozenset(members),
        cluster=str(cluster) if cluster else None,
        host_pid=host_pid,
    )


async def identify(client: AsyncMongoClient[Any], uri: str, timeout_s: float) -> ServerIdentity:
    """Ask the server behind ``client`` who it is (``hello``, plus ``serverStatus``/``config.version`` if allowed)."""
    hello = await ping(client, uri, timeout_s)
    status: dict[str, Any] | None = None
    cluster: str | None = None
    needs_status = hello.get("msg") == "isdbgrid" or not (hello.get("topologyVersion") or {}).get("processId")
    if needs_status:
        try:
            status = await client.admin.command("serverStatus", repl=0, metrics=0, locks=0, wiredTiger=0)
        except pm_errors.OperationFailure as exc:
            log.info("serverStatus not allowed (%s); identity from hello only", exc)
    if hello.get("msg") == "isdbgrid":
        try:
            version = await client["config"]["version"].find_one({}, {"clusterId": 1})
            if version and version.get("clusterId") is not None:
                cluster = f"clusterId {version['clusterId']}"
        except pm_errors.OperationFailure as exc:
            log.info("config.version not readable (%s); using the config server string", exc)
    return identity_from(hello, status, cluster)


def compare(a: ServerIdentity, b: ServerIdentity) -> tuple[Sameness, str]:
    """Return whether two identities are the same process, deployment, different, or undecided, and why."""
    if a.process_id and a.process_id == b.process_id:
        return Sameness.SAME_PROCESS, "the same server process"
    if a.topology == b.topology == "replicaset":
        if a.set_name != b.set_name:
            return Sameness.DIFFERENT, "different replica sets"
        shared = a.members & b.members
        if shared:
            return Sameness.SAME_DEPLOYMENT, f"replica set {a.set_name} (member {sorted(shared)[0]})"
        return Sameness.UNKNOWN, f"replica sets both named {a.set_name}"
    if a.topology == b.topology == "sharded":
        if a.cluster and b.cluster:
            if a.cluster == b.cluster:
                return Sameness.SAME_DEPLOYMENT, "the same sharded cluster"
            return Sameness.DIFFERENT, "different sharded clusters"
        return Sameness.UNKNOWN, "two mongos of undetermined clusters"
    if a.topology == b.topology == "standalone":
        if a.process_id and b.process_id:
            return Sameness.DIFFERENT, "different server processes"
        if a.host_pid and b.host_pid:
            if a.host_pid == b.host_pid:
                return Sameness.SAME_PROCESS, "the same server process"
            return Sameness.DIFFERENT, "different server processes"
        return Sameness.UNKNOWN, "standalone servers of unknown identity"
    if "sharded" in (a.topology, b.topology):
        # A mongos and a direct connection to one of its shards see the same data.
        return Sameness.UNKNOWN, f"a {a.describe()} and a {b.describe()}"
    return Sameness.DIFFERENT, f"a {a.describe()} and a {b.describe()}"


def must_refuse(same_name: bool, verdict: Sameness, src_uuids: set[bytes], dst_uuids: set[bytes]) -> bool:
    """Return whether a copy must be refused as copying a database onto itself.

    Different names never clash. The same process always does. Otherwise, unless the servers are
    known to be different deployments, the copy is refused unless the collection UUIDs prove the
    destination is another database (a source with collections none of which it holds).
    """
    if not same_name:
        return False
    if verdict is Sameness.SAME_PROCESS:
        return True
    if verdict is Sameness.DIFFERENT:
        return False
    return not (src_uuids and not (src_uuids & dst_uuids))


async def ensure_distinct(
    src: AsyncDatabase[Any], src_id: ServerIdentity, dst: AsyncDatabase[Any], dst_id: ServerIdentity, where: str
) -> None:
    """Raise ConfigurationError if ``src`` and ``dst`` are the same database, however they were reached."""
    same_name = src.name.lower() == dst.name.lower()
    if not same_name:
        return
    verdict, why = compare(src_id, dst_id)
    src_uuids: set[bytes] = set()
    dst_uuids: set[bytes] = set()
    if verdict not in (Sameness.SAME_PROCESS, Sameness.DIFFERENT):
        src_uuids, dst_uuids = await collection_uuids(src), await collection_uuids(dst)
    log.info(
        "same-database check for %r: %s (%s), %d/%d uuids", src.name, verdict.name, why, len(src_uuids), len(dst_uuids)
    )
    if must_refuse(same_name, verdict, src_uuids, dst_uuids):
        raise ConfigurationError(
            f"source and destination are the same database: {src.name!r} on {why} ({where})",
            hint="give another --dest name, or a --dest-uri of another server",
        )
