"""Membership changes on the fenced 3-manager, 1-worker lab (issue 19, docs/operations.md).

In order, while a watcher asks manager-1 for the node list every second (a Raft read: it fails as soon as the
swarm has no leader) and the test fails if it ever did:

1. A hand promotion (`docker node promote` of the worker): the other managers reach it on TCP 2377 through its
   fence, it becomes a reachable manager, and the audit counts 4 of 4 managers, with no finding but the even
   count. site.yml demotes it back to the role its group declares; run again, it changes nothing.
2. The inventory moves the worker into swarm_managers: site.yml promotes it; moved back, site.yml demotes it.
3. A stale entry: the worker is promoted while a table of its own drops TCP 2377 (the fence of before): Docker
   refuses to add a member it cannot reach, the node is left in an error state and leaves with --force; its old
   entry asks for the manager role, is down and is not in the Raft membership, and Docker answers a demotion with
   404. site.yml (cluster_reconcile=true) makes the node join again and removes the entry with force.
4. A dead manager replaced: manager-3 is destroyed for good, a new host (manager-4) takes its place in
   swarm_managers; site.yml joins manager-4 and removes manager-3's entry; run again, it changes nothing, and the
   audit is clean of membership findings. The lab is then put back the same way: manager-4 destroyed, manager-3
   made anew and the original inventory run.

Runs in the first verify pass only (the scenario verifies twice).
"""

import copy
import json
import os
import re
import subprocess
import tempfile
import threading
import time

import pytest
import yaml
from labtest import LAB_SUITE, node_run as on, project_playbook, wait_for

testinfra_hosts = ["local://"]
LAB = "mol-ha"
M1, M2, M3, W1 = LAB + "-manager-1", LAB + "-manager-2", LAB + "-manager-3", LAB + "-worker-1"
M4 = LAB + "-manager-4"
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", tempfile.gettempdir())
LAB_ID = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", M1], text=True, capture_output=True,
                        check=False).stdout.strip()[:12]
MARK = os.path.join(EPHEMERAL, "membership-done-%s" % LAB_ID)
# Findings that say something about membership; none may appear that the step does not cause.
MEMBERSHIP = ("quorum_lost", "manager_unreachable", "node_down", "node_not_in_inventory", "managers_even",
              "managers_single", "node_foreign_swarm", "not_in_swarm", "control_blocked")

pytestmark = pytest.mark.skipif(os.path.exists(MARK), reason="the membership cases ran in the first verify pass")


def nodes(node=M1):
    """docker node ls on `node`, by hostname -> list of entries (a hostname may have an old entry too)."""
    out = on(node, "docker node ls --format '{{json .}}'").stdout
    found = {}
    for entry in map(json.loads, out.splitlines()):
        found.setdefault(entry["Hostname"], []).append(entry)
    return found


def raft_managers(node=M1):
    """The managers `node` lists (the Raft membership, as docker info counts them), and how many are reachable;
    None while it cannot list them (no leader yet)."""
    if on(node, "docker node ls -q", check=False).returncode != 0:
        return None
    table = nodes(node)
    members = [e for entries in table.values() for e in entries if e["ManagerStatus"]]
    return len(members), len([e for e in members if e["ManagerStatus"] in ("Leader", "Reachable")])


class Inventory:
    """The scenario's inventory, rewritten with other group members (a copy in a directory of its own, with the
    scenario's group_vars and host_vars beside it)."""

    def __init__(self, tmp):
        self.source = os.environ["MOLECULE_INVENTORY_FILE"]
        with open(self.source) as handle:
            self.data = yaml.safe_load(handle)
        self.dir = tmp
        for sub in ("group_vars", "host_vars"):
            there = os.path.join(os.path.dirname(self.source), sub)
            if os.path.isdir(there):
                os.symlink(there, os.path.join(tmp, sub))

    def write(self, managers, workers):
        data = copy.deepcopy(self.data)
        template = dict(data["all"]["hosts"][M1])
        hosts = {}
        for name in managers + workers:
            hosts[name] = dict(data["all"]["hosts"].get(name) or template, ansible_host=name)
        data["all"]["hosts"] = hosts
        data["swarm_managers"]["hosts"] = dict((n, hosts[n]) for n in managers)
        data["swarm_workers"]["hosts"] = dict((n, hosts[n]) for n in workers)
        path = os.path.join(self.dir, "inventory-%d.yml" % int(time.monotonic() * 1000))
        with open(path, "w") as handle:
            yaml.safe_dump(data, handle)
        return path


TIMES = {}
# A role change touches the cluster role only: those runs take its tag (each case still ends with a whole run).
CLUSTER = ("--tags", "cluster")


def timed(label, func, *args, **kwargs):
    """func(*args), its wall time kept under `label` (written to .build/membership-times-mol-ha.json for
    docs/operations.md)."""
    start = time.monotonic()
    result = func(*args, **kwargs)
    TIMES.setdefault(label, []).append(round(time.monotonic() - start, 1))
    return result


