"""Verify the 3-manager/1-worker lab (molecule ha): quorum survives one manager.

The outage test runs last, from the controller: it stops the current leader's
container, checks that the remaining managers elect a leader and still accept a
service update, and leaves that manager stopped. The scenario then converges
again and verifies again, so the first test of the second pass proves that the
re-converge brought the manager back.
"""

import json

import pytest
import testinfra
from labtest import wait_for

controller = testinfra.get_host("local://")


def node_exec(node, cmd):
    return controller.check_output("docker exec %s %s" % (node, cmd))


def node_table(node):
    out = node_exec(node, "docker node ls --format '{{json .}}'")
    return {n["Hostname"]: n for n in map(json.loads, out.splitlines())}


def test_all_managers_reachable_and_nodes_ready(host, inventory_groups, is_first_manager):
    if not is_first_manager:
        pytest.skip("swarm-wide view is checked from the first manager")
    managers = inventory_groups["swarm_managers"]
    workers = inventory_groups["swarm_workers"]

    def settled():
        table = node_table(managers[0])
        ok = set(table) == set(managers) | set(workers) and all(
            n["Status"] == "Ready" for n in table.values()
        ) and all(table[m]["ManagerStatus"] in ("Leader", "Reachable") for m in managers)
        return table if ok else None

    table = wait_for(settled, timeout=120, what="every node Ready and every manager reachable")
    assert sum(1 for n in table.values() if n["ManagerStatus"] == "Leader") == 1
    for w in workers:
        assert table[w]["ManagerStatus"] == ""


DATA_PATH_PORT = 4800


def fence_ports(node):
    """Every port number the node's fence (table inet ironclad_swarm) matches on."""
    table = json.loads(node_exec(node, "nft -j list table inet ironclad_swarm"))["nftables"]
    ports = set()
    for obj in table:
        for expr in obj.get("rule", {}).get("expr", []):
            right = expr.get("match", {}).get("right")
            if isinstance(right, dict) and "set" in right:
                ports.update(p for p in right["set"] if isinstance(p, int))
            elif isinstance(right, int):
                ports.add(right)
    return ports


def test_swarm_uses_the_declared_data_path_port(host, inventory_groups, is_first_manager):
    """cluster_data_path_port 4800: the swarm was created with it, and every node's fence admits it.

    Checked for every node from the first manager's turn, before the outage test stops one."""
    if not is_first_manager:
        pytest.skip("every node is checked from the first manager's turn")
    for manager in inventory_groups["swarm_managers"]:
        swarm = json.loads(node_exec(manager, "docker info --format '{{json .Swarm}}'"))
        assert swarm["Cluster"]["DataPathPort"] == DATA_PATH_PORT, (manager, swarm["Cluster"])
    for node in inventory_groups["swarm_managers"] + inventory_groups["swarm_workers"]:
        ports = fence_ports(node)
        assert DATA_PATH_PORT in ports and 4789 not in ports, (node, sorted(ports))


def test_swarm_accepts_updates_with_one_manager_down(host, inventory_groups, is_first_manager):
    if not is_first_manager:
        pytest.skip("run once, from the controller")
    managers = inventory_groups["swarm_managers"]
    table = node_table(managers[0])
    leader = next(name for name, n in table.items() if n["ManagerStatus"] == "Leader")
    survivor = next(m for m in managers if m != leader)
    service = "ironclad-verify-ha"

    node_exec(survivor, "sh -c 'docker service rm %s >/dev/null 2>&1 || true'" % service)
    node_exec(survivor, "docker service create --detach --no-resolve-image --name %s --replicas 1 "
                        "--endpoint-mode dnsrr ironclad-swarm-lab/probe:1 sleep 3600" % service)

    controller.check_output("docker stop %s" % leader)

    def new_leader():
        try:
            t = node_table(survivor)
        except AssertionError:
            return None  # no quorum answer yet while the election runs
        leaders = [name for name, n in t.items() if n["ManagerStatus"] == "Leader"]
        return leaders[0] if leaders and leaders[0] != leader and t[leader]["Status"] == "Down" else None

    elected = wait_for(new_leader, timeout=90, what="a new leader after stopping %s" % leader)
    assert elected in managers and elected != leader

    # The control plane still takes writes: scale the service and see it converge.
    node_exec(survivor, "docker service update --detach --replicas 2 %s" % service)

    def replicas_running():
        out = node_exec(survivor, "docker service ls --filter name=%s --format '{{.Replicas}}'" % service)
        return out.strip() == "2/2"

    wait_for(replicas_running, timeout=90, what="%s scaled to 2/2 with %s down" % (service, leader))
    node_exec(survivor, "docker service rm %s" % service)
