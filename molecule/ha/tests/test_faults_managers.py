"""The fault catalogue's manager faults, on the 3-manager, 1-worker lab (see molecule/default/tests/test_faults.py).

1. One of three managers stopped (frozen with docker pause, labtest.freeze): the swarm still takes writes; the audit writes its report, flags the lost
   manager (unreachable to Ansible, unreachable to the other managers, its node down) and says that quorum
   holds with 2 of 3; site.yml names the host, changes nothing, and stops.
2. Two of three managers stopped: the audit writes its report and flags quorum lost; site.yml stops the same
   way; nothing is demoted or removed (the node list is what it was once the managers are back).

Runs in the first verify pass only (the scenario verifies twice); results are added to
.build/fault-catalogue-mol-ha.json in the checkout.
"""

import json
import os
import subprocess
import tempfile

import pytest
from labtest import agent_findings, freeze, gauge, node_run, run_audit_playbook, run_site, thaw, wait_agent, wait_for

testinfra_hosts = ["local://"]
LAB = "mol-ha"
M1, M2, M3, W1 = LAB + "-manager-1", LAB + "-manager-2", LAB + "-manager-3", LAB + "-worker-1"
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", tempfile.gettempdir())
# Per lab: the first manager's container id names the mark, so a lab made anew runs the faults again.
LAB_ID = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", M1], text=True, capture_output=True,
                        check=False).stdout.strip()[:12]
MARK = os.path.join(EPHEMERAL, "manager-faults-done-%s" % LAB_ID)
RESULTS = {}
KERNEL_IDS = ("kernel_no_esp", "kernel_no_aes_gcm", "kernel_no_xfrm_user", "kernel_no_vxlan", "kernel_no_u32",
              "kernel_no_ip_vs")

pytestmark = pytest.mark.skipif(os.path.exists(MARK), reason="the manager faults ran in the first verify pass")


def key(f):
    if f["id"] in KERNEL_IDS:
        return (f["id"], f["node"], None, None, None)
    return (f["id"], f["node"], f.get("peer"), f.get("network"), f.get("service"))


def audit(tmp):
    rc, report, dummy = run_audit_playbook(tempfile.mkdtemp(dir=tmp), "-e", "audit_fail_on=none",
                                           "-e", json.dumps({"audit_accept": ["service_image_mutable"]}))
    assert report is not None, "the audit wrote no report (rc %s)" % rc
    return rc, report


def on(node, cmd, check=True):
    """stdout of `sh -c cmd` in a lab node (labtest.node_run, which fails the test on a non-zero exit with check)."""
    return node_run(node, cmd, check=check).stdout


def managers_table(node):
    out = on(node, "docker node ls --format '{{json .}}'", check=False)
    return {n["Hostname"]: n for n in map(json.loads, out.splitlines())} if out.strip() else {}


def reachable_everywhere():
    table = managers_table(M1)
    return table and all(table[m]["ManagerStatus"] in ("Leader", "Reachable") and table[m]["Status"] == "Ready"
                         for m in (M1, M2, M3))


def hit(k, pattern):
    names = ("id", "node", "peer", "network", "service")
    return all(dict(zip(names, k)).get(field) == value for field, value in pattern.items() if field != "optional")


def check(name, base, report, expected):
    new = set(key(f) for f in report["findings"]) - base
    missing = [p for p in expected if not p.get("optional") and not any(hit(k, p) for k in new)]
    extra = sorted(k for k in new if not any(hit(k, p) for p in expected))
    RESULTS[name] = {"flagged": not missing, "unexpected": [list(k) for k in extra], "new": sorted(list(k) for k in new)}
    assert not missing, "%s: not flagged: %s; new: %s" % (name, missing, sorted(new))
    assert not extra, "%s: flagged besides the fault: %s" % (name, extra)


def site_refuses(name, stopped):
    before = managers_table(M1)
    result = run_site()
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    for host in stopped:
        assert host in out, "site.yml must name %s: %s" % (host, out[-3000:])
    assert "Install and configure Docker Engine" not in result.stdout, "site.yml went past its first play"
    RESULTS[name]["site_refused"] = True
    return before


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("quorum"))
    wait_for(reachable_everywhere, timeout=180, what="every manager reachable before the faults")
    yield path
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", EPHEMERAL)
    with open(os.path.join(project, ".build", "fault-catalogue-%s.json" % LAB), "w") as handle:
        json.dump(RESULTS, handle, indent=1, sort_keys=True)
    open(MARK, "w").close()


