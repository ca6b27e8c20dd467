"""playbooks/rolling.yml on the 3-manager, 1-worker lab: refusals, check mode, a halt and its resume.

1. Bad input (rolling_batch 0, an unknown upgrade kind, an unknown rolling_from, a roll the managers' quorum
   would not survive because one manager's engine is down) fails before any change, naming the field or the
   cause; check mode prints the order (the worker, then the managers with the leader last) and changes nothing,
   and with rolling_upgrade=engine it says for each node what apt would do and how old apt's lists are.
2. A rolling reboot (rolling_reboot=always; a lab node reboots by its restart policy, see docs/operations.md)
   with a fault on the second node of the order: its fence's boot unit disabled, so the fence is absent after
   its reboot (table_missing, a new high finding). The roll halts there: the worker was rebooted and is back,
   the second node rebooted and left drained, the third untouched (same container start, still active). Then the
   unit is repaired and the roll resumed with rolling_from: every node ends rebooted and active, and the audit
   has no new finding against the one taken before the roll. Across both runs a service update succeeds after
   every step (the rolling_node_checks hook) and the worker's tasks leave it during its drain and come back.

Runs in the first verify pass only (the scenario verifies twice), before test_ha.py, which leaves a manager
stopped (conftest.py orders it). MOL_HA_LAB points it at another lab of the same shape (docs/operations.md).
Times are written to .build/rolling-MOL_HA_LAB.json in the checkout.
"""

import json
import os
import re
import subprocess
import tempfile
import threading
import time

import pytest
import testinfra
from labtest import node_run, project_playbook, run_audit_playbook, wait_for

testinfra_hosts = ["local://"]
controller = testinfra.get_host("local://")
LAB = os.environ.get("MOL_HA_LAB") or "mol-ha"
M1, M2, M3, W1 = LAB + "-manager-1", LAB + "-manager-2", LAB + "-manager-3", LAB + "-worker-1"
NODES = (M1, M2, M3, W1)
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", tempfile.gettempdir())
LAB_ID = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", M1], text=True, capture_output=True,
                        check=False).stdout.strip()[:12]
MARK = os.path.join(EPHEMERAL, "rolling-done-%s" % LAB_ID)
FENCE_UNIT = "ironclad-swarm-firewall.service"
# A lab node is a container: systemd's reboot.target ends it and its restart policy starts it again; the boot
# id is the host kernel's, so the reboot module tells boots apart by PID 1's start time.
LAB_REBOOT = {"rolling_reboot_command": "systemctl start reboot.target --job-mode=replace-irreversibly --no-block",
              "rolling_boot_time_command": "cut -d' ' -f22 /proc/1/stat",
              "audit_probe_image": "ironclad-swarm-lab/probe:1"}
# After each step (rolling_node_checks): a service update must succeed, and where the worker's tasks run is noted.
HOOK = """---
- name: Test hook | Update roll-rep while the roll goes on
  ansible.builtin.command:
    argv: [docker, service, update, --detach=false, --quiet, --env-add, "ROLL_STEP={{ rolling_nodes | join('+') }}", roll-rep]
  delegate_to: "{{ groups['swarm_managers'] | reject('in', rolling_nodes) | first }}"
  changed_when: true

- name: Test hook | Count the worker's running tasks
  ansible.builtin.command:
    argv: [docker, ps, --quiet, --filter, label=com.docker.swarm.task.id]
  delegate_to: %(worker)s
  register: test_worker_tasks
  changed_when: false

- name: Test hook | Note the step
  ansible.builtin.lineinfile:
    path: %(log)s
    line: "{{ rolling_nodes | join('+') }} update-ok worker-tasks={{ test_worker_tasks.stdout_lines | length }}"
    create: true
    mode: "0644"
  delegate_to: localhost
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""
RESULTS = {}

pytestmark = pytest.mark.skipif(os.path.exists(MARK), reason="the rolling tests ran in the first verify pass")


def on(node, cmd, check=True):
    """stdout of `sh -c cmd` in a lab node (labtest.node_run, which fails the test on a non-zero exit with check)."""
    return node_run(node, cmd, check=check).stdout


def rolling(*extra):
    """playbooks/rolling.yml with the lab's reboot commands; (rc, output, seconds)."""
    project, cmd = project_playbook("rolling.yml", ("-e", json.dumps(LAB_REBOOT)) + extra, ())
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=1500)
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def started_at():
    """Each node container's start time: a reboot changes it."""
    out = controller.check_output("docker inspect -f '{{.Name}} {{.State.StartedAt}}' %s" % " ".join(NODES))
    return dict(line.lstrip("/").split() for line in out.splitlines())


def table():
    out = on(M1, "docker node ls --format '{{json .}}'", check=False) or on(M2, "docker node ls --format '{{json .}}'")
    return {n["Hostname"]: n for n in map(json.loads, out.splitlines())}


