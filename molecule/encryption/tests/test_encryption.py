"""The encryption truth on real kernels (three QEMU VMs, see docs/vm-lab.md).

1. Every pair of nodes with tasks on the encrypted network vm-enc holds ESP SAs both ways.
2. Seed 001, automated: the host captures the lab segment while a client task on vm3
   fetches HTTP from the task on vm2. On vm-plain the capture holds `GET /` in clear;
   on vm-enc it holds ESP (IP protocol 50) and no `GET /`.
3. Negative: ESP dropped on vm3 by an nft table of the test's own -> vm3's encrypted
   traffic fails while its plain traffic and the other pair still work; the table
   removed -> the encrypted fetch works again.
"""

import functools
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from labtest import wait_for

PROBE_IMAGE = "ironclad-swarm-lab/probe:1"
PROBE_ROOTFS = "/opt/ironclad/probe-rootfs.tar"  # baked in by tests/vm/build-image.sh
SERVICES = {"vm-enc": "enc-web", "vm-plain": "plain-web"}
SERVER, CLIENT, OTHER = "vm2", "vm3", "vm1"
DROP_TABLE = "ironclad_test_esp_drop"
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
AUDIT_MODULE = os.path.join(PROJECT, "plugins", "modules", "ipsec_audit.py")


def esp_states(node):
    """(src, dst) pairs of the ESP SAs in this node's kernel, from `ip xfrm state`."""
    out = node.check_output("ip xfrm state")
    pairs = set()
    for block in re.split(r"\n(?=src )", out.strip()):
        m = re.match(r"src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)", block)
        if m:
            pairs.add((m.group(1), m.group(2)))
    return pairs


def has_states(node, want):
    return want <= esp_states(node)


@pytest.fixture(scope="module")
def web(nodes):
    """A global busybox httpd service on each network; returns {network: {node: task IP}}."""
    manager = nodes["vm1"]
    for node in nodes.values():
        if node.run("docker image inspect %s" % PROBE_IMAGE).rc != 0:
            node.check_output("docker import --change 'CMD [\"/bin/sh\"]' --change 'ENV PATH=/bin' %s %s",
                              PROBE_ROOTFS, PROBE_IMAGE)
    for network, service in SERVICES.items():
        if manager.run("docker service inspect %s" % service).rc != 0:
            manager.check_output(
                "docker service create --detach --no-resolve-image --name %s --mode global "
                "--network %s --endpoint-mode dnsrr %s busybox httpd -f -p 80 -h /www",
                service, network, PROBE_IMAGE)

    def task_ips():
        ips = {}
        for network, service in SERVICES.items():
            ips[network] = {}
            for name, node in nodes.items():
                cid = node.check_output("docker ps -q --filter label=com.docker.swarm.service.name=%s", service)
                if not cid:
                    return None
                info = json.loads(node.check_output("docker inspect %s", cid.splitlines()[0]))[0]
                ips[network][name] = info["NetworkSettings"]["Networks"][network]["IPAddress"]
        return ips

    start = time.monotonic()
    ips = wait_for(task_ips, timeout=600, interval=5, what="a running web task on every node and network")
    print("web tasks running after %.0f s: %s" % (time.monotonic() - start, ips))
    yield ips
    for service in SERVICES.values():
        manager.run("docker service rm %s" % service)


