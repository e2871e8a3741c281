"""The path to real clusters stays valid: the CI workflow and deploy/compose.yaml parse and agree (no server).

Neither can run here (no Docker, no mongod on these machines): these checks keep them well-formed
and consistent with ``tools.real_cluster`` (ports, replica set names, profiles, versions). Their full
schemas were checked with ``check-jsonschema`` (``vendor.github-workflows``, ``vendor.compose-spec``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools import real_cluster

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "real-mongodb.yml"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def option(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


def test_the_workflow_runs_make_test_on_each_version_and_topology() -> None:
    workflow = load(WORKFLOW)
    job = workflow["jobs"]["test"]
    matrix = job["strategy"]["matrix"]
    runs = " ".join(str(step.get("run", "")) for step in job["steps"])

    assert {True, "on"} & set(workflow), "the triggers"  # YAML 1.1 reads the key `on` as true
    assert matrix["mongodb"] == ["6.0", "7.0", "8.0"]
    assert matrix["topology"] == list(real_cluster.PROFILES)
    assert "mongodb/mongodb-community-server:${{ matrix.mongodb }}" in job["env"]["MONGO_IMAGE"]
    assert "deploy/compose.yaml" in job["env"]["COMPOSE"]
    for needed in ("tools.real_cluster init", "tools.real_cluster env", "MONGO_TOOLS_BIN", "make test", "$GITHUB_ENV"):
        assert needed in runs, needed


def test_the_compose_profiles_are_the_deployments_the_tests_are_pointed_at() -> None:
    services = load(COMPOSE)["services"]
    by_profile = {p: {n for n, s in services.items() if p in s.get("profiles", [])} for p in real_cluster.PROFILES}
    assert by_profile["replset"] == {"rs1", "rs2", "rs3", "dest"}
    assert by_profile["sharded"] == {"config", "shard1", "shard2", "mongos", "dest"}

    sets: dict[str, set[int]] = {}
    for name, service in services.items():
        command = [str(c) for c in service["command"]]
        assert service["network_mode"] == "host" and "${MONGO_IMAGE" in service["image"], name
        if name == "mongos":
            assert service["entrypoint"] == ["mongos"] and option(command, "--port") == str(real_cluster.MONGOS_PORT)
            assert option(command, "--configdb") == f"{real_cluster.CONFIG.name}/{real_cluster.CONFIG.hosts[0]}"
            continue
        replset = option(command, "--replSet")
        assert replset is not None, name
        sets.setdefault(replset, set()).add(int(option(command, "--port") or 0))
    expected = [real_cluster.RS0, real_cluster.DEST, real_cluster.CONFIG, *real_cluster.SHARDS]
    assert sets == {rs.name: set(rs.ports) for rs in expected}


def test_the_uris_name_the_replica_set_or_mongos_and_the_separate_destination() -> None:
    assert real_cluster.uris("replset") == {
        "MONGODB_URI": "mongodb://localhost:27017,localhost:27018,localhost:27019/?replicaSet=rs0",
        "MONGODB_URI_2": "mongodb://localhost:27020/?replicaSet=dest",
    }
    assert real_cluster.uris("sharded")["MONGODB_URI"] == "mongodb://localhost:27030/"
