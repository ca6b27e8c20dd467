"""Side by side: site.yml against the idiomatic community.docker playbook (tests/bench/baseline.yml).

Three pairs, each timed A B A B ... on the same lab, medians and the median of the per-pair ratios:
  converge    site.yml on fresh nodes     vs  baseline.yml on fresh nodes
              and the floor: apt-get install of the same packages plus starting dockerd on every node
              at once (docker exec, no Ansible), on fresh nodes too
  whole site  site.yml re-run             vs  baseline.yml re-run        (goal: ratio <= 2.0)
  same scope  site.yml --tags cluster,networks re-run  vs  baseline.yml re-run   (goal: ratio <= 1.2)
site.yml pipelines its own module calls; the baseline, as written, runs with Ansible's defaults, so the
two re-run pairs are also printed with the baseline run under ANSIBLE_PIPELINING=True (same settings).
Goals of issue 12; this prints them, it does not enforce them. Before each converge the lab is made
anew (not timed). Run with `make bench`; it starts and removes its own lab ("ironclad-cmp").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
LAB = "ironclad-cmp"
sys.path.insert(0, os.path.join(ROOT, "molecule", "shared"))
import platforms  # noqa: E402  pylint: disable=wrong-import-position

# The lab's release: LAB_SUITE, else the default of molecule/shared/platforms.json.
SUITE = platforms.lab_suite()


def playbook(path, inventory, extra=(), env=None):
    """Run one playbook; its wall time. A failure ends the benchmark."""
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory] + list(extra) + [path]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, text=True, check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, **(env or {})))
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:] + proc.stdout[-4000:])
        raise SystemExit("ansible-playbook %s failed (rc=%s)" % (path, proc.returncode))
    return elapsed


def lab(state, nodes, inventory):
    spec = {"lab_name": LAB, "lab_suite": SUITE, "lab_state": state, "lab_managers": nodes[0],
            "lab_workers": nodes[1], "lab_inventory_file": inventory}
    extra = ["-e", json.dumps(spec)]
    playbook(os.path.join(ROOT, "tests", "lab", "nodes.yml"), "localhost,", extra)


def node_names(nodes):
    return ["%s-manager-%d" % (LAB, i + 1) for i in range(nodes[0])] + ["%s-worker-%d" % (LAB, i + 1) for i in range(nodes[1])]


def floor(nodes):
    """The bare install: apt-get install of the packages site.yml installs, then start dockerd; all nodes at once."""
    packages = platforms.distro_packages(SUITE) + " python3-docker apparmor"
    script = ("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends %s >/dev/null "
              "&& systemctl start docker && docker info >/dev/null" % packages)
    start = time.monotonic()
    procs = [subprocess.Popen(["docker", "exec", name, "sh", "-c", script]) for name in node_names(nodes)]
    codes = [p.wait() for p in procs]
    elapsed = time.monotonic() - start
    if any(codes):
        raise SystemExit("the floor's install failed: %s" % codes)
    return elapsed


def summary(name, a_times, b_times, goal=None):
    ratios = [a / b for a, b in zip(a_times, b_times)]
    medians = (statistics.median(a_times), statistics.median(b_times), statistics.median(ratios))
    line = "  %-34s %7.1f s  %7.1f s  %6.2f" % ((name,) + medians)
    if goal:
        line += "   (goal <= %.1f)" % goal
    return line, {"a": [round(t, 2) for t in a_times], "b": [round(t, 2) for t in b_times],
                  "ratio": round(statistics.median(ratios), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--managers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    nodes = (opts.managers, opts.workers)
    work = tempfile.mkdtemp(prefix="ironclad-cmp-")
    inventory = os.path.join(work, "inventory.yml")
    site = os.path.join(ROOT, "playbooks", "site.yml")
    baseline = os.path.join(HERE, "baseline.yml")
    site_vars = ["-e", json.dumps({"networks_overlay": [{"name": "bench-enc"}], "audit_fail_on": "none"})]
    base_vars = ["-e", json.dumps({"bench_docker_cli": bool(platforms.cli_packages(SUITE))})]

    conv = {"site": [], "baseline": [], "floor": []}
    whole_a, whole_b, scope_a, scope_b = [], [], [], []
    # site.yml pipelines its own module calls (ironclad_pipelining); the baseline, as written, runs
    # with Ansible's defaults. The same pairs are also timed with the baseline pipelined too.
    piped = {"ANSIBLE_PIPELINING": "True"}
    whole_bp, scope_bp = [], []
    try:
        for dummy in range(opts.repeat):
            for variant in ("site", "baseline", "floor"):
                lab("absent", nodes, inventory)
                lab("present", nodes, inventory)
                if variant == "site":
                    conv[variant].append(playbook(site, inventory, site_vars))
                elif variant == "baseline":
                    conv[variant].append(playbook(baseline, inventory, base_vars))
                else:
                    conv[variant].append(floor(nodes))
        # Re-runs on one lab that both have converged (each keeps its own network).
        lab("absent", nodes, inventory)
        lab("present", nodes, inventory)
        playbook(site, inventory, site_vars)
        playbook(baseline, inventory, base_vars)
        for dummy in range(opts.repeat):
            whole_a.append(playbook(site, inventory, site_vars))
            whole_b.append(playbook(baseline, inventory, base_vars))
            whole_bp.append(playbook(baseline, inventory, base_vars, env=piped))
        for dummy in range(opts.repeat):
            scope_a.append(playbook(site, inventory, site_vars + ["--tags", "cluster,networks"]))
            scope_b.append(playbook(baseline, inventory, base_vars))
            scope_bp.append(playbook(baseline, inventory, base_vars, env=piped))
    finally:
        lab("absent", nodes, inventory)

    print("site.yml vs the community.docker baseline: %s, %d manager(s) + %d worker(s), median of %d, A B A B"
          % (SUITE, nodes[0], nodes[1], opts.repeat))
    print("  %-34s %9s  %9s  %6s" % ("pair", "site.yml", "baseline", "ratio"))
    report = {}
    for name, a_times, b_times, goal in (
            ("converge from fresh nodes", conv["site"], conv["baseline"], None),
            ("whole site re-run", whole_a, whole_b, 2.0),
            ("same scope re-run (cluster,networks)", scope_a, scope_b, 1.2),
            ("whole site, baseline pipelined too", whole_a, whole_bp, 2.0),
            ("same scope, baseline pipelined too", scope_a, scope_bp, 1.2)):
        line, report[name] = summary(name, a_times, b_times, goal)
        print(line)
    line, report["converge vs floor"] = summary("converge vs the floor (apt + dockerd)", conv["site"], conv["floor"], 1.3)
    print(line)
    line, report["baseline converge vs floor"] = summary("baseline converge vs the floor", conv["baseline"], conv["floor"])
    print(line)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
