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
import shutil
import subprocess
import tempfile

from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALERTS = os.path.join(ROOT, "roles", "watch", "files", "ironclad-swarm-alerts.yml")
FIRING = 'group by (alertname) (ALERTS{alertstate="firing"})'


def input_series(instance, text, minutes):
    """promtool input_series for one node's metrics text: every sample, labelled instance and job as a scrape would
    be, held at its value for `minutes` one-minute steps."""
    series = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if math.isnan(sample.value) or math.isinf(sample.value) or sample.name.endswith("_created"):
                continue
            labels = dict(sample.labels, instance=instance, job="node")
            body = ",".join("%s=%s" % (k, json.dumps(v)) for k, v in sorted(labels.items()))
            value = "%d" % sample.value if sample.value == int(sample.value) else "%.6f" % sample.value
            series.append({"series": "%s{%s}" % (sample.name, body), "values": "%s+0x%d" % (value, minutes)})
    return series


def expect_firing(texts, expected, minutes=15, promtool=None):
    """(ok, output): promtool's verdict on whether exactly `expected` alerts fire after `minutes` of `texts`
    ({instance: metrics text})."""
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
