"""The node agent's cost per run (issue 18): CPU seconds, wall time and peak RSS, on labs of 3 and 15 nodes.

For each lab size in --nodes (default 3 15; 1 manager below 5 nodes, else 3; the rest workers) it makes a fresh lab
("ironclad-agent", LAB_SUITE, else the list's default), builds it with site.yml (one encrypted and one plain network, a
global service on both, so that every node has joined them), which installs the agent (the watch role). Then,
on the first manager and the first worker, it runs the agent --runs times as the timer does (python3 -m ..._agent
--config /etc/ironclad-swarm/agent.json), each inside a small wrapper on the node that reads the run's resource
usage (getrusage of the children: the agent and every tool it starts, ip, nft, systemctl), and once more with the
kernel probe due (the first run after boot, then hourly). It prints medians and maxima against the goal (0.2
CPU-s and 40 MB per run per node) and the whole result as JSON on the last line; `make bench-agent` runs it.
The timer is stopped while it measures, so that two runs never overlap.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile

from bench import ROOT, SUITE, playbook

LAB = "ironclad-agent"
MANAGERS = 3  # from 5 nodes on; a smaller lab has one manager, as make lab's, so that it has workers too
GOAL_CPU_S = 0.2
GOAL_RSS_MB = 40
SITE_VARS = ["-e", json.dumps({"networks_overlay": [{"name": "bench-enc"}, {"name": "bench-plain", "encrypted": False}],
                               "audit_fail_on": "none"})]
# Runs on the node: one agent run as the timer starts it, and what it cost.
WRAPPER = r"""
import json, os, resource, subprocess, sys, time
state = '/var/lib/ironclad-swarm/agent-state.json'
if sys.argv[1] == 'probe' and os.path.exists(state):
    data = json.load(open(state))
    data['probe'] = None
    json.dump(data, open(state, 'w'))
env = dict(os.environ, PYTHONPATH='/usr/local/lib/ironclad-swarm')
start = time.monotonic()
done = subprocess.run(['/usr/bin/python3', '-m', 'ansible_collections.ironclad.swarm.plugins.module_utils.audit.agent',
                       '--config', '/etc/ironclad-swarm/agent.json'], env=env, capture_output=True, text=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({'rc': done.returncode, 'wall_s': wall, 'cpu_s': usage.ru_utime + usage.ru_stime,
                  'rss_mb': usage.ru_maxrss / 1024.0, 'stderr': done.stderr[-500:]}))
"""


def managers(count):
    return MANAGERS if count >= 5 else 1


def lab(state, count, inventory):
    spec = {"lab_name": LAB, "lab_suite": SUITE, "lab_state": state, "lab_managers": managers(count),
            "lab_workers": count - managers(count), "lab_inventory_file": inventory}
    playbook(os.path.join(ROOT, "tests", "lab", "nodes.yml"), "localhost,", ["-e", json.dumps(spec)],
             check=state == "present")


def node(name, *argv):
    done = subprocess.run(["docker", "exec", name] + list(argv), capture_output=True, text=True, check=False,
                          timeout=300)
    if done.returncode != 0:
        raise SystemExit("%s: %s failed: %s%s" % (name, " ".join(argv), done.stdout, done.stderr))
    return done.stdout


def one_run(name, mode):
    figures = json.loads(node(name, "python3", "-c", WRAPPER, mode).strip().splitlines()[-1])
    if figures["rc"] != 0:
        raise SystemExit("%s: the agent failed: %s" % (name, figures["stderr"]))
    return figures


def measure_node(name, runs):
    node(name, "systemctl", "stop", "ironclad-swarm-agent.timer")
    try:
        one_run(name, "warm")  # the first run after install reads the page cache cold
        plain = [one_run(name, "plain") for dummy in range(runs)]
        probe = one_run(name, "probe")
    finally:
        node(name, "systemctl", "start", "ironclad-swarm-agent.timer")
    return {"node": name, "runs": runs,
            "cpu_s": round(statistics.median(r["cpu_s"] for r in plain), 3),
            "cpu_max_s": round(max(r["cpu_s"] for r in plain), 3),
            "wall_s": round(statistics.median(r["wall_s"] for r in plain), 3),
            "rss_mb": round(max(r["rss_mb"] for r in plain), 1),
            "probe_cpu_s": round(probe["cpu_s"], 3), "probe_wall_s": round(probe["wall_s"], 3),
            "probe_rss_mb": round(probe["rss_mb"], 1)}


def measure(count, runs, work):
    inventory = os.path.join(work, "lab-%d.yml" % count)
    site = os.path.join(ROOT, "playbooks", "site.yml")
    site_vars = SITE_VARS + ["-e", "audit_report_dir=%s" % os.path.join(work, "report-%d" % count)]
    lab("absent", count, inventory)
    try:
        lab("present", count, inventory)
        playbook(site, inventory, site_vars, env={"ANSIBLE_FORKS": str(count)})
        manager, worker = "%s-manager-1" % LAB, "%s-worker-1" % LAB
        node(manager, "docker", "service", "create", "-d", "--mode", "global", "--name", "bench-web",
             "--network", "bench-enc", "--network", "bench-plain", "--endpoint-mode", "dnsrr",
             "ironclad-swarm-lab/probe:1", "httpd", "-f", "-p", "8080")
        return {"nodes": count, "managers": managers(count), "manager": measure_node(manager, runs), "worker": measure_node(worker, runs)}
    finally:
        lab("absent", count, inventory)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 15], help="lab sizes, each >= 3")
    parser.add_argument("--runs", type=int, default=10)
    opts = parser.parse_args()
    if min(opts.nodes) < 2:
        parser.error("every lab size needs at least 2 nodes (a manager and a worker)")
    work = tempfile.mkdtemp(prefix="ironclad-agent-bench-")
    result = {"suite": SUITE, "runs": opts.runs, "goal": {"cpu_s": GOAL_CPU_S, "rss_mb": GOAL_RSS_MB}, "sizes": []}
    for count in opts.nodes:
        result["sizes"].append(measure(count, opts.runs, work))
    print("ironclad.swarm node agent, cost of one run (%s lab, median of %d runs; RSS is the peak of the run)"
          % (SUITE, opts.runs))
    print("  %5s  %-8s  %7s  %7s  %7s  %7s  %12s  %6s"
          % ("nodes", "node", "CPU s", "max", "wall s", "RSS MB", "probe CPU s", "ratio"))
    for size in result["sizes"]:
        for role in ("manager", "worker"):
            s = size[role]
            print("  %5d  %-8s  %7.3f  %7.3f  %7.3f  %7.1f  %12.3f  %5.2fx" % (
                size["nodes"], role, s["cpu_s"], s["cpu_max_s"], s["wall_s"], s["rss_mb"], s["probe_cpu_s"],
                s["cpu_s"] / GOAL_CPU_S))
    print("  goal: at most %.1f CPU-s and %d MB per run per node (ratio: median CPU against the goal)"
          % (GOAL_CPU_S, GOAL_RSS_MB))
    out = os.path.join(ROOT, ".build", "bench-agent.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
