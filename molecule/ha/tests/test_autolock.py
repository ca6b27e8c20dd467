"""Autolock on the 3-manager lab: a restarted manager is locked, and site.yml unlocks it with the key.

Autolock is turned on from the first manager and the key read there; then the Engine of another
manager is restarted, which leaves it `locked`. site.yml without the key must stop, naming that
host and cluster_unlock_key; with the key (given in a vars file, never on a command line) it must
unlock the manager and converge, without printing the key. Autolock is turned off again and the
manager unlocked in any case, so that the other tests of the scenario see the swarm as it was.
Runs before test_ha.py (which leaves a manager stopped), once, from the first manager's turn.
"""

import json
import os
import subprocess
import tempfile

import pytest
import testinfra
from labtest import run_audit_playbook, run_site, wait_for

controller = testinfra.get_host("local://")


def node_exec(node, cmd):
    return controller.check_output("docker exec %s %s" % (node, cmd))


def local_state(node):
    result = controller.run("docker exec %s docker info --format '{{.Swarm.LocalNodeState}}'" % node)
    return result.stdout.strip() if result.rc == 0 else None


def node_table(node):
    out = node_exec(node, "docker node ls --format '{{json .}}'")
    return {n["Hostname"]: n for n in map(json.loads, out.splitlines())}


def managers_settled(managers):
    def check():
        try:
            table = node_table(managers[0])
        except AssertionError:
            return None
        return all(table.get(m, {}).get("Status") == "Ready"
                   and table[m]["ManagerStatus"] in ("Leader", "Reachable") for m in managers)
    return check


def audit_keys():
    """(id, node) of every finding of playbooks/audit.yml on the lab (kernel findings left out: per network)."""
    report_dir = tempfile.mkdtemp(prefix="autolock-audit-")
    rc, report, dummy = run_audit_playbook(report_dir, "-e", "audit_fail_on=none",
                                           "-e", json.dumps({"audit_accept": ["service_image_mutable"]}))
    assert report is not None, "the audit wrote no report (rc %s)" % rc
    return set((f["id"], f["node"]) for f in report["findings"] if not f["id"].startswith("kernel_"))


def unlock(node, key):
    """`docker swarm unlock` on the node, the key on stdin."""
    return subprocess.run(["docker", "exec", "-i", node, "docker", "swarm", "unlock"], input=key + "\n",
                          text=True, capture_output=True, check=False, timeout=60)


def test_locked_manager_is_unlocked_with_cluster_unlock_key(host, inventory_groups, is_first_manager):
    if not is_first_manager:
        pytest.skip("run once, from the controller")
    managers = inventory_groups["swarm_managers"]
    first, target = managers[0], managers[1]
    wait_for(managers_settled(managers), timeout=120, what="every manager Ready and reachable")

    base = audit_keys()
    node_exec(first, "docker swarm update --autolock=true")
    key = node_exec(first, "docker swarm unlock-key -q").strip()
    assert key.startswith("SWMKEY-1-"), "unexpected unlock key format"
    fd, vars_file = tempfile.mkstemp(prefix="autolock-", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("cluster_autolock: true\ncluster_unlock_key: %s\n" % json.dumps(key))
        # The target must have the new setting before its Engine restarts, or it comes back unlocked.
        wait_for(lambda: json.loads(node_exec(target, "docker info --format '{{json .Swarm.Cluster.Spec.EncryptionConfig}}'"))
                 .get("AutoLockManagers") is True, timeout=60, what="autolock on as %s sees it" % target)
        node_exec(target, "systemctl restart docker")
        assert wait_for(lambda: local_state(target), timeout=60, what="%s's Engine to answer" % target) == "locked"

        # The fault catalogue's locked manager: the audit reports it, and nothing that is not about it.
        new = audit_keys() - base
        assert ("manager_locked", target) in new, new
        assert all(node == target for dummy, node in new), new
        print("fault catalogue, an autolocked manager restarted: flagged %s" % sorted(new))

        result = run_site("-e", "cluster_autolock=true")
        out = result.stdout + result.stderr
        assert result.returncode != 0, out[-4000:]
        assert "The Docker Engine of %s is locked" % target in out, out[-4000:]
        assert "Give the swarm's unlock key as the variable cluster_unlock_key" in out
        assert local_state(target) == "locked"

        result = run_site("-e", "@" + vars_file)
        out = result.stdout + result.stderr
        assert key not in out, "the unlock key was printed"
        assert result.returncode == 0, out[-4000:]
        assert local_state(target) == "active"
        wait_for(managers_settled(managers), timeout=120, what="%s reachable again after the unlock" % target)
        assert node_table(first)[target]["ManagerStatus"] in ("Leader", "Reachable")
    finally:
        os.unlink(vars_file)
        if local_state(target) == "locked":
            unlock(target, key)
        node_exec(first, "docker swarm update --autolock=false")
        wait_for(managers_settled(managers), timeout=120, what="every manager reachable with autolock off")
