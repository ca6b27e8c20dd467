"""Verify the 1-manager/2-worker lab built by site.yml (molecule default)."""

import json

import pytest
from labtest import LAB, LAB_SUITE, SUITE_DOCKER, run_json_lines, wait_for


def test_docker_service_enabled_and_running(host):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_daemon_json_is_as_declared(host):
    """group_vars declare max-size 20m / max-file 4; the rest are role defaults."""
    conf = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert conf["log-driver"] == "json-file"
    assert conf["log-opts"] == {"max-size": "20m", "max-file": "4"}
    assert conf["no-new-privileges"] is True
    assert conf["icc"] is False and conf["userland-proxy"] is False
    # Swarm mode refuses live-restore; the role must never write it.
    assert "live-restore" not in conf
    # The engine really runs with that configuration.
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    # no-new-privileges is applied to a container started without asking for it.
    status = host.check_output("docker run --rm ironclad-swarm-lab/probe:1 cat /proc/self/status")
    assert "NoNewPrivs:\t1" in status


def test_node_state_matches_inventory_role(host, inventory_groups):
    name = host.ansible.get_variables()["inventory_hostname"]
    swarm = json.loads(host.check_output("docker info --format '{{json .Swarm}}'"))
    assert swarm["LocalNodeState"] == "active"
    assert swarm["ControlAvailable"] is (name in inventory_groups["swarm_managers"])


def test_every_node_ready_with_intended_role(host, inventory_groups, is_first_manager):
    if not is_first_manager:
        pytest.skip("swarm-wide view is checked from the first manager")
    nodes = run_json_lines(host, "docker node ls --format '{{json .}}'")
    by_name = {n["Hostname"]: n for n in nodes}
    expected = set(inventory_groups["swarm_managers"]) | set(inventory_groups["swarm_workers"])
    assert set(by_name) == expected
    for name, node in by_name.items():
        assert node["Status"] == "Ready", name
        assert node["Availability"] == "Active", name
        is_manager = node["ManagerStatus"] in ("Leader", "Reachable")
        assert is_manager is (name in inventory_groups["swarm_managers"]), name


def test_engine_versions_equal(host, is_first_manager):
    if not is_first_manager:
        pytest.skip("checked from the first manager")
    ids = host.check_output("docker node ls -q").split()
    versions = json.loads(host.check_output(
        "docker node inspect --format '{{json .Description.Engine.EngineVersion}}' " + " ".join(ids)
    ).replace("\n", ",").join("[]"))
    assert len(versions) == 3
    assert len(set(versions)) == 1, versions
    # The run proves the platform it claims: the suite's own docker.io.
    assert versions[0].startswith(SUITE_DOCKER[LAB_SUITE] + "."), (LAB_SUITE, versions)


def test_node_runs_the_suite(host):
    """Each node is the Debian release the run is for, with its docker.io, docker-cli and SDK."""
    codename = host.check_output(". /etc/os-release; echo ${VERSION_CODENAME}")
    assert codename == LAB_SUITE
    assert host.package("docker.io").is_installed
    assert host.package("docker.io").version.startswith(SUITE_DOCKER[LAB_SUITE] + ".")
    assert host.package("python3-docker").is_installed
    # From trixie on, docker.io only recommends the client: the engine role must install it.
    assert host.exists("docker")


def test_node_labels_from_host_vars(host, is_first_manager):
    if not is_first_manager:
        pytest.skip("checked from the first manager")
    labels = json.loads(host.check_output(
        "docker node inspect --format '{{json .Spec.Labels}}' %s-worker-1" % LAB))
    assert labels.get("zone") == "a"
    assert labels.get("storage") == "ssd"
    # A number and a boolean, written as the strings placement constraints compare with.
    assert labels.get("rack") == "3"
    assert labels.get("nvme") == "true"


def test_three_replica_service_runs_one_task_per_node(host, is_first_manager):
    if not is_first_manager:
        pytest.skip("services are created from the first manager")
    name = "ironclad-verify-spread"
    host.run("docker service rm %s" % name)
    try:
        host.check_output(
            "docker service create --detach --no-resolve-image --name %s --replicas 3 "
            "--replicas-max-per-node 1 --endpoint-mode dnsrr ironclad-swarm-lab/probe:1 sleep 3600" % name
        )

        def running_nodes():
            tasks = run_json_lines(
                host, "docker service ps --filter desired-state=running --format '{{json .}}' %s" % name)
            nodes = [t["Node"] for t in tasks if t["CurrentState"].startswith("Running")]
            return nodes if len(nodes) == 3 else None

        nodes = wait_for(running_nodes, timeout=120, what="3 running tasks of %s" % name)
        assert len(set(nodes)) == 3, nodes
    finally:
        host.run("docker service rm %s" % name)
