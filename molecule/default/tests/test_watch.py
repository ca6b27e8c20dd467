"""The node agent (watch role) on the converged lab: node_exporter serves its metrics over the lab network,
they tell the truth about this lab, the unit is sandboxed, and (on the fault catalogue's suite) a real
Prometheus evaluating the collection's alert rules for 2 minutes of service churn sees no alert but the one
this lab deserves: its kernel cannot encrypt. test_faults.py checks that each fault flips its metric.
"""

import os
import subprocess
import sys
import time

import pytest
import testinfra
from labtest import FAULT_SUITE, LAB, LAB_SUITE, WATCH_INTERVAL, gauge, node_address, node_run, scrape, wait_agent

testinfra_hosts = ["local://"]
NODES = [LAB + "-manager-1", LAB + "-worker-1", LAB + "-worker-2"]
SOAK_SECONDS = int(os.environ.get("WATCH_SOAK_SECONDS") or 120)


@pytest.mark.parametrize("node", NODES)
def test_node_exporter_serves_the_agents_truth(node):
    samples = scrape(node)
    assert samples, "node_exporter on %s:9100 serves no ironclad_swarm_ metric" % node_address(node)
    age = time.time() - gauge(samples, "agent_last_success_timestamp_seconds")
    assert age < 3 * WATCH_INTERVAL, "the agent on %s last succeeded %.0f s ago" % (node, age)
    assert gauge(samples, "agent_interval_seconds") == WATCH_INTERVAL
    (info,) = samples["ironclad_swarm_node_info"]
    swarm_addr = node_run(node, "docker info --format '{{.Swarm.NodeAddr}}'").stdout.strip()
    assert info[0]["address"] == swarm_addr and info[0]["role"] == ("manager" if "manager" in node else "worker")
    # The shared CI kernel has no ESP: the probe says so, and the encrypted network declared makes it high.
    assert gauge(samples, "kernel_esp") == 0
    ids = dict((labels["id"], labels["severity"]) for labels, value in samples["ironclad_swarm_finding"])
    assert ids.get("kernel_no_esp") == "high", ids
    for name in ("fence_table_present", "fence_table_matches", "fence_boot_unit_enabled", "engine_up"):
        assert gauge(samples, name) == 1, name

    # The fence counts VXLAN outside IPsec for each overlay network the node's engine lists: none of an
    # encrypted network's (on this kernel the packets die at the xfrm policy, before the output hook). A worker
    # drops a removed network some seconds after the manager does (earlier tests remove theirs): the agent's
    # rules follow at its next run, so the check waits for a run that saw the engine's list as it is now.
    def counted_now(metrics):
        networks = node_run(node, "docker network ls --filter driver=overlay --format '{{.Name}}'").stdout.split()
        found = dict(((labels["network"], labels["direction"]), (labels["encrypted"], value))
                     for labels, value in metrics.get("ironclad_swarm_cleartext_vxlan_packets_total", []))
        return found if set(name for name, direction in found) == set(networks) else None
    counted = wait_agent(node, counted_now, "one cleartext series per overlay network the engine lists")
    for (name, direction), (encrypted, value) in counted.items():
        options = node_run(node, "docker network inspect -f '{{json .Options}}' %s" % name).stdout
        assert encrypted == ("true" if '"encrypted"' in options else "false"), (name, options)
        if encrypted == "true":
            assert value == 0, "cleartext counted on %s (%s): %s" % (name, direction, value)
    if "manager" in node:
        assert gauge(samples, "quorum") == 1 and gauge(samples, "nodes_down") == 0
        assert sorted((labels["state"], value) for labels, value in samples["ironclad_swarm_managers"]) == [
            ("reachable", 1), ("total", 1)]
    else:
        assert gauge(samples, "quorum") is None, "a worker does not read the swarm"


def test_agent_unit_is_sandboxed_and_changes_nothing():
    node = NODES[1]
    shown = node_run(node, "systemctl show ironclad-swarm-agent.service -p ProtectSystem -p CapabilityBoundingSet "
                           "-p NoNewPrivileges -p ReadWritePaths").stdout
    assert "ProtectSystem=strict" in shown and "NoNewPrivileges=yes" in shown, shown
    caps = [line for line in shown.splitlines() if line.startswith("CapabilityBoundingSet=")][0]
    assert sorted(caps.split("=", 1)[1].split()) == ["cap_net_admin", "cap_sys_admin"], caps
    # Counters aside (the fence counts the lab's traffic): the rules, the sets, the SAs and the policies.
    listing = ("nft list table inet ironclad_swarm | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'; "
               "ip xfrm state; ip xfrm policy")
    # A first run settles whatever changed before this test (the agent keeps the fence's cleartext rules in step
    # with the engine's networks: earlier tests removed some); the second must then change nothing.
    node_run(node, "systemctl start ironclad-swarm-agent.service")
    before = node_run(node, listing).stdout
    # The agent's own lines only: on forky systemd itself logs about the unit's cgroup (pids.max) at each start.
    own = "_SYSTEMD_UNIT=ironclad-swarm-agent.service"
    cursor = node_run(node, "journalctl %s -n 0 --show-cursor -o cat" % own).stdout
    cursor = cursor.strip().rsplit("cursor: ", 1)[-1]
    assert cursor, "the agent has logged before (the container kernel's findings appeared at its first run)"
    node_run(node, "systemctl start ironclad-swarm-agent.service")
    logged = node_run(node, "journalctl %s --after-cursor '%s' -o cat" % (own, cursor)).stdout
    assert logged.strip() == "", "a run that changes nothing logs nothing: %r" % logged
    assert node_run(node, "systemctl show ironclad-swarm-agent.service -p Result").stdout.strip() == "Result=success"
    assert node_run(node, listing).stdout == before
    state = node_run(node, "python3 -c \"import json; s=json.load(open('/var/lib/ironclad-swarm/agent-state.json')); "
                           "print(s['schema_version'], s['error'])\"").stdout.split()
    assert state == ["1", "None"], state


@pytest.mark.skipif(LAB_SUITE != FAULT_SUITE,
                    reason="the soak runs on the fault catalogue's suite only (make test's time)")
def test_no_alert_but_the_kernels_through_service_churn():
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    controller = testinfra.get_host("local://")
    assert controller.exists("prometheus"), "Debian's prometheus package (tests/lab/host-setup.sh installs it)"
    done = subprocess.run([sys.executable, os.path.join(project, "tests", "watch", "soak.py"), "--nodes"] + NODES
                          + ["--seconds", str(SOAK_SECONDS), "--networks", "mol-encrypted", "mol-plain",
                             "--allow", "IroncladSwarmKernelCannotEncrypt"],
                          capture_output=True, text=True, check=False, timeout=SOAK_SECONDS + 300)
    print(done.stdout[-3000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The one alert this lab deserves was seen: the pipeline from agent to alert works end to end.
    assert "IroncladSwarmKernelCannotEncrypt" in done.stdout
