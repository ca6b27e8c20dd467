# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles that read networks_overlay, run through ansible-playbook on localhost: they read it through the
overlay_declaration filter, so they agree with it and with one another.

- the networks role's validate.yml fails with the filter's errors, joined, and passes the lab's declarations;
- the firewall role drops unencrypted VXLAN (auto) only when the filter finds no plain network and an ingress entry;
- the watch role writes each declared network's resolved encryption into the agent's settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import declaration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(REPO, '.build', 'collections')
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason='ansible-playbook not next to this Python')

CHECK = 'ironclad.swarm.networks : Validate | Check the declarations as a whole'
PLAY = """
- name: The roles that read networks_overlay
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Validate the declarations
      ansible.builtin.include_role:
        name: ironclad.swarm.networks
        tasks_from: validate
        apply:
          ignore_errors: true

    - name: Load the firewall role's internal values
      ansible.builtin.include_vars:
        file: {repo}/roles/firewall/vars/main.yml

    - name: Load the watch role's defaults
      ansible.builtin.include_vars:
        file: {repo}/roles/watch/defaults/main.yml

    - name: Show what the firewall and the watch role make of them
      ansible.builtin.debug:
        msg:
          plain: "{{{{ firewall__plain_networks }}}}"
          drop: "{{{{ firewall__drop_vxlan }}}}"
          reason: "{{{{ firewall__vxlan_reason }}}}"
          agent: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/watch/templates/agent.json.j2') | from_json }}}}"
"""


def run(tmp_path, networks_overlay):
    playbook = tmp_path / 'play.yml'
    playbook.write_text(PLAY.format(repo=REPO))
    extra = {'networks_overlay': networks_overlay, 'firewall_drop_unencrypted_vxlan': 'auto',
             'ansible_python_interpreter': sys.executable}
    (tmp_path / 'vars.json').write_text(json.dumps(extra))
    (tmp_path / 'hosts').write_text('[swarm_managers]\nlocalhost ansible_connection=local\n')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0')
    proc = subprocess.run([PLAYBOOK_BIN, '-i', str(tmp_path / 'hosts'), str(playbook), '-e', '@%s' % (tmp_path / 'vars.json')],
                          env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('no JSON from ansible-playbook (rc %d):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))
    tasks = dict((task['task']['name'], task['hosts']['localhost']) for task in report['plays'][0]['tasks'])
    return tasks


def test_the_lab_declarations(tmp_path):
    networks = [{'name': 'vm-enc', 'ipam': [{'subnet': '172.29.10.0/24'}]},
                {'name': 'vm-plain', 'encrypted': False, 'ipam': [{'subnet': '172.29.20.0/24'}]},
                {'name': 'gone', 'state': 'absent', 'encrypted': False}]
    tasks = run(tmp_path, networks)
    assert tasks[CHECK].get('failed') is not True
    shown = tasks['Show what the firewall and the watch role make of them']['msg']
    assert shown['plain'] == ['vm-plain', "ingress (Docker's default, not declared in networks_overlay)"]
    assert shown['drop'] is False
    assert shown['reason'] == ("Unencrypted VXLAN is not dropped, because these overlay networks are plain: vm-plain, ingress "
                               "(Docker's default, not declared in networks_overlay). Encrypt them (and declare an "
                               "encrypted ingress) to turn it on.")
    assert shown['agent']['declared_networks'] == [{'name': 'vm-enc', 'state': 'present', 'encrypted': True},
                                                   {'name': 'vm-plain', 'state': 'present', 'encrypted': False},
                                                   {'name': 'gone', 'state': 'absent', 'encrypted': False}]


def test_every_network_encrypted_and_an_ingress_declared(tmp_path):
    tasks = run(tmp_path, [{'name': 'backend'}, {'name': 'ingress', 'ingress': True}])
    shown = tasks['Show what the firewall and the watch role make of them']['msg']
    assert (shown['plain'], shown['drop']) == ([], True)
    assert shown['reason'] == 'Unencrypted VXLAN is dropped: every overlay network in networks_overlay, ingress included, is encrypted.'


def test_validate_fails_with_the_filters_errors(tmp_path):
    networks = [{'name': 'a', 'driver_options': {'com.docker.network.internal': 'true'}},
                {'name': 'a', 'ingress': True, 'attachable': True}, {'name': 'c', 'ingress': True, 'mtu': 10}]
    tasks = run(tmp_path, networks)
    check = tasks[CHECK]
    assert check['failed'] is True
    assert check['msg'] == ' '.join(declaration.resolve(networks)['errors'])
    assert check['msg'].startswith("networks_overlay: the name 'a' is declared more than once; give each network one entry. "
                                   'networks_overlay: a, c are all marked ingress; a swarm has one ingress network. ')
    assert 'networks_overlay[0] (a): driver_options.com.docker.network.internal belongs in the internal field of the entry.' \
        in check['msg']
