"""Which of the collection's alerts real metrics raise: the node agent's textfiles (one per node, as node_exporter
serves them), held constant for some minutes, evaluated by Debian's promtool with
roles/watch/files/ironclad-swarm-alerts.yml.

    ok, output = expect_firing({"vm2": text2, "vm3": text3}, ["IroncladSwarmSpiMismatch"])

ok is True when exactly the expected alerts are firing at the end (their `for:` has passed); output is promtool's,
which names the alerts it got when they differ. promtool's unit-test time starts at 0 (epoch), so the agents'
real timestamps lie in its future: every agent counts as fresh, and counters held constant do not rise. Used by
tests/unit/test_alert_rules.py (on metrics built from the VM lab's recordings) and by the VM scenario (on the
files the agents wrote there).
"""

import json
import math
import os
import re
import shutil
import subprocess
import tempfile

from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALERTS = os.path.join(ROOT, "roles", "watch", "files", "ironclad-swarm-alerts.yml")
FIRING = 'group by (alertname) (ALERTS{alertstate="firing"})'


def samples(text):
    """A metrics text (the agent's file, node_exporter's answer) -> {name: [(labels, value)]}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _number(value):
    return "%d" % value if value == int(value) else "%.6f" % value


def input_series(instance, text, minutes):
    """promtool input_series for one node's metrics: every sample, labelled instance and job as a scrape would be,
    for `minutes` one-minute steps. text is one metrics text, held at its values, or two taken one after the other
    (before, after): each sample then moves evenly from its value before to its value after, so that counters that
    rose between the two readings rise in the test too (a sample absent before starts at its value after)."""
    before, after = (text, text) if isinstance(text, str) else text
    earlier = dict(((name, tuple(sorted(labels.items()))), value)
                   for name, pairs in samples(before).items() for labels, value in pairs)
    series = []
    for name, pairs in samples(after).items():
        for sample_labels, value in pairs:
            if math.isnan(value) or math.isinf(value) or name.endswith("_created"):
                continue
            start = earlier.get((name, tuple(sorted(sample_labels.items()))), value)
            labels = dict(sample_labels, instance=instance, job="node")
            body = ",".join("%s=%s" % (k, json.dumps(v)) for k, v in sorted(labels.items()))
            step = (value - start) / float(minutes)
            series.append({"series": "%s{%s}" % (name, body),
                           "values": "%s%s%sx%d" % (_number(start), "+" if step >= 0 else "", _number(step), minutes)})
    return series


def expect_firing(texts, expected, minutes=15, promtool=None):
    """(ok, output): promtool's verdict on whether exactly `expected` alerts fire after `minutes` of `texts`
    ({instance: metrics text, or (text before, text after)})."""
    promtool = promtool or shutil.which("promtool") or "promtool"
    test = {
        "rule_files": [ALERTS],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [s for instance in sorted(texts) for s in input_series(instance, texts[instance], minutes)],
            "promql_expr_test": [{
                "expr": FIRING,
                "eval_time": "%dm" % minutes,
                "exp_samples": [{"labels": '{alertname="%s"}' % name, "value": 1} for name in sorted(set(expected))],
            }],
        }],
    }
    with tempfile.TemporaryDirectory(prefix="ironclad-alerts-") as tmp:
        path = os.path.join(tmp, "real-metrics-test.yml")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(test, handle, indent=1)  # JSON is YAML
        done = subprocess.run([promtool, "test", "rules", path], capture_output=True, text=True, check=False,
                              timeout=300)
    return done.returncode == 0, done.stdout + done.stderr


def firing(texts, minutes=15, promtool=None):
    """The set of alerts that fire after `minutes` of `texts` (as for expect_firing), read from promtool's
    complaint that it expected none."""
    ok, said = expect_firing(texts, [], minutes, promtool)
    if ok:
        return set()
    got = said.split("got:", 1)
    if len(got) != 2:
        raise AssertionError("promtool failed without naming alerts: %s" % said[-2000:])
    return set(re.findall(r'alertname="([^"]+)"', got[1]))
