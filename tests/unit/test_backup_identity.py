"""Same-database detection from what servers say about themselves, never from URI strings."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from analytiq_data.backup.identity import Sameness, compare, identity_from, must_refuse

PID_A, PID_B = ObjectId(), ObjectId()


def rs(pid: ObjectId, name: str = "rs0", hosts: tuple[str, ...] = ("db1:27017", "db2:27017")) -> dict[str, Any]:
    return {"setName": name, "hosts": list(hosts), "topologyVersion": {"processId": pid, "counter": 0}}


def test_same_process_whatever_the_spelling() -> None:
    a = identity_from({"topologyVersion": {"processId": PID_A}})
    b = identity_from({"topologyVersion": {"processId": PID_A}})
    assert compare(a, b)[0] is Sameness.SAME_PROCESS


def test_two_standalone_processes_differ() -> None:
    a = identity_from({"topologyVersion": {"processId": PID_A}})
    b = identity_from({"topologyVersion": {"processId": PID_B}})
    assert compare(a, b)[0] is Sameness.DIFFERENT


def test_members_of_one_replica_set_are_the_same_deployment() -> None:
    primary = identity_from(rs(PID_A))
    secondary = identity_from(rs(PID_B, hosts=("DB2:27017", "db1:27017")))
    verdict, why = compare(primary, secondary)
    assert verdict is Sameness.SAME_DEPLOYMENT
    assert "rs0" in why


def test_replica_sets_with_other_names_differ() -> None:
    assert compare(identity_from(rs(PID_A)), identity_from(rs(PID_B, name="rs1")))[0] is Sameness.DIFFERENT


def test_same_name_disjoint_hosts_is_undecided() -> None:
    other = identity_from(rs(PID_B, hosts=("x:1",)))
    assert compare(identity_from(rs(PID_A)), other)[0] is Sameness.UNKNOWN


def test_mongos_of_one_cluster_are_the_same() -> None:
    hello = {"msg": "isdbgrid", "topologyVersion": {"processId": PID_A}}
    hello_b = {"msg": "isdbgrid", "topologyVersion": {"processId": PID_B}}
    status = {"sharding": {"configsvrConnectionString": "cfg/c1:27019,c2:27019"}}
    a, b = identity_from(hello, status), identity_from(hello_b, status)
    assert compare(a, b)[0] is Sameness.SAME_DEPLOYMENT
    c = identity_from(hello_b, {"sharding": {"configsvrConnectionString": "cfg2/z:27019"}})
    assert compare(a, c)[0] is Sameness.DIFFERENT
    assert (
        compare(identity_from(hello, cluster="id1"), identity_from(hello_b, cluster="id1"))[0]
        is Sameness.SAME_DEPLOYMENT
    )


def test_mongos_and_a_shard_member_are_undecided() -> None:
    mongos = identity_from({"msg": "isdbgrid", "topologyVersion": {"processId": PID_A}})
    assert compare(mongos, identity_from(rs(PID_B)))[0] is Sameness.UNKNOWN


def test_old_servers_fall_back_to_host_and_pid() -> None:
    a = identity_from({}, {"host": "h:27017", "pid": 5})
    b = identity_from({}, {"host": "h:27017", "pid": 5})
    c = identity_from({}, {"host": "h:27018", "pid": 5})
    assert compare(a, b)[0] is Sameness.SAME_PROCESS
    assert compare(a, c)[0] is Sameness.DIFFERENT
    assert compare(identity_from({}), identity_from({}))[0] is Sameness.UNKNOWN


def test_refusal_rules() -> None:
    uuids = {b"u1", b"u2"}
    assert not must_refuse(False, Sameness.SAME_PROCESS, uuids, uuids)
    assert must_refuse(True, Sameness.SAME_PROCESS, uuids, set())
    assert not must_refuse(True, Sameness.DIFFERENT, uuids, uuids)
    # Undecided or same deployment: refused unless the UUIDs prove another database.
    assert must_refuse(True, Sameness.SAME_DEPLOYMENT, uuids, uuids)
    assert not must_refuse(True, Sameness.SAME_DEPLOYMENT, uuids, {b"other"})
    assert must_refuse(True, Sameness.UNKNOWN, uuids, {b"u2"})
    assert not must_refuse(True, Sameness.UNKNOWN, uuids, set())
    assert must_refuse(True, Sameness.UNKNOWN, set(), set())
