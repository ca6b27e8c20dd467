# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the real playbooks, modules and inventory plugin against the stand-in Hetzner Cloud API."""

import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
# molecule/shared/platforms.py: the releases the lab builds (test_e2e.py's default one).
sys.path.insert(0, os.path.join(REPO, 'molecule', 'shared'))

from standin import StandIn  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
INVENTORY = os.path.join(REPO, 'inventory', 'hcloud.yml')
WRITES = ('POST', 'PUT', 'DELETE')
# make sets these; a bare pytest run finds the collection through `make collection`'s link too.
os.environ.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO, '.build', 'collections'))
os.environ.setdefault('ANSIBLE_HOME', os.path.join(REPO, '.build', 'ansible-home'))


class Run(object):
    """One ansible-playbook or ansible-inventory run: its output, exit code and localhost's recap."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr

    def recap(self, host='localhost'):
        found = re.search(r'^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(host),
                          self.out, re.M)
        assert found, self.out[-3000:]
        return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, found.groups())))


@pytest.fixture(scope='module')
def api():
    with StandIn(action_polls=1) as standin:
        yield standin


def inventory_for(cluster, directory):
    """What a user does with the template: a copy whose label selector names the cluster."""
    with open(INVENTORY) as template:
        text = template.read()
    assert 'label_selector: ironclad.swarm/cluster=example\n' in text
    path = os.path.join(str(directory), '%s.hcloud.yml' % cluster)
    with open(path, 'w') as copy:
        copy.write(text.replace('ironclad.swarm/cluster=example', 'ironclad.swarm/cluster=%s' % cluster))
    return path


@pytest.fixture()
def run(api, tmp_path):
    """run(playbook, vars, token=..., args=[...]): a playbook against the stand-in, with the cluster's inventory."""

    def _run(playbook, extra, token=None, args=(), env_extra=None):
        inventory = inventory_for(extra.get('hcloud_cluster_name', 'none'), tmp_path)
        varfile = tmp_path / ('vars-%d.json' % len(list(tmp_path.iterdir())))
        varfile.write_text(json.dumps(extra))
        env = dict(os.environ, HCLOUD_ENDPOINT=api.url, HCLOUD_TOKEN=api.token if token is None else token,
                   ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_CALLBACK_RESULT_FORMAT='json')
        env.update(env_extra or {})
        argv = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, os.path.join(REPO, 'playbooks', playbook),
                '-e', '@%s' % varfile] + list(args)
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
        return Run(proc)

    return _run


@pytest.fixture()
def inventory(api, tmp_path):
    """inventory(cluster): the hcloud inventory plugin's --list output for that cluster."""

    def _inventory(cluster):
        env = dict(os.environ, HCLOUD_ENDPOINT=api.url, HCLOUD_TOKEN=api.token)
        proc = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', inventory_for(cluster, tmp_path), '--list'],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True)
        return unsafe(json.loads(proc.stdout))

    return _inventory


def writes(requests):
    """The requests that change something, as (method, path)."""
    return [(r['method'], r['path']) for r in requests if r['method'] in WRITES]


def module_calls(requests):
    """The requests the hetzner.hcloud modules sent (the inventory plugin reads the API on its own when a
    playbook starts and on meta: refresh_inventory)."""
    return [r for r in requests if 'ansible-inventory' not in r.get('user_agent', '')]


def unsafe(value):
    """ansible-inventory --list marks template-unsafe strings as {"__ansible_unsafe": ...}: the plain value."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return {k: unsafe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsafe(v) for v in value]
    return value
