"""The swarm fence (role ironclad.swarm.firewall) on the converged scenario, end to end.

Runs from the controller once site.yml applies the firewall role:
1. every node has table inet ironclad_swarm with the three nodes as peers, persisted for boot;
2. a run of the firewall tag changes nothing;
3. real traffic: a container on the scenario's bridge that is not a node is refused on
   2377/7946/4789 (TCP times out, UDP lands on the drop counter) while a node gets through;
4. a rule deleted by hand is reported by firewall_audit and put back by site.yml;
5. an ACCEPT for udp/4789 inserted ahead of Docker's drop of unencrypted VXLAN (for an
   encrypted overlay with a task on every node) is reported: high, or medium while the fence's rule for the
   network drops its cleartext anyway; and fail_on at that severity fails.
"""

import json
import os
import re
import subprocess

import pytest
import testinfra
from labtest import LAB, LAB_SUITE, node_run, run_site, wait_for

testinfra_hosts = ["local://"]
controller = testinfra.get_host("local://")
MANAGER, WORKER1, WORKER2 = LAB + "-manager-1", LAB + "-worker-1", LAB + "-worker-2"
NODES = [MANAGER, WORKER1, WORKER2]
BRIDGE = LAB
# bash (for /dev/tcp and /dev/udp) on the scenario's bridge, but not a swarm node
OUTSIDER_IMAGE = "ironclad-swarm-lab/base:" + LAB_SUITE
SERVICE_IMAGE = "ironclad-swarm-lab/probe:1"


def on(node, script, check=True):
    # bash: the tests use its /dev/tcp and /dev/udp.
    return node_run(node, script, check, shell="bash")


def outsider(script):
    return subprocess.run(["docker", "run", "--rm", "--network", BRIDGE, OUTSIDER_IMAGE, "bash", "-c", script],
                          text=True, capture_output=True, check=False, timeout=120)


def eth0_addr(node):
    return on(node, "ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def table(node):
    out = on(node, "nft -j list table inet ironclad_swarm").stdout
    return json.loads(out)["nftables"]


def set_elements(node, name):
    for obj in table(node):
        if obj.get("set", {}).get("name") == name:
            return sorted(e for e in obj["set"].get("elem", []) if isinstance(e, str))
    return None


def counter(node, chain, verdict, match_right):
    """Packets counted by the rule of `chain` whose first match has this right side and this verdict."""
    for obj in table(node):
        rule = obj.get("rule")
        if not rule or rule["chain"] != chain or not any(verdict in e for e in rule["expr"]):
            continue
        matches = [e["match"] for e in rule["expr"] if "match" in e]
        if matches and matches[-1]["right"] == match_right:
            return next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    raise AssertionError("no %s rule matching %r in chain %s on %s" % (verdict, match_right, chain, node))


def assert_ok(result):
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout


def audit(node, *args):
    """firewall_audit on one node through ansible, result as a dict (the json callback)."""
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
    cmd = ["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], node, "-m", "ironclad.swarm.firewall_audit"]
    if args:
        cmd += ["-a", " ".join(args)]
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True, check=False, timeout=300)
    # The first JSON document only: the scenario's config also enables profile_tasks,
    # whose summary follows it on stdout.
    data = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])[0]
    return result.returncode, data["plays"][0]["tasks"][0]["hosts"][node]


def finding_ids(result):
    return sorted(set((f["id"], f["severity"]) for f in result["findings"]))


@pytest.fixture(scope="module")
def addrs():
    return dict((node, eth0_addr(node)) for node in NODES)


def test_fence_on_every_node(addrs):
    for node in NODES:
        assert set_elements(node, "peers4") == sorted(addrs.values()), node
        # TCP 2377 from peers on every node, workers too (a hand promotion must not cut the new manager off); the
        # table keeps no set of managers
        chain = on(node, "nft list chain inet ironclad_swarm swarm_peer").stdout
        assert re.search(r"^\s*tcp dport 2377 counter packets \d+ bytes \d+ accept$", chain, re.M), (node, chain)
        assert "managers4" not in on(node, "nft list table inet ironclad_swarm").stdout, node
        assert on(node, "systemctl is-enabled ironclad-swarm-firewall.service").stdout.strip() == "enabled"
        batch = json.loads(on(node, "cat /etc/ironclad-swarm/firewall.json").stdout)
        assert batch["nftables"][1] == {"delete": {"table": {"family": "inet", "name": "ironclad_swarm"}}}
        # the fence owns its table only: Docker's iptables-nft tables are still there
        assert "table ip filter" in on(node, "nft list tables").stdout


def test_firewall_rerun_changes_nothing():
    out = assert_ok(run_site("--tags", "firewall"))
    for node in NODES:
        assert re.search(r"%s\s+: ok=\d+\s+changed=0 " % re.escape(node), out), out[-3000:]


def test_clean_nodes_have_no_findings():
    for node in NODES:
        rc, result = audit(node)
        assert rc == 0 and result["findings"] == [], result["findings"]


@pytest.mark.parametrize("port", [2377, 7946])
def test_tcp_from_non_peer_refused_from_peer_accepted(addrs, port):
    target = addrs[MANAGER]
    probe = "timeout 4 bash -c '</dev/tcp/%s/%d'; echo rc=$?" % (target, port)
    assert "rc=0" in on(WORKER1, probe).stdout, "a peer must reach %s:%d" % (target, port)
    # the outsider's SYN is dropped: no refusal, a timeout (124)
    assert "rc=124" in outsider(probe).stdout
    # and ssh's port is not fenced for it (answered or refused, never a timeout)
    answer = outsider("timeout 4 bash -c '</dev/tcp/%s/22'; echo rc=$?" % target).stdout
    assert "rc=" in answer and "rc=124" not in answer


