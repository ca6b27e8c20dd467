"""site.yml with one host unreachable: it stops in the validation play, names the host, changes nothing.

One worker's container is frozen (docker pause), as a hung server would be. The run must fail before any
role starts, with a message that names the host, says that nothing changed and gives the ways
forward; the manager's view of the swarm must be what it was. The worker is resumed
afterwards (always) and the test waits until the manager sees it Ready, so the scenario ends as
it started.
"""

import json

import testinfra
from labtest import LAB, freeze, run_site, thaw, wait_for

testinfra_hosts = ["local://"]
controller = testinfra.get_host("local://")
MANAGER, WORKER = LAB + "-manager-1", LAB + "-worker-2"


def on(node, cmd):
    return controller.check_output("docker exec %s %s" % (node, cmd))


def node_list():
    out = on(MANAGER, "docker node ls --format '{{json .}}'")
    return sorted((json.loads(line) for line in out.splitlines()), key=lambda n: n["ID"])


def membership():
    """What a run could change on the manager: the nodes, their roles and availability, the swarm's settings."""
    swarm = json.loads(on(MANAGER, "docker info --format '{{json .Swarm}}'"))
    nodes = [(n["ID"], n["Hostname"], n["Availability"], n["ManagerStatus"]) for n in node_list()]
    return nodes, swarm["NodeID"], swarm["Cluster"]["ID"], swarm["Cluster"]["Spec"], swarm["Managers"]


def worker_ready():
    """The worker's own engine is back in the swarm (the manager may not have seen it go down yet),
    and the manager lists it Ready and active."""
    state = controller.run("docker exec %s docker info --format '{{.Swarm.LocalNodeState}}'" % WORKER)
    row = [n for n in node_list() if n["Hostname"] == WORKER]
    return (state.rc == 0 and state.stdout.strip() == "active" and row and row[0]["Status"] == "Ready"
            and row[0]["Availability"] == "Active")


def test_unreachable_host_stops_the_run_before_any_change():
    before = membership()
    freeze(WORKER)
    try:
        result = run_site()
        out = result.stdout + result.stderr
        assert result.returncode != 0, out[-4000:]
        assert "Cannot reach 1 host(s), or cannot run Ansible's modules on them: %s (" % WORKER in out, out[-4000:]
        assert "nothing was changed on any host" in out
        assert "bring the host(s) back" in out and "take them out of the inventory" in out
        assert "drains each such node" in out
        # No task ran after the check: neither the rest of the validation nor any later play
        # (the engine play is the first that changes hosts).
        after_check = out.split("TASK [Stop before any change when a host cannot be reached]", 1)
        assert len(after_check) == 2, out[-4000:]
        assert "TASK [" not in after_check[1].split("PLAY RECAP", 1)[0], after_check[1][:3000]
        assert "PLAY [Install and configure Docker Engine]" not in out
        recap = out.split("PLAY RECAP", 1)[1]
        rows = [line for line in recap.splitlines() if line.startswith(LAB + "-")]
        assert len(rows) == 3 and all(" changed=0 " in line for line in rows), recap
        # The manager's view is unchanged (the frozen worker may already show as Down: Status is left out).
        assert membership() == before
    finally:
        # Always, also when an assertion above failed: the scenario must end as it started.
        thaw(WORKER)
        wait_for(worker_ready, timeout=240, interval=3, what="%s Ready again once resumed" % WORKER)
    assert membership() == before