def availability():
    return {name: node["Availability"] for name, node in table().items()}


def settled():
    t = table()
    return (set(t) == set(NODES) and all(n["Status"] == "Ready" for n in t.values())
            and all(t[m]["ManagerStatus"] in ("Leader", "Reachable") for m in (M1, M2, M3)))


def finding_keys(report):
    kernel = ("kernel_",)
    return set((f["id"], f["node"], f.get("peer"), None if f["id"].startswith(kernel) else f.get("network"),
                f.get("service")) for f in report["findings"])


def recap_changed(output):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A settled swarm with an encrypted network, a global service on it and a replicated one to update."""
    wait_for(settled, timeout=240, what="every node Ready and every manager reachable before the roll")
    on(M1, "docker network inspect roll-net >/dev/null 2>&1 || docker network create -d overlay --opt encrypted roll-net")
    on(M1, "docker service inspect roll-web >/dev/null 2>&1 || docker service create -d --no-resolve-image --name roll-web"
           " --mode global --endpoint-mode dnsrr --network roll-net --user 1000 --stop-grace-period 2s"
           " ironclad-swarm-lab/probe:1 httpd -f -p 8080")
    on(M1, "docker service inspect roll-rep >/dev/null 2>&1 || docker service create -d --no-resolve-image --name roll-rep"
           " --replicas 2 --endpoint-mode dnsrr --network roll-net --user 1000 --stop-grace-period 2s"
           " --update-parallelism 2 --update-delay 0s ironclad-swarm-lab/probe:1 httpd -f -p 8081")
    wait_for(lambda: on(W1, "docker ps -q --filter label=com.docker.swarm.service.name=roll-web").strip(),
             timeout=120, what="roll-web running on the worker")
    path = tmp_path_factory.mktemp("rolling")
    yield str(path)
    on(M1, "docker service rm roll-web roll-rep >/dev/null 2>&1; true", check=False)
    wait_for(lambda: on(M1, "docker network rm roll-net >/dev/null 2>&1 || ! docker network inspect roll-net >/dev/null 2>&1",
                        check=False) is not None and not on(M1, "docker network ls -q --filter name=^roll-net$", check=False).strip(),
             timeout=60, what="roll-net removed")
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", EPHEMERAL)
    os.makedirs(os.path.join(project, ".build"), exist_ok=True)
    with open(os.path.join(project, ".build", "rolling-%s.json" % LAB), "w") as handle:
        json.dump(RESULTS, handle, indent=1, sort_keys=True)
    open(MARK, "w").close()


def test_bad_input_refused_and_check_mode_changes_nothing(lab):
    before, avail = started_at(), availability()
    for extra, field in ((("-e", "rolling_batch=0"), "rolling_batch: 0"),
                         (("-e", "rolling_upgrade=kernel"), "rolling_upgrade"),
                         (("-e", "rolling_from=nosuchhost"), "rolling_from: nosuchhost")):
        rc, out, dummy = rolling("-e", "rolling_reboot=always", *extra)
        assert rc != 0 and field in out, (extra, out[-2500:])
        assert "Drain the node" not in out, "%s: the roll went past its checks" % (extra,)
    # One manager's engine down: rolling any other would leave 1 of 3 reachable, below the quorum of 2.
    on(M3, "systemctl stop docker.socket docker.service")
    try:
        wait_for(lambda: table()[M3]["ManagerStatus"] != "Reachable" or table()[M3]["Status"] != "Ready",
                 timeout=120, what="%s unreachable to the other managers" % M3)
        rc, out, dummy = rolling("-e", "rolling_reboot=always")
        assert rc != 0 and "below the quorum of 2" in out and "Nothing was changed" in out, out[-2500:]
        assert "Drain the node" not in out
    finally:
        on(M3, "systemctl start docker.service")
        wait_for(settled, timeout=240, what="%s back and reachable" % M3)
    rc, out, seconds = rolling("--check", "-e", "rolling_reboot=always")
    assert rc == 0, out[-3000:]
    order = re.findall(r'"(\S+) \((worker|manager|leader), step \d+\): drain, no upgrade, reboot, activate"', out)
    assert [h for h, role in order if role == "worker"] == [W1] and order[0][0] == W1, out[-3000:]
    assert order[-1][1] == "leader" and sorted(h for h, dummy in order) == sorted(NODES), order
    assert set(recap_changed(out).values()) == {0}, recap_changed(out)
    assert started_at() == before and availability() == avail, "check mode changed a node"
    RESULTS["order"] = [h for h, dummy in order]
    RESULTS["check_mode_s"] = round(seconds, 1)
    # An engine upgrade asked in check mode: apt answers for each node (apt-get -s, from the engine role's package
    # list for the node's release) from lists it does not refresh, and the line says how old they are.
    rc, out, seconds = rolling("--check", "-e", "rolling_upgrade=engine")
    assert rc == 0, out[-3000:]
    lines = re.findall(r'"(\S+) \((?:worker|manager|leader), step \d+\): drain, upgrade engine \((nothing to upgrade|apt would'
                       r' change packages), apt lists (?:\d+ h )?\d+ min old\), (reboot if the upgrade asks for it [^,]*'
                       r'|no reboot \(nothing to upgrade\)), activate"', out)
    assert sorted(h for h, dummy, dummy2 in lines) == sorted(NODES), out[-3000:]
    assert all((answer == "nothing to upgrade") == reboot.startswith("no reboot") for dummy, answer, reboot in lines), lines
    assert started_at() == before and availability() == avail, "check mode changed a node"
    RESULTS["check_mode_upgrade_s"] = round(seconds, 1)
    RESULTS["check_mode_upgrade"] = dict((h, answer) for h, answer, dummy in lines)


def test_rolling_reboot_halts_on_a_regression_then_resumes(lab):
    order = RESULTS.get("order") or pytest.skip("needs the order from check mode")
    first, second, third = order[0], order[1], order[2]
    rc, base_report, dummy = run_audit_playbook(tempfile.mkdtemp(dir=lab), "-e", "audit_fail_on=none")
    assert base_report is not None, rc
    base = finding_keys(base_report)
    steps_log = os.path.join(lab, "steps.log")
    hook = os.path.join(lab, "hook.yml")
    with open(hook, "w") as handle:
        handle.write(HOOK % {"worker": W1, "log": steps_log})

    # The worker's own engine, polled through the roll: its tasks must leave during its drain.
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            r = subprocess.run(["docker", "exec", W1, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.task.id"],
                               text=True, capture_output=True, check=False, timeout=30)
            if r.returncode == 0:
                seen.append(len(r.stdout.split()))
            time.sleep(0.5)

    on(second, "systemctl disable %s" % FENCE_UNIT)
    try:
        t0 = started_at()
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            rc, out, halted_s = rolling("-e", "rolling_reboot=always", "-e", "rolling_node_checks=%s" % hook)
        finally:
            stop.set()
            poller.join()
        assert rc != 0, out[-3000:]
        assert "Halted at %s" % second in out and "table_missing" in out, out[-3000:]
        assert "-e rolling_from=%s" % second in out, out[-3000:]
        t1, avail = started_at(), availability()
        assert t1[first] != t0[first] and t1[second] != t0[second], "the first two nodes were rebooted"
        assert avail[second] == "Drain", "the halted node stays drained: %s" % avail
        for untouched in order[2:]:
            assert t1[untouched] == t0[untouched] and avail[untouched] == "Active", (untouched, avail)
        assert 0 in seen and seen[0] > 0, "the worker's tasks never left it during its drain: %s" % seen[:50]
        RESULTS["halted_run_s"] = round(halted_s, 1)
    finally:
        on(second, "systemctl enable --now %s" % FENCE_UNIT)

    rc, out, resumed_s = rolling("-e", "rolling_reboot=always", "-e", "rolling_node_checks=%s" % hook,
                                 "-e", "rolling_from=%s" % second)
    assert rc == 0, out[-4000:]
    t2 = started_at()
    assert t2[first] == t1[first], "the resumed roll must not roll %s again" % first
    assert all(t2[n] != t1[n] for n in order[1:]), "every node from %s on rebooted" % second
    assert set(availability().values()) == {"Active"}
    assert wait_for(settled, timeout=120, what="every node Ready and reachable after the roll")
    with open(steps_log) as handle:
        steps = handle.read().split()
    # One line per step that went through (the first run's worker step, then the resumed three).
    noted = [s for s in steps if not s.startswith(("update-ok", "worker-tasks="))]
    assert noted == [first] + order[1:], steps
    assert steps.count("update-ok") == len(order)
    assert int(steps[2].split("=")[1]) > 0, "the worker's tasks did not come back after its step: %s" % steps
    rc, report, dummy = run_audit_playbook(tempfile.mkdtemp(dir=lab), "-e", "audit_fail_on=none")
    new = sorted(k for k in finding_keys(report) - base if not k[0] == "engine_version_skew")
    assert not new, "the audit after the roll has new findings: %s" % new
    RESULTS["resumed_run_s"] = round(resumed_s, 1)
    RESULTS["resumed_steps"] = re.findall(r'"(%s-\S+: \d+ s[^"]*)"' % re.escape(LAB), out)
    RESULTS["resumed_summary"] = re.findall(r'"(Rolled [^"]*)"', out)
    print("rolling: %s" % json.dumps(RESULTS))
