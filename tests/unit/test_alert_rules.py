# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The watch role's Prometheus alert rules (roles/watch/files/ironclad-swarm-alerts.yml).

- `promtool check rules` accepts the file;
- `promtool test rules tests/prometheus/alerts-test.yml` passes: every alert fires on a faulty lab
  and stays silent on a healthy one;
- every alert has a severity, a summary and a description, and the promtool tests hold, for each
  alert, a case where it fires and a case where it must not.

promtool comes from Debian's `prometheus` package; tests/lab/host-setup.sh installs it, and
`make test` runs that (through the sanity stage) before this one. Without promtool the promtool
tests are skipped on a workstation, and fail under CI (CI set in the environment).
"""

from __future__ import annotations

import os
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join('roles', 'watch', 'files', 'ironclad-swarm-alerts.yml')
RULE_TESTS = os.path.join('tests', 'prometheus', 'alerts-test.yml')


def run_promtool(promtool, *args):
    proc = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    output = '$ promtool %s (exit %d)\n%s%s' % (' '.join(args), proc.returncode, proc.stdout, proc.stderr)
    print(output)
    assert proc.returncode == 0, output
    return output


def load(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def alerts():
    return [rule for group in load(RULES)['groups'] for rule in group['rules'] if 'alert' in rule]


def test_promtool_check_rules(promtool):
    run_promtool(promtool, 'check', 'rules', RULES)


def test_promtool_test_rules(promtool):
    run_promtool(promtool, 'test', 'rules', RULE_TESTS)


def test_every_alert_says_how_bad_and_what_to_do():
    names = [rule['alert'] for rule in alerts()]
    assert len(names) == len(set(names)), 'an alert name is used twice: %s' % names
    for rule in alerts():
        assert rule.get('labels', {}).get('severity') in ('critical', 'warning'), rule['alert']
        annotations = rule.get('annotations', {})
        assert annotations.get('summary'), rule['alert']
        assert '$labels.' in annotations.get('description', ''), rule['alert']


def test_every_alert_has_a_firing_and_a_silent_case():
    firing, silent = set(), set()
    for case in load(RULE_TESTS)['tests']:
        for check in case.get('alert_rule_test', []):
            (firing if check.get('exp_alerts') else silent).add(check['alertname'])
    names = {rule['alert'] for rule in alerts()}
    assert not names - firing, 'no test where these alerts fire: %s' % sorted(names - firing)
    assert not names - silent, 'no test where these alerts stay silent: %s' % sorted(names - silent)
    assert not (firing | silent) - names, 'tests of alerts that do not exist: %s' % sorted((firing | silent) - names)
