"""Benchmark the roles on the local lab (issue: re-run <= 1.5x the floor).

Prints three figures and a ratio:
  (a) converge  - site.yml on fresh lab hosts (containers just started)
  (b) re-run    - site.yml again on the converged swarm (must change nothing)
  (c) floor     - a play over the same hosts running one ansible.builtin.ping
                  for every remote module call the re-run made on each host
  ratio         - re-run / floor

(b) and (c) are run --repeat times; the median is reported. A module call is a
task (or loop item) that ran on a host and was not skipped, less the actions
that run on the controller only (set_fact, debug, assert, include_*, ...).
Run it with `make bench`; it starts and removes its own lab ("ironclad-bench").
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
sys.path.insert(0, os.path.join(ROOT, "molecule", "shared"))
import platforms  # noqa: E402  pylint: disable=wrong-import-position

# The lab's release: LAB_SUITE, else the default of molecule/shared/platforms.json.
SUITE = platforms.lab_suite()
BIN = os.path.dirname(sys.executable)
CONTROLLER_ONLY = {
    "set_fact", "debug", "assert", "fail", "include_role", "include_tasks", "import_role",
    "import_tasks", "add_host", "group_by", "meta", "validate_argument_spec", "include_vars", "pause",
    "set_stats", "noop", "audit_report",
}


def playbook(args, inventory, extra=(), env=None, check=True):
    """Run one playbook from the checkout; (wall time, stdout). With check, a failure ends the benchmark."""
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory] + list(extra) + [args]
    full_env = dict(os.environ, **(env or {}))
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, text=True, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - start
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:] + (proc.stdout or "")[-4000:])
        raise SystemExit("ansible-playbook %s failed (rc=%s)" % (args, proc.returncode))
    return elapsed, proc.stdout


def count_calls(json_report):
    """Per host: remote module calls and changed results, from the json callback."""
    calls, changed = {}, {}
    for play in json_report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                action = res.get("action", "").rsplit(".", 1)[-1]
                if action in CONTROLLER_ONLY:
                    continue
                items = res.get("results") if isinstance(res.get("results"), list) else [res]
                ran = [i for i in items if not i.get("skipped")]
                calls[host] = calls.get(host, 0) + len(ran)
                changed[host] = changed.get(host, 0) + sum(1 for i in ran if i.get("changed"))
    return calls, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--managers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the benchmark lab running")
    opts = parser.parse_args()

    work = tempfile.mkdtemp(prefix="ironclad-bench-")
    inventory = os.path.join(work, "inventory.yml")
    lab = ["-e", "lab_name=ironclad-bench", "-e", "lab_suite=%s" % SUITE,
           "-e", "lab_managers=%d" % opts.managers,
           "-e", "lab_workers=%d" % opts.workers, "-e", "lab_inventory_file=%s" % inventory]
    nodes = os.path.join(ROOT, "tests", "lab", "nodes.yml")
    playbook(nodes, "localhost,", lab + ["-e", "lab_state=absent"])
    try:
        playbook(nodes, "localhost,", lab)
        site = os.path.join(ROOT, "playbooks", "site.yml")
        converge = playbook(site, inventory)[0]

        reruns, report = [], None
        for dummy in range(opts.repeat):
            elapsed, out = playbook(site, inventory,
                                    env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
            reruns.append(elapsed)
            report = json.loads(out)
        calls, changed = count_calls(report)

        floor_book = os.path.join(work, "floor.yml")
        with open(floor_book, "w") as fh:
            fh.write(
                "- name: Floor - one ping per module call of the re-run\n"
                "  hosts: all\n  gather_facts: false\n  tasks:\n"
                "    - name: Ping\n      ansible.builtin.ping:\n"
                "      loop: \"{{ range(bench_calls[inventory_hostname] | default(0) | int) | list }}\"\n"
            )
        calls_file = os.path.join(work, "calls.json")
        with open(calls_file, "w") as fh:
            json.dump({"bench_calls": calls}, fh)
        floors = [playbook(floor_book, inventory, ["-e", "@" + calls_file])[0] for dummy in range(opts.repeat)]
    finally:
        if not opts.keep:
            playbook(nodes, "localhost,", lab + ["-e", "lab_state=absent"])

    rerun, floor = statistics.median(reruns), statistics.median(floors)
    print("ironclad.swarm benchmark: %d manager(s) + %d worker(s), median of %d" % (
        opts.managers, opts.workers, opts.repeat))
    print("  (a) converge from fresh hosts : %7.1f s" % converge)
    print("  (b) idempotent re-run         : %7.1f s   (%s)" % (rerun, ", ".join("%.1f" % r for r in reruns)))
    print("  (c) floor (pings)             : %7.1f s   (%s)" % (floor, ", ".join("%.1f" % f for f in floors)))
    print("  module calls in the re-run    : %s" % ", ".join("%s=%d" % kv for kv in sorted(calls.items())))
    print("  changed in the re-run         : %d" % sum(changed.values()))
    print("  ratio re-run / floor          : %7.2f   (goal <= 1.50)" % (rerun / floor))
    print(json.dumps({"converge_s": round(converge, 2), "rerun_s": round(rerun, 2), "floor_s": round(floor, 2),
                      "ratio": round(rerun / floor, 3), "calls": calls, "rerun_changed": sum(changed.values())}))


if __name__ == "__main__":
    main()
