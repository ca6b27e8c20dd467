"""Drift correction on the converged scenario, end to end, through site.yml.

1. A worker leaves and starts a swarm of its own: a plain re-run reports it and
   leaves it alone; a re-run with cluster_reconcile=true brings it back as a
   worker and removes the node entry it left behind.
2. A host outside the inventory joins the swarm: a re-run drains it (it is
   still up, so it stays listed); once it is down, a re-run removes it.
The scenario ends as it started: three nodes, each Ready with its intended role.
"""

import json
import os
import subprocess

import testinfra
import platforms
from labtest import LAB, LAB_SUITE, run_site, wait_for

testinfra_hosts = ["local://"]
controller = testinfra.get_host("local://")
MANAGER, WORKER1, WORKER, EXTRA = LAB + "-manager-1", LAB + "-worker-1", LAB + "-worker-2", LAB + "-extra"


def on(node, cmd):
    return controller.check_output("docker exec %s %s" % (node, cmd))


def swarm_info(node):
    return json.loads(on(node, "docker info --format '{{json .Swarm}}'"))


def node_list():
    out = on(MANAGER, "docker node ls --format '{{json .}}'")
    return [json.loads(line) for line in out.splitlines()]


def eth0_addr(node):
    return on(node, "ip -4 -o addr show dev eth0").split()[3].split("/")[0]


def assert_ok(result):
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout


def test_foreign_swarm_reported_then_reconciled():
    on(WORKER, "docker swarm leave --force")
    on(WORKER, "docker swarm init --advertise-addr %s" % eth0_addr(WORKER))
    foreign_id = swarm_info(WORKER)["Cluster"]["ID"]

    out = assert_ok(run_site())
    assert "%s: is in another swarm (%s)" % (WORKER, foreign_id) in out
    assert "set cluster_reconcile=true" in out
    assert swarm_info(WORKER)["Cluster"]["ID"] == foreign_id, "a plain run must only report"

    assert_ok(run_site("-e", "cluster_reconcile=true"))
    info = swarm_info(WORKER)
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is False
    nodes = node_list()
    assert sorted(n["Hostname"] for n in nodes) == sorted([MANAGER, WORKER1, WORKER])
    assert all(n["Status"] == "Ready" for n in nodes), nodes
    assert info["NodeID"] in [n["ID"] for n in nodes]


def test_departed_node_drained_then_removed():
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    lab = ["ansible-playbook", "-i", "localhost,", os.path.join(project, "tests", "lab", "nodes.yml"),
           "-e", json.dumps({"lab_name": LAB, "lab_suite": LAB_SUITE,
                             "lab_nodes": [{"name": EXTRA, "groups": []}]})]
    assert_ok(subprocess.run(lab, cwd=project, capture_output=True, text=True, timeout=600, check=False))
    try:
        # docker.io and, where the release packages it apart (the engine role's vars file), the client.
        packages = platforms.distro_packages(LAB_SUITE)
        on(EXTRA, "sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  "--no-install-recommends %s >/dev/null'" % packages)
        wait_for(lambda: controller.run("docker exec %s docker info" % EXTRA).rc == 0, timeout=60,
                 what="the extra node's engine")
        # The fence admits swarm ports from peers only: the newcomer is declared an extra peer
        # (as an operator adding a node by hand would) so that its join passes. Only the fence
        # needs to change for that, so only the firewall tag runs here.
        extra_peer = ["-e", json.dumps({"firewall_extra_peers": [eth0_addr(EXTRA)]})]
        assert_ok(run_site("--tags", "firewall", *extra_peer))
        token = on(MANAGER, "docker swarm join-token -q worker").strip()
        on(EXTRA, "docker swarm join --token %s %s:2377" % (token, eth0_addr(MANAGER)))
        extra_id = swarm_info(EXTRA)["NodeID"]

        out = assert_ok(run_site(*extra_peer))
        assert "is in the swarm but not in the inventory" in out
        row = next(n for n in node_list() if n["ID"] == extra_id)
        assert row["Availability"] == "Drain", row

        controller.check_output("docker stop %s" % EXTRA)
        wait_for(lambda: next(n for n in node_list() if n["ID"] == extra_id)["Status"] == "Down",
                 timeout=120, what="the extra node to be seen down")
        assert_ok(run_site())
        assert extra_id not in [n["ID"] for n in node_list()]
    finally:
        # Only this container: lab_state=absent would take the whole scenario's lab with it.
        controller.run("docker rm -f -v %s" % EXTRA)
    assert sorted(n["Hostname"] for n in node_list()) == sorted([MANAGER, WORKER1, WORKER])
