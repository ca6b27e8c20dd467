"""Soak: a real Prometheus scrapes every lab node's node_exporter and evaluates the collection's alert rules
while services churn; at the end no alert may hold but those the lab truthfully deserves.

    python tests/watch/soak.py --nodes LAB-manager-1 LAB-worker-1 LAB-worker-2 --seconds 120 \
        --allow IroncladSwarmKernelCannotEncrypt

The nodes are the lab's containers (their node_exporter on port 9100, with the agent's textfile). Prometheus
(Debian's package, on this machine) listens on 127.0.0.1 only, with its data in a temporary directory, and
scrapes and evaluates every 5 s. The churn, on the first node (a manager): a global service on the lab's
networks is created, updated and scaled back and forth. The last line is the result as JSON; the exit code
is 1 when an alert outside --allow fired or was pending, or a node was not scraped, or none of --expect held.
`make soak` runs it for 10 minutes on `make lab`'s lab; molecule's default scenario for 2 minutes.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALERTS = os.path.join(ROOT, "roles", "watch", "files", "ironclad-swarm-alerts.yml")
IMAGE = "ironclad-swarm-lab/probe:1"
SERVICE = "soak-churn"
QUIET_S = 20  # before the soak's clock starts: no alert outside --allow for this long


def address(node):
    out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", node],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)["data"]["result"]


def docker(node, *argv):
    return subprocess.run(["docker", "exec", node, "docker"] + list(argv), capture_output=True, text=True,
                          check=False, timeout=120)


def churn(manager, networks, step):
    """One step of service churn: create, update, scale, remove, in turn."""
    nets = []
    for name in networks:
        nets += ["--network", name]
    phase = step % 4
    if phase == 0:
        docker(manager, "service", "rm", SERVICE)
        docker(manager, "service", "create", "-d", "--no-resolve-image", "--name", SERVICE, "--replicas", "3",
               "--endpoint-mode", "dnsrr", "--user", "1000", *nets, IMAGE, "sleep", "100000")
    elif phase == 1:
        docker(manager, "service", "update", "-d", "--force", SERVICE)
    elif phase == 2:
        docker(manager, "service", "scale", "-d", "%s=1" % SERVICE)
    else:
        docker(manager, "service", "scale", "-d", "%s=3" % SERVICE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", nargs="+", required=True, help="the lab's node containers, a manager first")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--networks", nargs="*", default=[], help="networks the churned service attaches to")
    parser.add_argument("--allow", nargs="*", default=[], help="alert names the lab truthfully deserves")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    opts = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="ironclad-soak-")
    port = free_port()
    targets = dict((n, "%s:9100" % address(n)) for n in opts.nodes)
    config = {"global": {"scrape_interval": "5s", "evaluation_interval": "5s", "scrape_timeout": "4s"},
              "rule_files": [ALERTS],
              "scrape_configs": [{"job_name": "node", "static_configs": [
                  {"targets": [t], "labels": {"node": n}} for n, t in sorted(targets.items())]}]}
    with open(os.path.join(work, "prometheus.yml"), "w") as handle:
        json.dump(config, handle)  # JSON is YAML
    server = subprocess.Popen([opts.prometheus, "--config.file=%s" % os.path.join(work, "prometheus.yml"),
                               "--storage.tsdb.path=%s" % os.path.join(work, "data"),
                               "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                              stdout=open(os.path.join(work, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
    seen, result, started_at = set(), {}, time.time()
    journal_from = started_at  # the journal printed on failure covers the settling too
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("prometheus did not become ready; see %s" % os.path.join(work, "prometheus.log"))
        # Every node's agent fresh before the clock starts: a node that was just restarted (molecule's previous
        # test stops one) keeps its old metrics file until its agent's first run after boot.
        fresh = "time() - ironclad_swarm_agent_last_success_timestamp_seconds < 2 * ironclad_swarm_agent_interval_seconds"
        settle = time.monotonic()
        deadline = settle + 180
        while len(query(port, fresh)) < len(targets) and time.monotonic() < deadline:
            time.sleep(2)
        # And the lab healthy: a node restarted just before (its engine still starting) makes its agent report the
        # engine down, truthfully, and Prometheus holds that alert pending. The soak is about a healthy lab under
        # churn, so its clock starts once no alert outside --allow is pending or firing; one that never clears
        # (within the same 180 s) is then seen by the soak and fails it.
        # Quiet for QUIET_S on end: a scrape and a rule evaluation (5 s each) lie between an agent's run and its
        # alert, and a node's first run after boot can wait out the engine's timeout (30 s) and then say so.
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_S:
            if [a for a in query(port, "ALERTS") if a["metric"]["alertname"] not in opts.allow]:
                quiet_since = time.monotonic()
            time.sleep(1)
        settled_s = round(time.monotonic() - settle, 1)
        started_at = time.time()
        start = time.monotonic()
        step = 0
        while time.monotonic() - start < opts.seconds:
            churn(opts.nodes[0], opts.networks, step)
            step += 1
            for dummy in range(3):
                time.sleep(5)
                for alert in query(port, "ALERTS"):
                    labels = alert["metric"]
                    seen.add((labels["alertname"], labels.get("alertstate"), labels.get("node", "")))
        up = dict((r["metric"]["node"], r["value"][1]) for r in query(port, 'up{job="node"}'))
        agents = dict((r["metric"]["node"], r["value"][1])
                      for r in query(port, "time() - ironclad_swarm_agent_last_success_timestamp_seconds"))
        names = sorted(set(a[0] for a in seen))
        result = {"seconds": opts.seconds, "settled_s": settled_s, "churn_steps": step, "nodes": sorted(targets),
                  "scraped": sorted(n for n, v in up.items() if v == "1"),
                  "agent_age_s": dict((n, round(float(v), 1)) for n, v in agents.items()),
                  "alerts_seen": [list(a) for a in sorted(seen)], "unexpected": [n for n in names if n not in opts.allow]}
    finally:
        docker(opts.nodes[0], "service", "rm", SERVICE)
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    bad = result["unexpected"] or sorted(result["scraped"]) != sorted(targets) or len(result["agent_age_s"]) != len(targets)
    if bad:
        # What the agents said while it ran: every finding that appeared or cleared, every failed run.
        for node in opts.nodes:
            said = subprocess.run(["docker", "exec", node, "journalctl", "-u", "ironclad-swarm-agent.service", "-o",
                                   "short-precise", "--no-pager", "--since", "@%d" % int(journal_from)],
                                  capture_output=True, text=True, check=False).stdout
            print("soak: the agent's journal on %s since Prometheus started:\n%s" % (node, said[-12000:]))
    print("soak: %(seconds)ds after %(settled_s)s s to settle, %(churn_steps)d churn steps, scraped %(scraped)s, "
          "agent age %(agent_age_s)s" % result)
    print("soak: alerts seen (name, state, node): %s; outside --allow: %s" % (result["alerts_seen"], result["unexpected"]))
    print(json.dumps(result))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
