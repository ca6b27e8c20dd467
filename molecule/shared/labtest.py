"""Helpers shared by the verifiers of every molecule scenario (testinfra).

Each scenario's tests/conftest.py puts this folder on sys.path and imports
from here, so the scenarios share one copy.
"""

import json
import os
import subprocess
import time

import pytest


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


def run_site(*extra, inventories=()):
    """Run playbooks/site.yml against the scenario's own inventory (from the controller)."""
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    for inv in inventories:
        cmd += ["-i", inv]
    cmd += [os.path.join(project, "playbooks", "site.yml")] + list(extra)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=900)


def node_run(node, script, check=True, shell="sh"):
    """Run a shell script inside a lab node (docker exec from the controller).

    With check, a non-zero exit fails the test with the script and its output.
    """
    result = subprocess.run(["docker", "exec", node, shell, "-c", script], text=True, capture_output=True,
                            check=False, timeout=120)
    if check:
        assert result.returncode == 0, "%s: %s\n%s%s" % (node, script, result.stdout, result.stderr)
    return result
