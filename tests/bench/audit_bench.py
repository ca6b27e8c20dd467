"""Benchmark the encryption audit and what encryption costs (issue 5).

Container lab (always): for each node count in --nodes, start a lab of its own
("ironclad-abench"), build the swarm with one encrypted overlay network, put a task of a
global service on every node so every node joins it, then time playbooks/audit.yml
(read-only: no active probe, audit_fail_on=none) --repeat times. Goal: under 10 s for 5 nodes.

VM lab (--vm-lab DIR, a converged `molecule converge -s encryption`, see docs/vm-lab.md):
times the same read-only audit on the QEMU VMs, then measures HTTP throughput between the
tasks of a global httpd service on vm2 and vm3, once over the plain network vm-plain and
once over the encrypted vm-enc, and prints the ratio. The VMs run under TCG (emulated CPU),
so the absolute figures are far below real hardware; the ratio is the figure to read.

    make bench-audit                    # container lab, 3 and 5 nodes
    make bench-vm                       # converges the VM lab, measures, destroys it
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

from bench import ROOT, SUITE, playbook

PROBE_IMAGE = "ironclad-swarm-lab/probe:1"
PROBE_ROOTFS = "/opt/ironclad/probe-rootfs.tar"  # inside the VM image (tests/vm/build-image.sh)
LAB = "ironclad-abench"


def ansible_playbook(book, inventory, *extra, check=True):
    """bench.py's runner with a playbook path relative to the checkout; the wall time."""
    return playbook(os.path.join(ROOT, book), inventory, extra, check=check)[0]


def time_audit(inventory, repeat, report_dir, *extra):
    """Median wall time of the read-only audit, and every run's time."""
    runs = [ansible_playbook("playbooks/audit.yml", inventory, "-e", "audit_fail_on=none",
                             "-e", "audit_report_dir=%s" % report_dir, *extra) for dummy in range(repeat)]
    return statistics.median(runs), runs


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(3)
    raise SystemExit("timed out waiting for %s" % what)


# Container lab ---------------------------------------------------------------------------------

def container_lab(count, repeat, work):
    managers = 3 if count >= 5 else 1
    inventory = os.path.join(work, "lab-%d.yml" % count)
    lab_vars = os.path.join(work, "vars-%d.json" % count)
    with open(lab_vars, "w", encoding="utf-8") as fh:
        json.dump({"lab_name": LAB, "lab_suite": SUITE,
                   "lab_managers": managers, "lab_workers": count - managers,
                   "lab_inventory_file": inventory,
                   "networks_overlay": [{"name": "abench-enc", "ipam": [{"subnet": "172.30.77.0/24"}]}]}, fh)
    lab = ["-e", "@" + lab_vars]
    ansible_playbook("tests/lab/nodes.yml", "localhost,", *lab, "-e", "lab_state=absent")
    try:
        converge = ansible_playbook("playbooks/lab.yml", "localhost,", *lab)
        manager = "%s-manager-1" % LAB

        def docker(*argv):
            return subprocess.run(["docker", "exec", manager, "docker"] + list(argv), text=True,
                                  capture_output=True, check=False)

        docker("service", "create", "--detach", "--name", "abench-everywhere", "--mode", "global",
               "--endpoint-mode", "dnsrr", "--network", "abench-enc", PROBE_IMAGE, "sleep", "100000")

        def all_running():
            out = docker("service", "ps", "-q", "--filter", "desired-state=running", "abench-everywhere").stdout
            running = docker("service", "ls", "--filter", "name=abench-everywhere", "--format", "{{.Replicas}}").stdout
            return len(out.split()) == count and running.strip() == "%d/%d" % (count, count)

        wait(all_running, 180, "a task on every node")
        median, runs = time_audit(inventory, repeat, os.path.join(work, "report-%d" % count))
    finally:
        ansible_playbook("tests/lab/nodes.yml", "localhost,", *lab, "-e", "lab_state=absent", check=False)
    return {"nodes": count, "managers": managers, "converge_s": round(converge, 1),
            "audit_s": round(median, 2), "audit_runs_s": [round(r, 2) for r in runs]}


# VM lab ----------------------------------------------------------------------------------------