def site(inventory, *extra):
    """site.yml against one inventory file only; the result, with the recap's changed count per host."""
    project, cmd = project_playbook("site.yml", extra, ())
    cmd[2] = inventory  # ansible-playbook -i <this inventory> instead of the scenario's
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=900)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    result.changed = dict((host, int(n)) for host, n in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M))
    return result


def task_output(stdout, name):
    """What the default callback printed under the task `name` (up to the next task), or ''."""
    start = stdout.find(" : %s]" % name)
    if start < 0:
        return ""
    end = stdout.find("\nTASK [", start)
    return stdout[start:end if end > 0 else len(stdout)]


def unchanged(result):
    assert result.changed and not any(result.changed.values()), (result.changed, result.stdout[-3000:])


def audit(inventory, tmp):
    project, cmd = project_playbook("audit.yml", ("-e", "audit_report_dir=%s" % tempfile.mkdtemp(dir=tmp),
                                                  "-e", "audit_fail_on=none"), ())
    cmd[2] = inventory
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    result = subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=900)
    data = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])[0]
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith("Report | Build the report from the results of every node"):
                for host_result in task["hosts"].values():
                    report = host_result.get("ansible_facts", {}).get("audit_report")
                    if report:
                        return report
    pytest.fail("the audit wrote no report: %s" % result.stdout[-3000:])


def membership_findings(report):
    return sorted((f["id"], f["node"]) for f in report["findings"] if f["id"] in MEMBERSHIP)


def lab_node(name, tmp):
    """Start a fresh lab node `name` with the lab role (as molecule's create does)."""
    playbook = os.path.join(tmp, "lab-node.yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                         "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                         "roles": [{"role": "ironclad.swarm.lab", "lab_name": LAB,
                                    "lab_suite": LAB_SUITE,
                                    "lab_nodes": [{"name": name, "groups": ["swarm_managers"]}]}]}], handle)
    subprocess.run(["ansible-playbook", "-i", "localhost,", playbook], check=True, capture_output=True, text=True,
                   timeout=600)


