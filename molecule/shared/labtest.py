"""Helpers shared by the verifiers of every molecule scenario (testinfra).

Each scenario's tests/conftest.py puts this folder on sys.path and imports
from here, so the scenarios share one copy.
"""

import json
import os
import subprocess
import time

import pytest

import platforms

# The release the lab nodes run (make molecule-SCENARIO-SUITE sets LAB_SUITE), and the Docker Engine
# major.minor of each release's docker.io (platforms.json, the one list): the platform a run proves.
LAB_SUITE = platforms.lab_suite()
SUITE_DOCKER = platforms.suite_docker()
# The suite the fault catalogue and the soak run on (test_faults.py, test_watch.py): FAULT_SUITE, else the default.
FAULT_SUITE = os.environ.get("FAULT_SUITE") or platforms.DEFAULT_SUITE
# The default scenario's lab name (molecule.yml reads the same variable): its nodes are LAB-manager-1,
# LAB-worker-1 and LAB-worker-2 on the Docker network LAB. make sets mol-default-SUITE.
LAB = os.environ.get("MOL_LAB") or "mol-default"


def run_json_lines(host, cmd):
    """Run a docker CLI command that prints one JSON object per line."""
    out = host.check_output(cmd)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for(predicate, timeout=120, interval=2, what="condition"):
    """Poll predicate() until it returns a truthy value; fail with `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail("timed out after %ss waiting for %s (last value: %r)" % (timeout, what, last))


@pytest.fixture(scope="module")
def inventory_groups(host):
    """The inventory's groups as ansible sees them from this host."""
    return host.ansible.get_variables()["groups"]


@pytest.fixture(scope="module")
def is_first_manager(host, inventory_groups):
    name = host.ansible.get_variables()["inventory_hostname"]
    return name == inventory_groups["swarm_managers"][0]


def project_playbook(name, extra, inventories):
    """(checkout, argv) to run playbooks/<name> against the scenario's inventory and `inventories`."""
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    for inv in inventories:
        cmd += ["-i", inv]
    return project, cmd + [os.path.join(project, "playbooks", name)] + list(extra)


def run_site(*extra, inventories=()):
    """Run playbooks/site.yml against the scenario's own inventory (from the controller)."""
    project, cmd = project_playbook("site.yml", extra, inventories)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=900)


def freeze(*nodes):
    """Take lab nodes down with `docker pause`: every process frozen, the address kept, and neither Ansible nor
    the other nodes can reach them. A lab node stopped with `docker stop` comes back from `docker start` with
    whatever address is free on the lab network (Docker keeps none on a network without a user subnet); the
    other nodes' fence then rightly drops it, and two managers whose addresses changed never find quorum again,
    which a server keeping its address through a reboot never sees. thaw() brings them back."""
    subprocess.run(["docker", "pause"] + list(nodes), check=True, capture_output=True)


def thaw(*nodes):
    subprocess.run(["docker", "unpause"] + list(nodes), check=True, capture_output=True)


def node_run(node, script, check=True, shell="sh"):
    """Run a shell script inside a lab node (docker exec from the controller).

    With check, a non-zero exit fails the test with the script and its output.
    """
    result = subprocess.run(["docker", "exec", node, shell, "-c", script], text=True, capture_output=True,
                            check=False, timeout=120)
    if check:
        assert result.returncode == 0, "%s: %s\n%s%s" % (node, script, result.stdout, result.stderr)
    return result


def run_audit_playbook(report_dir, *extra, inventories=()):
    """playbooks/audit.yml against the scenario's inventory (and `inventories`); (rc, audit_report, stats).

    The report is the audit role's `audit_report` fact, read from the json callback's output.
    Each task that failed is printed, so pytest shows which one and why when a test fails.
    """
    project, cmd = project_playbook("audit.yml", ("-e", "audit_report_dir=%s" % report_dir) + extra, inventories)
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    result = subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=900)
    # The first JSON document only: a scenario's profile_tasks summary may follow it.
    assert "{" in result.stdout, (result.stdout + result.stderr)[-3000:]
    data = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])[0]
    report = None
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, host_result in task["hosts"].items():
                if (host_result.get("failed") or host_result.get("unreachable")) and not host_result.get("ignore_errors"):
                    print("task failed (a test may expect it): %s on %s: %s" % (task["task"]["name"], host, host_result.get("msg")))
            if task["task"]["name"].endswith("Report | Build the report from the results of every node"):
                for host_result in task["hosts"].values():
                    report = host_result.get("ansible_facts", {}).get("audit_report", report)
    return result.returncode, report, data["stats"]


def matrix_cells(report, network):
    """[(row node, cell)] of the audit report's node x node matrix for one network, the diagonal left out."""
    matrix = [m for m in report["matrices"] if m["network"] == network]
    assert matrix, "no matrix for %s in %s" % (network, [m["network"] for m in report["matrices"]])
    return [(row["node"], cell) for row in matrix[0]["rows"] for cell in row["cells"] if not cell.get("self")]


# The node agent (watch role). molecule's scenarios run it every WATCH_INTERVAL seconds behind Debian's
# node_exporter; a fault must show in its metrics within two intervals. test_watch.py checks the timer's
# cadence (each node's last success is younger than 3 intervals; the soak's stale-agent alert stays silent).
WATCH_INTERVAL = 10
WATCH_FLIP_S = 2 * WATCH_INTERVAL + 5  # two intervals, and the run's own time and the scrape


def node_address(node):
    """The node container's address on the lab network (the controller reaches it there)."""
    out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", node],
                         text=True, capture_output=True, check=True).stdout.split()
    return out[0]


def scrape(node):
    """node_exporter's /metrics on the node, over the lab network: {metric name: [(labels, value)]} of the
    agent's ironclad_swarm_* series; {} when nothing answers."""
    import urllib.request  # pylint: disable=import-outside-toplevel
    from prometheus_client.parser import text_string_to_metric_families  # pylint: disable=import-outside-toplevel
    try:
        with urllib.request.urlopen("http://%s:9100/metrics" % node_address(node), timeout=10) as answer:
            text = answer.read().decode("utf-8")
    except OSError:
        return {}
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ironclad_swarm_"):
                found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def agent_findings(samples):
    """The agent's findings in a scrape: {(id, network, peer)}."""
    return set((labels["id"], labels.get("network") or None, labels.get("peer") or None)
               for labels, value in samples.get("ironclad_swarm_finding", []) if value == 1)


def gauge(samples, name):
    """The value of an unlabelled ironclad_swarm_ gauge, or None."""
    values = [value for labels, value in samples.get("ironclad_swarm_" + name, []) if not labels]
    return values[0] if values else None


def wait_agent(node, predicate, what, run=True):
    """Wait until the agent's metrics on node satisfy predicate(samples): at most two agent intervals.

    With run, each try first starts the agent's service as its timer does (systemctl waits for the run's
    end; a run the timer had started already is joined, hence the tries): the fault tests then wait for
    one run, not for the timer's next turn. make test's time; the timer's cadence is test_watch's concern.
    """
    def seen():
        if run:
            node_run(node, "systemctl start ironclad-swarm-agent.service", check=False)
        return predicate(scrape(node))
    return wait_for(seen, timeout=WATCH_FLIP_S, interval=1,
                    what="the agent on %s: %s (within 2 intervals of %d s)" % (node, what, WATCH_INTERVAL))
