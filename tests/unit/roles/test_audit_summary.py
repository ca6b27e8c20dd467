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
TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                        'roles', 'audit', 'templates', 'audit-summary.txt.j2')

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason='ansible-playbook not next to this Python')


def render(tmp_path, report):
    playbook = tmp_path / 'render.yml'
    playbook.write_text(
        '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
        '    - ansible.builtin.copy:\n'
        '        content: "{{ lookup(\'ansible.builtin.template\', \'%s\') }}"\n'
        '        dest: "%s"\n' % (TEMPLATE, tmp_path / 'summary.txt'))
    (tmp_path / 'vars.json').write_text(json.dumps({'audit_report': report}))
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