def test_control_port_on_a_worker_admits_peers_only(addrs):
    # Nothing listens on a worker's 2377: a peer's SYN gets through the fence and is refused (rc 1), an outsider's is
    # dropped (a timeout, 124).
    probe = "timeout 4 bash -c '</dev/tcp/%s/2377'; echo rc=$?" % addrs[WORKER1]
    assert on(MANAGER, probe).stdout.split()[-1] == "rc=1"
    assert outsider(probe).stdout.split()[-1] == "rc=124"


def test_udp_from_non_peer_dropped_from_peer_accepted(addrs):
    target, ports = addrs[MANAGER], {"set": [4789, 7946]}
    send = "for i in $(seq 25); do echo x > /dev/udp/%s/4789; echo x > /dev/udp/%s/7946; done" % (target, target)
    dropped = counter(MANAGER, "input", "drop", ports)
    outsider(send)
    assert counter(MANAGER, "input", "drop", ports) >= dropped + 50

    dropped = counter(MANAGER, "input", "drop", ports)
    accepted = counter(MANAGER, "swarm_peer", "accept", ports)
    on(WORKER1, send)
    assert counter(MANAGER, "swarm_peer", "accept", ports) >= accepted + 50
    assert counter(MANAGER, "input", "drop", ports) == dropped


def test_deleted_rule_reported_then_restored():
    listing = on(WORKER2, "nft -a list chain inet ironclad_swarm swarm_peer").stdout
    handle = re.search(r"meta l4proto esp counter .* accept # handle (\d+)", listing).group(1)
    on(WORKER2, "nft delete rule inet ironclad_swarm swarm_peer handle %s" % handle)

    rc, result = audit(WORKER2)
    assert rc == 0
    assert finding_ids(result) == [("esp_blocked", "high"), ("table_modified", "medium")]
    assert any('lacks the rule "meta l4proto esp counter accept"' in f["reason"] for f in result["findings"])

    assert_ok(run_site())
    assert "meta l4proto esp counter" in on(WORKER2, "nft list chain inet ironclad_swarm swarm_peer").stdout
    rc, result = audit(WORKER2)
    assert result["findings"] == []


@pytest.fixture
def encrypted_service():
    on(MANAGER, "docker network create -d overlay --opt encrypted fw-enc >/dev/null && "
                "docker service create -d --name fw-enc-svc --mode global --network fw-enc %s sleep 100000 >/dev/null"
       % SERVICE_IMAGE)
    try:
        wait_for(lambda: "--pol none" in on(WORKER1, "iptables-save -t filter").stdout, timeout=180,
                 what="Docker's unencrypted-VXLAN drop on %s" % WORKER1)
        yield
    finally:
        on(MANAGER, "docker service rm fw-enc-svc", check=False)
        wait_for(lambda: on(MANAGER, "docker network rm fw-enc", check=False).returncode == 0, timeout=120,
                 what="the encrypted network to be removed")


def test_accept_ahead_of_docker_drop_is_flagged(encrypted_service):
    rc, result = audit(WORKER1)
    assert result["findings"] == [], result["findings"]
    # High while nothing else stops cleartext VXLAN; medium when the fence drops it anyway: its rule for fw-enc,
    # which the node agent makes at its next run (started here rather than waited for).
    on(WORKER1, "systemctl start ironclad-swarm-agent.service", check=False)
    vni = on(MANAGER, "docker network inspect -f '{{index .Options \"com.docker.network.driver.overlay."
                      "vxlanid_list\"}}' fw-enc").stdout.strip()
    rules = on(WORKER1, "nft list chain inet ironclad_swarm cleartext_in", check=False).stdout
    fenced = bool(re.search(r"@th,96,24 %s counter packets \d+ bytes \d+ drop" % hex(int(vni)), rules))
    agent = "ironclad-swarm-agent.service" in on(WORKER1, "systemctl list-unit-files", check=False).stdout
    assert fenced or not agent, "the agent runs on %s but the fence has no rule for fw-enc (%s): %s" % (
        WORKER1, vni, rules)
    # firewall_drop_unencrypted_vxlan on (every declared network encrypted): the blanket drop stops it too.
    blanket = on(WORKER1, "nft list chain inet ironclad_swarm input").stdout
    fenced = fenced or bool(re.search(r"meta ipsec missing counter packets \d+ bytes \d+ drop", blanket))
    on(WORKER1, "iptables -I INPUT 1 -p udp --dport 4789 -j ACCEPT")
    try:
        rc, result = audit(WORKER1)
        assert ("vxlan_drop_shadowed", "medium" if fenced else "high") in finding_ids(result)
        shadowed = [f for f in result["findings"] if f["id"] == "vxlan_drop_shadowed"][0]
        assert shadowed["rule"] == "-A INPUT -p udp -m udp --dport 4789 -j ACCEPT"
        rc, result = audit(WORKER1, "fail_on=medium" if fenced else "fail_on=high")
        assert rc != 0 and "finding(s) at or above" in result["msg"]
    finally:
        on(WORKER1, "iptables -D INPUT -p udp --dport 4789 -j ACCEPT")
