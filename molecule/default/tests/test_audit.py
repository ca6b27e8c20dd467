"""The encryption audit (role ironclad.swarm.audit, playbooks/audit.yml) on the converged scenario.

The audit must tell the truth about the kernel the nodes share with this machine: where the
kernel cannot do ESP with AES-GCM it reports "kernel lacks ESP" as high for each encrypted
network, and the probe cannot cross nodes; where it can, it finds an SA both ways for every pair
and the probe crosses. Which of the two holds is decided here, independently of the module: the
test adds an ESP SA with rfc4106(gcm(aes)) in a network namespace of its own on the controller
(containers share the controller's kernel) and reads /proc/config.gz as a cross-check.
"""

import gzip
import json
import os
import subprocess
import uuid

import pytest
import testinfra
from labtest import matrix_cells, node_run, run_audit_playbook, wait_for

testinfra_hosts = ["local://"]
controller = testinfra.get_host("local://")
PROBE_IMAGE = "ironclad-swarm-lab/probe:1"
SERVICE = "audit-test-everywhere"


def project_dir():
    return os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())


def inventory():
    out = subprocess.run(["ansible-inventory", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--list"],
                         cwd=project_dir(), text=True, capture_output=True, check=True, timeout=120).stdout
    return json.loads(out)


INVENTORY = inventory()
MANAGERS = INVENTORY.get("swarm_managers", {}).get("hosts", [])
NODES = MANAGERS + INVENTORY.get("swarm_workers", {}).get("hosts", [])
MANAGER = MANAGERS[0]


def declared_networks():
    """(encrypted, plain) network names as the scenario declares them in networks_overlay."""
    hostvars = INVENTORY.get("_meta", {}).get("hostvars", {}).get(MANAGER, {})
    declared = hostvars.get("networks_overlay") or INVENTORY.get("all", {}).get("vars", {}).get("networks_overlay") or []
    encrypted = [n["name"] for n in declared if n.get("encrypted", True) and n.get("state", "present") == "present"]
    plain = [n["name"] for n in declared if not n.get("encrypted", True) and n.get("state", "present") == "present"]
    return encrypted, plain


ENCRYPTED, PLAIN = declared_networks()


def on(node, script, check=True):
    return node_run(node, script, check)


def kernel_has_esp_with_gcm():
    """Ask the shared kernel directly: add an AES-GCM ESP SA in a namespace of this test's own."""
    name = "audit-test-%s" % uuid.uuid4().hex[:8]
    controller.run_test("ip netns add %s", name)
    try:
        result = controller.run(
            "ip netns exec %s ip xfrm state add src 198.51.100.1 dst 198.51.100.2 proto esp spi 0x00002a2a "
            "reqid 7 mode transport aead 'rfc4106(gcm(aes))' 0x%s 128", name, "42" * 20)
    finally:
        controller.run("ip netns delete %s", name)
    return result.rc == 0, result.stderr.strip()


def kernel_config():
    try:
        with gzip.open("/proc/config.gz", "rt") as handle:
            text = handle.read()
    except OSError:
        return {}
    config = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            config[key] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            config[line.split()[1]] = "n"
    return config


@pytest.fixture(scope="module")
def kernel_esp():
    usable, why = kernel_has_esp_with_gcm()
    config = kernel_config()
    if config.get("CONFIG_INET_ESP") == "n" or config.get("CONFIG_CRYPTO_GCM") == "n":
        # The config says it cannot be; the kernel must have refused the SA.
        assert not usable, "the kernel accepted an AES-GCM ESP SA although /proc/config.gz lacks ESP or GCM"
    return usable, why


@pytest.fixture(scope="module")
def everywhere():
    """A global dnsrr service on every encrypted network, so that every node joins them."""
    assert ENCRYPTED, "the scenario must declare an encrypted network in networks_overlay"
    networks = " ".join("--network %s" % n for n in ENCRYPTED)
    on(MANAGER, "docker service rm %s >/dev/null 2>&1; docker service create -d --name %s --mode global "
                "--endpoint-mode dnsrr %s %s sleep 100000 >/dev/null" % (SERVICE, SERVICE, networks, PROBE_IMAGE))
    try:
        wait_for(lambda: on(MANAGER, "docker service ps -q --filter desired-state=running --filter "
                                     "'name=%s' %s | wc -l" % (SERVICE, SERVICE)).stdout.strip() == str(len(NODES))
                 and all(all(n in on(node, "docker network ls --format '{{.Name}}'").stdout.split() for n in ENCRYPTED)
                         for node in NODES),
                 timeout=180, what="a task of %s on every node" % SERVICE)
        # Networks removed on the manager by earlier tests (the overlay_network cases) linger on a
        # worker until its tasks on them have stopped; the audit would rightly report those too.
        declared = set(ENCRYPTED + PLAIN + ["ingress"])
        wait_for(lambda: all(set(on(node, "docker network ls --filter driver=overlay --format '{{.Name}}'").stdout.split())
                             <= declared for node in NODES),
                 timeout=120, what="no overlay network but the declared ones on any node")
        yield
    finally:
        on(MANAGER, "docker service rm %s" % SERVICE, check=False)


def run_audit(tmp_path, *extra, **kwargs):
    """playbooks/audit.yml from the controller with the lab's probe image; (rc, audit_report, stats)."""
    return run_audit_playbook(tmp_path, "-e", "audit_probe_image=%s" % PROBE_IMAGE, *extra, **kwargs)


def test_verdict_matches_the_kernel(everywhere, kernel_esp, tmp_path):
    usable, why = kernel_esp
    rc, report, stats = run_audit(tmp_path, "-e", "audit_fail_on=none")
    assert rc == 0 and report is not None
    assert sorted(report["networks"]) == sorted(ENCRYPTED), "plain networks are not audited"
    assert all(stats[node]["changed"] == 0 for node in NODES), stats
    for node in NODES:
        kernel = report["kernels"][node]
        assert kernel["esp"] is usable and kernel["aes_gcm"] is usable, (node, kernel, why)
    for network in ENCRYPTED:
        lacking = sorted(f["node"] for f in report["findings"]
                         if f["id"] == "kernel_no_esp" and f["network"] == network and f["severity"] == "high")
        pairs = matrix_cells(report, network)
        assert len(pairs) == len(NODES) * (len(NODES) - 1)
        if usable:
            assert lacking == [], report["findings"]
            for node, cell in pairs:
                assert cell["sa_out"] and cell["sa_in"] and cell["policy"], (node, cell)
                assert cell["ok"], (node, cell)
        else:
            # "Requested AEAD algorithm not found" here: the kernel refused what Docker needs.
            assert lacking == sorted(NODES), report["findings"]
            for node, cell in pairs:
                assert not cell["sa_out"] and not cell["sa_in"], (node, cell)
                assert cell["status"] == "no SA (kernel lacks ESP)", (node, cell)
                assert cell["ok"] is False
                # the fence admits ESP and VXLAN from peers: the kernel alone is to blame
                assert cell["fw_esp"] is True and cell["fw_data"] is True, (node, cell)
    html = (tmp_path / "ironclad-swarm-audit.html").read_text()
    for network in ENCRYPTED:
        assert "Network %s" % network in html
    for network in PLAIN:
        assert "Network %s" % network not in html


def test_fail_on_high_fails_exactly_when_the_kernel_lacks_esp(everywhere, kernel_esp, tmp_path):
    usable = kernel_esp[0]
    rc, report = run_audit(tmp_path, "-e", "audit_fail_on=high")[:2]
    assert (rc == 0) is usable, report["findings"] if report else rc
    if usable:
        assert report["summary"]["high"] == 0, report["findings"]
    else:
        assert report["summary"]["high"] >= len(NODES) * len(ENCRYPTED)


def test_check_mode_is_read_only_and_leaves_nothing(everywhere, tmp_path):
    rc, report, stats = run_audit(tmp_path, "--check", "-e", "audit_fail_on=none")
    assert rc == 0 and report is not None
    assert all(stats[node]["changed"] == 0 for node in NODES), stats
    for node in NODES:
        assert "ironclad-audit" not in on(node, "ip netns list").stdout


def test_probe_crosses_nodes_exactly_when_the_kernel_has_esp(everywhere, kernel_esp, tmp_path):
    usable = kernel_esp[0]
    rc, report = run_audit(tmp_path, "-e", "audit_fail_on=none", "-e", "audit_probe=true")[:2]
    assert rc == 0 and report["probe"] == "run"
    for network in ENCRYPTED:
        for node, cell in matrix_cells(report, network):
            assert cell["probe"] is usable, (network, node, cell)
    services = on(MANAGER, "docker service ls --format '{{.Name}}'").stdout.split()
    assert not [s for s in services if s.startswith("ironclad-audit-probe-")], services


def test_report_is_written_when_localhost_is_an_inventory_host(tmp_path):
    """`make lab` runs with `-i localhost,`, which makes localhost an SSH host: the report is
    still written on the controller, without SSH."""
    rc, report, stats = run_audit(tmp_path, "-e", "audit_fail_on=none", inventories=["localhost,"])
    assert rc == 0 and report is not None, stats
    assert (tmp_path / "ironclad-swarm-audit.html").is_file()