class QuorumWatch(threading.Thread):
    """Asks manager-1 for the node list every second; keeps every failure (no leader = no quorum)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.failures = []
        self.reads = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            result = on(M1, "docker node ls -q", check=False)
            self.reads += 1
            if result.returncode != 0:
                self.failures.append((time.strftime("%H:%M:%S"), result.stderr.strip()))
            self.stop.wait(1)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("membership"))
    wait_for(lambda: raft_managers() == (3, 3), timeout=180, what="3 of 3 managers reachable before the cases")
    watch = QuorumWatch()
    watch.start()
    yield Inventory(tmp), tmp, watch
    watch.stop.set()
    watch.join()
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", EPHEMERAL)
    with open(os.path.join(project, ".build", "membership-times-%s.json" % LAB), "w") as handle:
        json.dump({"seconds": TIMES, "leader_reads": watch.reads, "leader_lost": watch.failures}, handle, indent=1)
    open(MARK, "w").close()
    assert watch.reads > 60 and not watch.failures, "the swarm lost its leader: %s" % watch.failures[:5]


def test_hand_promotion_keeps_quorum_and_site_follows_the_inventory(lab):
    inventory, tmp, watch = lab
    original = inventory.write([M1, M2, M3], [W1])
    on(M1, "docker node promote %s" % W1)
    # The other managers reach the new one on TCP 2377 through the fence that the inventory made for a worker.
    timed("hand promotion: reachable manager", wait_for, lambda: raft_managers() == (4, 4), timeout=90,
          what="%s a reachable manager" % W1)
    on(M1, "docker service create -d --no-resolve-image --name membership-write --replicas 1 "
           "ironclad-swarm-lab/probe:1 sleep 100000 >/dev/null && docker service rm membership-write >/dev/null")
    report = audit(original, tmp)
    assert report["swarm"]["quorum"]["managers"] == 4 and report["swarm"]["quorum"]["holds"], report["swarm"]
    assert membership_findings(report) == [("managers_even", M1)], membership_findings(report)

    # site.yml follows the inventory: the worker is demoted again. (The cluster tag: a role change touches nothing
    # else; the case ends with a whole site.yml run that changes nothing.)
    first = timed("site.yml --tags cluster demotes", site, original, *CLUSTER)
    assert first.changed.get(M1), first.stdout[-3000:]
    assert "is a manager but listed as worker: will demote it" in first.stdout
    assert raft_managers() == (3, 3)

    # The inventory promotes it, then demotes it.
    # Four managers: validation refuses an even count unless told (the audit still says managers_even).
    promoted = inventory.write([M1, M2, M3, W1], [])
    even = ("-e", "cluster_allow_even_managers=true")
    result = timed("site.yml --tags cluster promotes", site, promoted, *(even + CLUSTER))
    assert "is a worker but listed as manager: will promote it" in result.stdout
    wait_for(lambda: raft_managers() == (4, 4), timeout=90, what="%s promoted by site.yml" % W1)
    unchanged(site(promoted, *(even + CLUSTER)))
    site(original, *CLUSTER)
    assert raft_managers() == (3, 3)
    assert nodes()[W1][0]["ManagerStatus"] == ""
    unchanged(timed("site.yml, nothing to do", site, original))


def test_stale_manager_entry_is_removed_not_demoted(lab):
    inventory, tmp, watch = lab
    original = inventory.write([M1, M2, M3], [W1])
    # The fault the issue met: the worker's TCP 2377 dropped (as the fence of before did, here by a table of its own,
    # whose drop is final whatever the fence accepts). Docker refuses to add a member it cannot reach: the node is
    # left in an error state, and its entry asks for the manager role without being in the Raft membership.
    on(W1, "printf 'table inet oldfence {\\n chain input { type filter hook input priority -100; "
           "tcp dport 2377 drop; }\\n}\\n' | nft -f -")
    try:
        old_id = nodes()[W1][0]["ID"]
        on(M1, "docker node promote %s" % W1)
        wait_for(lambda: on(W1, "docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "error",
                 timeout=120, what="%s refused as a manager it cannot reach" % W1)
        assert raft_managers() == (3, 3)
        on(W1, "docker swarm leave --force")
    finally:
        on(W1, "nft delete table inet oldfence", check=False)
    wait_for(lambda: nodes()[W1][0]["Status"] == "Down", timeout=120, what="the old entry of %s down" % W1)
    entry = json.loads(on(M1, "docker node inspect %s" % old_id).stdout)[0]
    assert entry["Spec"]["Role"] == "manager" and not entry.get("ManagerStatus"), entry
    # Docker's own answer to a demotion of it, which stopped every run of site.yml before:
    refused = on(M1, "docker node demote %s" % old_id, check=False)
    assert refused.returncode != 0 and "can't find manager in raft memberlist" in refused.stderr, refused.stderr
    result = timed("site.yml --tags cluster rejoins the node and removes its stale entry", site, original,
                   "-e", "cluster_reconcile=true", *CLUSTER)
    demote = task_output(result.stdout, "Retire | Demote %s" % old_id)
    assert demote and "skipping:" in demote and "changed:" not in demote and "fatal:" not in demote, demote
    assert "changed:" in task_output(result.stdout, "Retire | Remove from the swarm - %s" % old_id)
    assert old_id not in on(M1, "docker node ls -q").stdout
    assert [e["ManagerStatus"] for e in nodes()[W1]] == [""]
    assert raft_managers() == (3, 3)
    unchanged(site(original, *CLUSTER))


def test_dead_manager_is_replaced_without_losing_quorum(lab):
    inventory, tmp, watch = lab
    # Never start from a weaker swarm than 3 of 3 (an earlier case that failed may have left one).
    wait_for(lambda: raft_managers() == (3, 3), timeout=120, what="3 of 3 managers reachable before the case")
    subprocess.run(["docker", "rm", "-f", M3], check=True, capture_output=True)
    wait_for(lambda: raft_managers() == (3, 2), timeout=90, what="%s unreachable" % M3)
    lab_node(M4, tmp)
    replaced = inventory.write([M1, M2, M4], [W1])
    first = timed("site.yml replaces a dead manager (new host installed and joined, dead one removed)", site, replaced)
    assert first.changed.get(M4), first.stdout[-3000:]
    assert M3 not in nodes() and raft_managers() == (3, 3), nodes()
    assert membership_findings(audit(replaced, tmp)) == []

    # Back to the scenario's shape, the same way round: manager-4 dies, manager-3 is made anew.
    subprocess.run(["docker", "rm", "-f", M4], check=True, capture_output=True)
    wait_for(lambda: raft_managers() == (3, 2), timeout=90, what="%s unreachable" % M4)
    lab_node(M3, tmp)
    original = inventory.write([M1, M2, M3], [W1])
    timed("site.yml replaces a dead manager (new host installed and joined, dead one removed)", site, original)
    assert M4 not in nodes() and raft_managers() == (3, 3), nodes()
    unchanged(site(original))
    # The service images the later tests run (molecule's converge loads them into every node).
    images = os.path.join(tmp, "images.yml")
    with open(images, "w") as handle:
        yaml.safe_dump([{"hosts": M3, "gather_facts": False, "tasks": [{"ansible.builtin.include_role": {
            "name": "ironclad.swarm.lab", "tasks_from": "images.yml"}}]}], handle)
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    loaded = subprocess.run(["ansible-playbook", "-i", original, images], cwd=project, capture_output=True, text=True,
                            timeout=600, check=False)
    assert loaded.returncode == 0, (loaded.stdout + loaded.stderr)[-3000:]
