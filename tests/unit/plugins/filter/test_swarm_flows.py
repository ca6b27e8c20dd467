# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The swarm_ports and swarm_data_path_port_errors filters: the roles' validation with the table of flows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.ironclad.swarm.plugins.filter.swarm_flows import swarm_data_path_port_errors, swarm_ports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def test_swarm_ports():
    assert swarm_ports(4789) == [2377, 4789, 7946]
    assert swarm_ports('4800') == [2377, 4800, 7946]
    assert swarm_ports('nonsense') == [2377, 7946]


@pytest.mark.parametrize('port, errors', [
    (4789, []), ('4800', []),
    (7946, ['cluster_data_path_port: 7946 is a swarm port itself; keep the default 4789']),
    (80, ['cluster_data_path_port: 80 is out of range: use 1024 to 49151']),
])
def test_swarm_data_path_port_errors(port, errors):
    assert swarm_data_path_port_errors(port, 'cluster_data_path_port') == errors


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason='ansible-playbook not next to this Python')
def test_the_filters_load_in_ansible(tmp_path):
    """The filters import the table from module_utils when Ansible loads them, as the roles' validate.yml do."""
    (tmp_path / 'play.yml').write_text('''
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg:
          ports: "{{ '4800' | ironclad.swarm.swarm_ports }}"
          errors: "{{ 2377 | ironclad.swarm.swarm_data_path_port_errors('firewall_data_path_port') }}"
''')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0')
    proc = subprocess.run([PLAYBOOK_BIN, '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
                           str(tmp_path / 'play.yml')], env=env, cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    msg = json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']['msg']
    assert msg == {'ports': [2377, 4800, 7946],
                   'errors': ['firewall_data_path_port: 2377 is a swarm port itself; keep the default 4789']}