def fetch(nodes, client, network, target_ip, timeout=10):
    """HTTP GET from the client node's web task on `network` to target_ip; (ok, output).

    busybox nc, not wget: busybox 1.35's static wget segfaults on `-q` here.
    """
    service = SERVICES[network]
    cid = nodes[client].check_output("docker ps -q --filter label=com.docker.swarm.service.name=%s", service)
    res = nodes[client].run("docker exec %s sh -c %s", cid.splitlines()[0],
                            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w %d %s 80" % (timeout, target_ip))
    return res.rc == 0 and "ironclad-probe" in res.stdout, res.stdout + res.stderr


def run_audit(nodes):
    """Run ironclad.swarm.ipsec_audit on every VM; {node: result}."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)  # profile_tasks would print after the JSON
    proc = subprocess.run(["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "all",
                           "-m", "ironclad.swarm.ipsec_audit"],
                          cwd=PROJECT, env=env, text=True, capture_output=True, check=False, timeout=600)
    assert "{" in proc.stdout, proc.stderr
    doc = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])[0]
    return doc["plays"][0]["tasks"][0]["hosts"]


class Capture:
    """tcpdump on the lab bridge (the host's view of the VMs' underlay), in the lab's netns."""

    def __init__(self, lab):
        self.prefix = ["ip", "netns", "exec", lab["netns"]]
        self.bridge = lab["bridge"]
        fd, self.path = tempfile.mkstemp(prefix="ironclad-vm-", suffix=".pcap")
        os.close(fd)
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.prefix + ["tcpdump", "-i", self.bridge, "-U", "-n", "-w", self.path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # tcpdump announces "listening on ..." once the capture is open.
        line = self.proc.stderr.readline()
        assert "listening" in line, line
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)

    def raw(self):
        with open(self.path, "rb") as f:
            return f.read()

    def count(self, bpf):
        out = subprocess.run(["tcpdump", "-r", self.path, "-n", bpf], capture_output=True, text=True,
                             check=True).stdout
        return len(out.splitlines())


def test_esp_sas_both_ways_between_every_pair(nodes, lab_addr, web):
    assert set(web["vm-enc"]) == set(nodes), "every node runs a task on vm-enc"
    for a, b in itertools.permutations(nodes, 2):
        want = {(lab_addr[a], lab_addr[b]), (lab_addr[b], lab_addr[a])}
        wait_for(functools.partial(has_states, nodes[a], want), timeout=180, interval=5,
                 what="ESP SAs %s<->%s in %s's kernel" % (a, b, a))
    print(nodes["vm1"].check_output("ip xfrm state"))


@pytest.mark.skipif(not os.path.exists(AUDIT_MODULE), reason="plugins/modules/ipsec_audit.py has not landed")
def test_ipsec_audit_is_clean(nodes, web):
    results = run_audit(nodes)
    assert set(results) == set(nodes)
    for name, result in results.items():
        assert not result.get("failed"), (name, result.get("msg"))
        assert result.get("findings") == [], (name, result.get("findings"))


def test_plain_network_shows_http_in_clear(nodes, lab, web):
    with Capture(lab) as cap:
        ok, out = fetch(nodes, CLIENT, "vm-plain", web["vm-plain"][SERVER])
    assert ok, out
    assert b"GET / " in cap.raw(), "the plain overlay's request should be readable on the wire"
    assert cap.count("udp port 4789") > 0, "plain overlay traffic is VXLAN on udp/4789"


def test_encrypted_network_shows_only_esp(nodes, lab, lab_addr, web):
    with Capture(lab) as cap:
        ok, out = fetch(nodes, CLIENT, "vm-enc", web["vm-enc"][SERVER])
    assert ok, out
    esp = cap.count("ip proto 50 and host %s and host %s" % (lab_addr[CLIENT], lab_addr[SERVER]))
    print("ESP packets %s<->%s: %d" % (CLIENT, SERVER, esp))
    assert esp > 0, "the encrypted overlay's traffic should be ESP on the wire"
    assert b"GET / " not in cap.raw(), "the encrypted overlay's request leaked in clear"


def test_dropping_esp_breaks_only_that_nodes_encrypted_traffic(nodes, web):
    client = nodes[CLIENT]
    client.check_output(
        "nft -f - <<'NFT'\n"
        "table inet %s {\n"
        "  chain in { type filter hook input priority -400; ip protocol esp drop; }\n"
        "  chain out { type filter hook output priority -400; ip protocol esp drop; }\n"
        "}\nNFT", DROP_TABLE)
    try:
        ok, out = fetch(nodes, CLIENT, "vm-enc", web["vm-enc"][SERVER], timeout=8)
        assert not ok, "ESP is dropped on %s, yet the encrypted fetch worked: %s" % (CLIENT, out)
        ok, out = fetch(nodes, CLIENT, "vm-plain", web["vm-plain"][SERVER])
        assert ok, "the plain network must not depend on ESP: %s" % out
        ok, out = fetch(nodes, OTHER, "vm-enc", web["vm-enc"][SERVER])
        assert ok, "the %s-%s pair has no drop and must still work: %s" % (OTHER, SERVER, out)
        if os.path.exists(AUDIT_MODULE):
            flagged = {name: r.get("findings") for name, r in run_audit(nodes).items() if r.get("findings")}
            print("audit findings with ESP dropped on %s: %s" % (CLIENT, flagged))
    finally:
        client.run("nft delete table inet %s", DROP_TABLE)
    # Recovery: the test's own table is gone (the firewall role never owned it).
    assert client.run("nft list table inet %s", DROP_TABLE).rc != 0
    wait_for(lambda: fetch(nodes, CLIENT, "vm-enc", web["vm-enc"][SERVER])[0], timeout=60, interval=3,
             what="the encrypted fetch after removing the drop table")
