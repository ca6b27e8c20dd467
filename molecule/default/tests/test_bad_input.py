"""Bad input fails before anything changes on any host, naming the variable.

Each case runs site.yml against the converged scenario with one bad value and
checks that (a) the run fails, (b) the output names the variable and the fix,
and (c) no host changed: daemon.json, the engine's swarm state, the swarm's
node list and its networks are byte-for-byte what they were before.
"""

import json
import re

import pytest
import testinfra
from labtest import LAB, run_site

# Runs once, from the controller, against the whole scenario.
testinfra_hosts = ["local://"]
controller = testinfra.get_host("local://")
NODES = [LAB + "-manager-1", LAB + "-worker-1", LAB + "-worker-2"]


def snapshot():
    state = {}
    for node in NODES:
        state[node] = {
            "daemon.json": controller.check_output("docker exec %s sha256sum /etc/docker/daemon.json" % node),
            "swarm": json.loads(controller.check_output(
                "docker exec %s docker info --format '{{json .Swarm.NodeID}} {{json .Swarm.LocalNodeState}}'"
                % node).replace(" ", ",").join("[]")),
        }
    state["nodes"] = controller.check_output(
        "docker exec %s docker node ls --format '{{.ID}} {{.Hostname}} {{.Availability}} {{.ManagerStatus}}'"
        % NODES[0])
    state["labels"] = controller.check_output(
        "docker exec %s docker node inspect --format '{{json .Spec.Labels}}' %s" % (NODES[0], NODES[1]))
    state["networks"] = sorted(controller.check_output(
        "docker exec %s docker network ls --filter scope=swarm --format '{{.ID}} {{.Name}}'" % NODES[0]).split("\n"))
    return state


@pytest.fixture(scope="module")
def groups_file(tmp_path_factory):
    """Extra inventory groups over the same hosts, to shape bad manager groups."""
    path = tmp_path_factory.mktemp("inv") / "groups.yml"
    path.write_text(
        "two_managers:\n  hosts:\n    {0}-manager-1:\n    {0}-worker-1:\n"
        "one_worker:\n  hosts:\n    {0}-worker-2:\n"
        "no_managers:\n  hosts: {{}}\n"
        "all_workers:\n  hosts:\n    {0}-worker-1:\n    {0}-worker-2:\n".format(LAB)
    )
    return str(path)


CASES = {
    "even-managers": (
        ["-e", "cluster_managers_group=two_managers", "-e", "cluster_workers_group=one_worker"],
        ["cluster_allow_even_managers"]),
    "empty-manager-group": (
        ["-e", "cluster_managers_group=no_managers", "-e", "cluster_workers_group=all_workers"],
        ["cluster_managers_group"]),
    "advertise-not-on-host": (
        ["-e", "cluster_advertise_addr=192.0.2.10"],
        ["cluster_advertise_addr", "192.0.2.10"]),
    "pool-not-a-cidr": (
        ["-e", json.dumps({"cluster_default_addr_pool": ["10.10.0.0/33"]})],
        ["cluster_default_addr_pool", "10.10.0.0/33"]),
    "pool-host-bits": (
        ["-e", json.dumps({"cluster_default_addr_pool": ["10.10.1.0/16"]})],
        ["cluster_default_addr_pool", "10.10.1.0/16"]),
    "daemon-json-wrong-type": (
        ["-e", json.dumps({"engine_log_max_file": "three"})],
        ["engine_log_max_file"]),
    "daemon-options-not-a-dict": (
        ["-e", json.dumps({"engine_daemon_options": "x"})],
        ["engine_daemon_options"]),
    "firewall-backend-refused": (
        ["-e", json.dumps({"engine_daemon_options": {"firewall-backend": "nftables"}})],
        ["engine_daemon_options", "firewall-backend"]),
    "live-restore-refused": (
        ["-e", json.dumps({"engine_daemon_options": {"live-restore": True}})],
        ["engine_daemon_options", "live-restore"]),
    # A value outside the choices of a role's meta/argument_specs.yml, in two roles.
    "engine-source-not-a-choice": (
        ["-e", "engine_source=docker"],
        ["engine_source must be one of: distro, upstream, got: docker"]),
    "firewall-policy-not-a-choice": (
        ["-e", "firewall_input_policy=deny"],
        ["firewall_input_policy must be one of: accept, drop, got: deny"]),
    # community.docker would write the list as the label's text "['a', 'b']".
    "node-label-a-list": (
        ["-e", json.dumps({"cluster_node_labels": {"zone": ["a", "b"]}})],
        ["cluster_node_labels zone (a list)", "one label per value"]),
    # Before the first play judged them, the module found this overlap only after creating the first network.
    "networks-overlap": (
        ["-e", json.dumps({"networks_overlay": [
            {"name": "mol-overlap-a", "ipam": [{"subnet": "172.28.110.0/24"}]},
            {"name": "mol-overlap-b", "ipam": [{"subnet": "172.28.110.128/25"}]}]})],
        ["networks_overlay[1] (mol-overlap-b): ipam[0].subnet 172.28.110.128/25 overlaps ipam[0].subnet "
         "172.28.110.0/24 of networks_overlay[0] (mol-overlap-a)"]),
    "network-gateway-outside-subnet": (
        ["-e", json.dumps({"networks_overlay": [
            {"name": "mol-encrypted", "ipam": [{"subnet": "172.28.100.0/24", "gateway": "172.28.101.1"}]}]})],
        ["networks_overlay[0] (mol-encrypted): ipam[0].gateway: 172.28.101.1 is outside its subnet 172.28.100.0/24"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_first_and_changes_nothing(case, groups_file):
    extra, must_name = CASES[case]
    before = snapshot()
    result = run_site(*extra, inventories=[groups_file])
    output = result.stdout + result.stderr
    assert result.returncode != 0, "site.yml accepted bad input (%s):\n%s" % (case, output[-3000:])
    for word in must_name:
        assert word in output, "the error for %s does not name %r:\n%s" % (case, word, output[-3000:])
    # Only the validation play ran: the play that changes hosts never started.
    assert "PLAY [Install and configure Docker Engine]" not in output, output[-3000:]
    assert snapshot() == before


def test_good_input_still_converges_unchanged(groups_file):
    """The control case: the same command line without bad values changes nothing."""
    before = snapshot()
    result = run_site(inventories=[groups_file])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    changed = [int(n) for n in re.findall(r"changed=(\d+)", result.stdout)]
    assert changed and not any(changed), result.stdout[-3000:]
    assert snapshot() == before
