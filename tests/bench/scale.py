"""The scale curve (issue 12): how site.yml and the audit grow with the number of nodes.

For each lab size in --nodes (default 3 6 9 15; always 3 managers, the rest workers) it makes a fresh lab
("ironclad-scale", LAB_SUITE, else the list's default; its creation is not timed), then times:
  converge  site.yml on the fresh nodes, with one encrypted overlay network (bench-enc)
  re-run    site.yml again, median of --repeat; each run must change nothing
  audit     playbooks/audit.yml alone, median of --repeat (goal of issue 12: 15 nodes under 15 s)
Every run has ANSIBLE_FORKS set to the number of nodes: Ansible's default of 5 would run the hosts of a
larger lab in batches. It prints a table (per run and per node) with the remote module calls per host of the
re-run, then the whole result as JSON on the last line; it writes that JSON to .build/bench-scale.json and
the curve to docs/img/scale-curve.png. `--plot-only FILE` plots a JSON written before. Run with
`make bench-scale`; it removes its lab at the end.
"""

import argparse
import json
import os
import statistics
import tempfile

from bench import ROOT, SUITE, count_calls, playbook

LAB = "ironclad-scale"
MANAGERS = 3
JSON_OUT = os.path.join(ROOT, ".build", "bench-scale.json")
PNG_OUT = os.path.join(ROOT, "docs", "img", "scale-curve.png")
SITE_VARS = ["-e", json.dumps({"networks_overlay": [{"name": "bench-enc"}], "audit_fail_on": "none"})]


def lab(state, count, inventory):
    spec = {"lab_name": LAB, "lab_suite": SUITE, "lab_state": state, "lab_managers": MANAGERS,
            "lab_workers": count - MANAGERS, "lab_inventory_file": inventory}
    playbook(os.path.join(ROOT, "tests", "lab", "nodes.yml"), "localhost,", ["-e", json.dumps(spec)],
             check=state == "present")


def measure(count, repeat, work):
    """The figures of one lab size."""
    inventory = os.path.join(work, "lab-%d.yml" % count)
    forks = {"ANSIBLE_FORKS": str(count)}
    site = os.path.join(ROOT, "playbooks", "site.yml")
    audit = os.path.join(ROOT, "playbooks", "audit.yml")
    site_vars = SITE_VARS + ["-e", "audit_report_dir=%s" % os.path.join(work, "report-%d" % count)]
    lab("absent", count, inventory)
    try:
        lab("present", count, inventory)
        converge = playbook(site, inventory, site_vars, env=forks)[0]
        reruns, calls = [], {}
        for dummy in range(repeat):
            elapsed, out = playbook(site, inventory, site_vars,
                                    env=dict(forks, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))
            report = json.loads(out)
            changed = {h: s["changed"] for h, s in report["stats"].items() if s["changed"]}
            if changed:
                raise SystemExit("%d nodes: the re-run of site.yml changed something: %s" % (count, changed))
            reruns.append(elapsed)
            calls = count_calls(report)[0]
        audits = [playbook(audit, inventory, site_vars, env=forks)[0] for dummy in range(repeat)]
    finally:
        lab("absent", count, inventory)
    rerun, audit_s = statistics.median(reruns), statistics.median(audits)
    return {"nodes": count, "managers": MANAGERS, "workers": count - MANAGERS, "forks": count,
            "converge_s": round(converge, 2), "converge_per_node_s": round(converge / count, 2),
            "rerun_s": round(rerun, 2), "rerun_runs_s": [round(r, 2) for r in reruns],
            "rerun_per_node_s": round(rerun / count, 2),
            "audit_s": round(audit_s, 2), "audit_runs_s": [round(a, 2) for a in audits],
            "audit_per_node_s": round(audit_s / count, 2), "rerun_calls": calls}


def plot(result, path):
    """Time per run and per node against the number of nodes: converge, re-run, audit."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    sizes = result["sizes"]
    nodes = [s["nodes"] for s in sizes]
    fig, (whole, per_node) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("converge", "converge"), ("rerun", "re-run (changed=0)"), ("audit", "audit.yml")):
        whole.plot(nodes, [s[key + "_s"] for s in sizes], marker="o", label=label)
        per_node.plot(nodes, [s[key + "_per_node_s"] for s in sizes], marker="o", label=label)
    whole.axhline(15, color="grey", linestyle=":", linewidth=1, label="audit goal at 15 nodes")
    whole.set(title="Time per run", xlabel="nodes (3 managers)", ylabel="seconds")
    per_node.set(title="Time per node", xlabel="nodes (3 managers)", ylabel="seconds per node")
    for axes in (whole, per_node):
        axes.set_xticks(nodes)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
    whole.legend(fontsize="small")
    fig.suptitle("ironclad.swarm scale curve: %s lab, forks = nodes, median of %d" % (result["suite"], result["repeat"]))
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 6, 9, 15], help="lab sizes, each >= 3")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plot-only", metavar="FILE", help="only plot the JSON a run wrote (e.g. .build/bench-scale.json)")
    parser.add_argument("--png", default=PNG_OUT, help="where the plot goes (default docs/img/scale-curve.png)")
    opts = parser.parse_args()
    if opts.plot_only:
        with open(opts.plot_only, encoding="utf-8") as fh:
            plot(json.load(fh), opts.png)
        print("plotted %s to %s" % (opts.plot_only, opts.png))
        return
    if min(opts.nodes) < MANAGERS:
        parser.error("every lab size needs at least %d nodes (the managers)" % MANAGERS)

    work = tempfile.mkdtemp(prefix="ironclad-scale-")
    result = {"suite": SUITE, "repeat": opts.repeat, "forks": "nodes", "sizes": []}
    for count in opts.nodes:
        result["sizes"].append(measure(count, opts.repeat, work))

    print("ironclad.swarm scale curve: %s, %d managers + the rest workers, ANSIBLE_FORKS = nodes "
          "(Ansible's default of 5 would batch the hosts), median of %d" % (SUITE, MANAGERS, opts.repeat))
    header = ("nodes", "converge s", "per node", "re-run s", "per node", "audit s", "calls/host on re-run (min-max)")
    print("  %5s  %10s  %8s  %8s  %8s  %7s  %s" % header)
    for s in result["sizes"]:
        calls = s["rerun_calls"].values()
        print("  %5d  %10.1f  %8.2f  %8.1f  %8.2f  %7.1f  %d-%d" % (
            s["nodes"], s["converge_s"], s["converge_per_node_s"], s["rerun_s"], s["rerun_per_node_s"],
            s["audit_s"], min(calls), max(calls)))
    print("  audit goal of issue 12: 15 nodes under 15 s")
    os.makedirs(os.path.dirname(JSON_OUT), exist_ok=True)
    with open(JSON_OUT, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    plot(result, opts.png)
    print("  written: %s, %s" % (os.path.relpath(JSON_OUT, ROOT), os.path.relpath(opts.png, ROOT)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