def test_one_of_three_managers_stopped(tmp):
    base = set(key(f) for f in audit(tmp)[1]["findings"])
    freeze(M3)
    try:
        wait_for(lambda: managers_table(M1).get(M3, {}).get("ManagerStatus") == "Unreachable", timeout=120,
                 what="%s unreachable to the other managers" % M3)
        # Writes still work.
        on(M1, "docker service create -d --no-resolve-image --name quorum-write --replicas 1 "
               "ironclad-swarm-lab/probe:1 sleep 100000 >/dev/null && docker service rm quorum-write >/dev/null")
        rc, report = audit(tmp)
        assert rc != 0, "an unreachable host is not a clean run"
        check("one of three managers stopped", base, report, [
            {"id": "audit_failed", "node": M3}, {"id": "manager_unreachable", "node": M3},
            # The swarm marks the node down a little after the managers lose it: either may be seen.
            {"id": "node_down", "node": M3, "optional": True}])
        lost = [f for f in report["findings"] if f["id"] == "manager_unreachable"][0]
        assert "Quorum holds: 2 of 3 managers reachable, 2 needed" in lost["reason"], lost
        assert report["swarm"]["quorum"]["holds"] is True
        # The agent on manager-1 counts the Raft membership as the audit does, within two of its intervals.
        wait_agent(M1, lambda m: sorted((l["state"], v) for l, v in m.get("ironclad_swarm_managers", [])) == [
            ("reachable", 2), ("total", 3)] and gauge(m, "quorum") == 1
            and "manager_unreachable" in [f[0] for f in agent_findings(m)], "2 of 3 managers reachable, quorum holds")
        before = site_refuses("one of three managers stopped", [M3])
        assert managers_table(M1).keys() == before.keys()
    finally:
        thaw(M3)
        wait_for(reachable_everywhere, timeout=240, what="%s back and reachable" % M3)


def test_two_of_three_managers_stopped_quorum_lost(tmp):
    base = set(key(f) for f in audit(tmp)[1]["findings"])
    ids_before = sorted(managers_table(M1))
    freeze(M2, M3)
    try:
        # As in the first test: audit once manager-1 has noticed (no leader, or both others unreachable).
        # The audit reads the swarm in its first call per node, sooner than Raft may notice the loss.
        wait_for(lambda: not managers_table(M1) or all(
            managers_table(M1).get(m, {}).get("ManagerStatus") == "Unreachable" for m in (M2, M3)),
            timeout=120, what="manager-1 to notice that quorum is lost")
        rc, report = audit(tmp)
        assert rc != 0
        check("two of three managers stopped", base, report, [
            {"id": "audit_failed", "node": M2}, {"id": "audit_failed", "node": M3}, {"id": "quorum_lost", "node": M1},
            # Until the election times out, manager-1 may still answer with the old leader's list, which shows
            # both managers unreachable (and, later, down): then quorum_lost comes from the count.
            {"id": "manager_unreachable", "node": M2, "optional": True},
            {"id": "manager_unreachable", "node": M3, "optional": True},
            {"id": "node_down", "node": M2, "optional": True}, {"id": "node_down", "node": M3, "optional": True}])
        lost = [f for f in report["findings"] if f["id"] == "quorum_lost"][0]
        assert M2 not in lost.get("unreachable", []) or "nothing is demoted" in lost["reason"]
        wait_agent(M1, lambda m: gauge(m, "quorum") == 0 and "quorum_lost" in [f[0] for f in agent_findings(m)],
                   "quorum 0 and quorum_lost")
        site_refuses("two of three managers stopped", [M2, M3])
    finally:
        thaw(M2, M3)
        wait_for(reachable_everywhere, timeout=300, what="the managers back and quorum restored")
    assert sorted(managers_table(M1)) == ids_before, "nothing may be demoted or removed"
    wait_agent(M1, lambda m: gauge(m, "quorum") == 1 and not {"quorum_lost", "manager_unreachable"} & set(
        f[0] for f in agent_findings(m)), "quorum 1 again, nothing lost")
    assert all(managers_table(M1)[m]["ManagerStatus"] in ("Leader", "Reachable") for m in (M1, M2, M3))
