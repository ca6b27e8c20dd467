# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's text summary renders when a node could not be audited (it used to fail with
"object of type 'dict' has no attribute 'esp'" and print no report at all)."""

import json
import os
import subprocess
import sys

import pytest

PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATE = os.path.join(ROOT, 'roles', 'audit', 'templates', 'audit-summary.txt.j2')
HTML = os.path.join(ROOT, 'roles', 'audit', 'templates', 'audit-report.html.j2')

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason='ansible-playbook not next to this Python')


def render(tmp_path, report, template=TEMPLATE):
    playbook = tmp_path / 'render.yml'
    playbook.write_text(
        '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
        '    - ansible.builtin.copy:\n'
        '        content: "{{ lookup(\'ansible.builtin.template\', \'%s\') }}"\n'
        '        dest: "%s"\n' % (template, tmp_path / 'summary.txt'))
    (tmp_path / 'vars.json').write_text(json.dumps({'audit_report': report, 'audit_data_path_port': 4789,
                                                    'audit__generated': '2026-12-01 00:00:00 UTC'}))
    proc = subprocess.run([PLAYBOOK_BIN, '-i', 'localhost,', '-c', 'local', str(playbook), '-e', '@%s' % (tmp_path / 'vars.json'),
                           '-e', 'ansible_python_interpreter=%s' % sys.executable],
                          capture_output=True, text=True, timeout=300, check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return (tmp_path / 'summary.txt').read_text()


def test_a_node_that_was_not_audited_is_named_and_the_rest_still_reported(tmp_path):
    report = {
        'summary': {'high': 1, 'medium': 0, 'low': 0}, 'probe': 'off', 'hosts': ['m1', 'm2'], 'matrices': [],
        'kernels': {'m1': {'release': '6.12.117', 'esp': True, 'aes_gcm': False}, 'm2': {}},
        'findings': [{'severity': 'high', 'id': 'audit_failed', 'node': 'm2', 'peer': None, 'network': None,
                      'reason': 'The IPsec audit did not run on this host: host unreachable'}],
    }
    text = render(tmp_path, report)
    assert 'kernel m1: 6.12.117, ESP yes, AES-GCM NO' in text
    assert 'kernel m2: not audited (unreachable, or the audit failed on it' in text
    assert '[high] audit_failed m2: The IPsec audit did not run on this host: host unreachable' in text


def test_an_unknown_kernel_answer_reads_unknown(tmp_path):
    report = {'summary': {'high': 0, 'medium': 0, 'low': 0}, 'probe': 'off', 'hosts': ['m1'], 'matrices': [],
              'kernels': {'m1': {'release': '6.1', 'esp': None}}, 'findings': []}
    text = render(tmp_path, report)
    assert 'kernel m1: 6.1, ESP unknown, AES-GCM unknown' in text
    assert 'no findings' in text


def test_plain_networks_services_quorum_and_accepted_are_shown(tmp_path):
    """The summary and the HTML show what the swarm-wide judgement found on the recorded lab."""
    from ansible_collections.ironclad.swarm.plugins.module_utils.audit.rules import SwarmJudge
    from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.view import condense
    fixtures = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'swarm')
    with open(os.path.join(fixtures, 'docker-26.1-manager.json')) as handle:
        raw = json.load(handle)
    with open(os.path.join(fixtures, 'docker-26.1-nodes.json')) as handle:
        nodes = json.load(handle)
    view = condense(raw['info'], raw['swarm'], raw['nodes'], raw['networks'], raw['services'], raw['tasks'], raw['secrets'])
    hosts = [{'host': h, 'role': 'manager' if 'manager' in h else 'worker', 'names': [h], 'result': nodes[h]} for h in sorted(nodes)]
    judged = SwarmJudge(hosts, view, 'ironclad-lab-manager-1', None, [{'name': 'acc-enc'}, {'name': 'acc-enc2'}],
                        {'accept': ['autolock_off']}).run([])
    summary = dict((s, len([f for f in judged['findings'] if f['severity'] == s])) for s in ('high', 'medium', 'low'))
    report = {'summary': summary, 'probe': 'not run', 'hosts': sorted(nodes), 'kernels': {}, 'findings': judged['findings'],
              'accepted': judged['accepted'], 'network_table': judged['networks'], 'services': judged['services'],
              'swarm': judged['swarm'], 'matrices': [{'network': 'acc-enc', 'live': 'plain', 'rows': []}]}
    text = render(tmp_path, report)
    assert 'managers: 1 of 1 reachable, 1 needed: quorum holds (0 more can be lost); autolock NO' in text
    assert '  acc-enc: declared encrypted, live PLAIN;' in text
    assert '  acc-plain: declared not declared, live PLAIN;' in text
    assert 'network acc-enc -- PLAIN: not encrypted on the swarm' in text
    assert '1 accepted (audit_accept): autolock_off' in text
    assert 'db: ironclad-swarm-lab/probe:1 on ironclad-lab-worker-1, ironclad-lab-worker-2; networks acc-enc2; findings' in text
    html = render(tmp_path, report, HTML)
    assert 'Network acc-enc <span class="bad">PLAIN: not encrypted on the swarm</span>' in html
    assert '<td class="fail">PLAIN</td>' in html and 'Accepted (audit_accept)' in html
    assert 'quorum\n<span class="ok">holds</span>' in html