class VmLab:
    def __init__(self, workdir):
        with open(os.path.join(workdir, "run", "lab.json"), encoding="utf-8") as fh:
            self.lab = json.load(fh)
        self.inventory = self.lab["inventory"]
        self.ports = {n["name"]: n["port"] for n in self.lab["nodes"]}

    def ssh(self, node, script, check=True, timeout=600):
        cmd = ["ssh", "-i", self.lab["identity_file"], "-p", str(self.ports[node]), "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "root@127.0.0.1", script]
        proc = subprocess.run(cmd, text=True, capture_output=True, check=False, timeout=timeout)
        if check and proc.returncode != 0:
            raise SystemExit("%s: %s\n%s%s" % (node, script, proc.stdout, proc.stderr))
        return proc.stdout

    def task(self, node, service):
        """(container id, {network: IP}) of the service's task on that node, or None."""
        cid = self.ssh(node, "docker ps -q --filter label=com.docker.swarm.service.name=%s" % service).split()
        if not cid:
            return None
        info = json.loads(self.ssh(node, "docker inspect %s" % cid[0]))[0]
        return cid[0], {k: v["IPAddress"] for k, v in info["NetworkSettings"]["Networks"].items()}


def throughput(vm, networks, size_mb, repeat, client="vm3", server="vm2"):
    """MB/s from the server's task to the client's over each network (median of repeat fetches)."""
    for node in vm.ports:
        vm.ssh(node, "docker image inspect %s >/dev/null 2>&1 || docker import --change 'CMD [\"/bin/sh\"]' "
                     "--change 'ENV PATH=/bin' %s %s >/dev/null" % (PROBE_IMAGE, PROBE_ROOTFS, PROBE_IMAGE))
    manager = next(iter(vm.ports))
    script = "mkdir -p /www && dd if=/dev/urandom of=/www/blob bs=1M count=%d 2>/dev/null && " \
             "touch /www/ready && httpd -f -p 80 -h /www" % size_mb
    results = {}
    for network in networks:
        service = "abench-web-%s" % network
        vm.ssh(manager, "docker service rm %s >/dev/null 2>&1; docker service create --detach --no-resolve-image "
                        "--name %s --mode global --endpoint-mode dnsrr --network %s %s sh -c '%s' >/dev/null"
               % (service, service, network, PROBE_IMAGE, script))
        try:
            wait(lambda: all(vm.task(n, service) for n in (client, server)), 600, "%s on %s and %s"
                 % (service, client, server))
            cid, ips = vm.task(client, service)
            target = vm.task(server, service)[1][network]
            wait(lambda: vm.ssh(client, "docker exec %s sh -c 'printf \"GET /ready HTTP/1.0\\r\\n\\r\\n\" | "
                                        "nc -w 5 %s 80'" % (cid, target), check=False).startswith("HTTP/1.1 200"),
                 300, "httpd on %s" % server)
            rates = []
            for dummy in range(repeat):
                # Timed inside the client task (/proc/uptime), so ssh and docker exec are not counted.
                out = vm.ssh(client, "docker exec %s sh -c 'a=$(cut -d\" \" -f1 /proc/uptime); "
                                     "n=$(printf \"GET /blob HTTP/1.0\\r\\n\\r\\n\" | nc -w 60 %s 80 | wc -c); "
                                     "b=$(cut -d\" \" -f1 /proc/uptime); echo $n $a $b'" % (cid, target))
                size, begin, end = out.split()
                if int(size) < size_mb * 1024 * 1024:
                    raise SystemExit("%s: got %s bytes of %d MiB" % (network, size, size_mb))
                rates.append(int(size) / 1e6 / max(float(end) - float(begin), 0.01))
            results[network] = {"mb_s": round(statistics.median(rates), 2), "runs": [round(r, 2) for r in rates]}
        finally:
            vm.ssh(manager, "docker service rm %s" % service, check=False)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="*", default=[3, 5], help="container lab sizes (none: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vm-lab", help="work directory of a converged VM lab (e.g. /var/tmp/ironclad-swarm-vm)")
    parser.add_argument("--size-mb", type=int, default=16, help="size of the file fetched over HTTP on the VM lab")
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ironclad-abench-")
    figures = {"containers": [], "vm": None}

    for count in opts.nodes:
        figures["containers"].append(container_lab(count, opts.repeat, work))

    if opts.vm_lab:
        vm = VmLab(opts.vm_lab)
        median, runs = time_audit(vm.inventory, opts.repeat, os.path.join(work, "report-vm"))
        rates = throughput(vm, ["vm-plain", "vm-enc"], opts.size_mb, opts.repeat)
        figures["vm"] = {"nodes": len(vm.ports), "audit_s": round(median, 2), "audit_runs_s": [round(r, 2) for r in runs],
                         "http": rates, "size_mb": opts.size_mb,
                         "ratio_enc_plain": round(rates["vm-enc"]["mb_s"] / rates["vm-plain"]["mb_s"], 3)}

    print("ironclad.swarm audit benchmark, median of %d" % opts.repeat)
    for c in figures["containers"]:
        print("  container lab, %d nodes (%d managers): read-only audit %6.2f s  (%s)   goal < 10 s for 5 nodes" % (
            c["nodes"], c["managers"], c["audit_s"], ", ".join("%.2f" % r for r in c["audit_runs_s"])))
    if figures["vm"]:
        v = figures["vm"]
        print("  VM lab (QEMU TCG), %d nodes: read-only audit %6.2f s  (%s)" % (
            v["nodes"], v["audit_s"], ", ".join("%.2f" % r for r in v["audit_runs_s"])))
        for network in ("vm-plain", "vm-enc"):
            print("  HTTP %d MiB vm2 -> vm3 over %-8s: %7.2f MB/s  (%s)" % (
                v["size_mb"], network, v["http"][network]["mb_s"], ", ".join("%.2f" % r for r in v["http"][network]["runs"])))
        print("  ratio encrypted / plain        : %7.2f" % v["ratio_enc_plain"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
