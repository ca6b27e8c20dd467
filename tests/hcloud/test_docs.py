# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/hetzner.md followed literally: the walk-through's commands, taken from the page's code blocks, run in
order by bash against the stand-in, from a directory laid out like the repository (.venv, playbooks, inventory).
The one command left out builds the swarm on the servers over SSH, which the stand-in's servers do not have
(test_e2e.py covers it on the lab); the test checks that it is in the page as the walk-through gives it."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from standin import StandIn

DOC = os.path.join(REPO, 'docs', 'hetzner.md')
SWARM_STEP = '.venv/bin/ansible-playbook -i inventory/prod.hcloud.yml playbooks/hcloud.yml -e @cluster.yml'
SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ4a2V5Zm9ydGhlc3RhbmRpbnNtb2tldGVzdDAx me@laptop'


def walk_through():
    """The walk-through's code blocks, in order, as (language, text), with the list indentation removed."""
    with open(DOC) as handle:
        text = handle.read()
    section = text.split('## Walk-through', 1)[1].split('\n## ', 1)[0]
    blocks = []
    for match in re.finditer(r'^( *)```(\w+)\n(.*?)^\1```', section, re.M | re.S):
        indent = len(match.group(1))
        body = '\n'.join(line[indent:] for line in match.group(3).splitlines())
        blocks.append((match.group(2), body.strip() + '\n'))
    return blocks


@pytest.fixture()
def fresh_api():
    # Actions finish on their first read: the client never sleeps, and this test stays short.
    with StandIn(action_polls=0) as standin:
        yield standin


def test_the_walk_through_as_written_ends_with_the_swarm_groups(fresh_api, tmp_path):
    blocks = walk_through()
    shell = [body for lang, body in blocks if lang == 'sh']
    declarations = [body for lang, body in blocks if lang == 'yaml']
    assert len(declarations) == 1, 'the walk-through declares the cluster in one yaml block (cluster.yml)'
    assert [b for b in shell if b.strip() == SWARM_STEP], 'the swarm-building step is not in the walk-through as written'
    # The user's checkout: the page's commands are run from the repository's top directory.
    work = tmp_path / 'checkout'
    work.mkdir()
    os.symlink(sys.prefix, str(work / '.venv'))
    os.symlink(os.path.join(REPO, 'playbooks'), str(work / 'playbooks'))
    shutil.copytree(os.path.join(REPO, 'inventory'), str(work / 'inventory'))
    (work / 'cluster.yml').write_text(declarations[0])
    # What the walk-through takes as given: the project has the SSH key the declaration names.
    fresh_api.store.ssh_keys[1] = {'id': 1, 'name': 'my-laptop', 'fingerprint': '00', 'public_key': SSH_KEY,
                                   'labels': {}, 'created': '2026-01-01T00:00:00+00:00'}
    script = ['set -eu']
    for body in shell:
        if body.strip() == SWARM_STEP:
            script.append('echo "SKIPPED: the swarm step"')
            continue
        script += ['echo "RUN: %s"' % body.strip().splitlines()[0].replace('"', "'"), body]
    env = dict(os.environ, HCLOUD_ENDPOINT=fresh_api.url, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    env.pop('HCLOUD_TOKEN', None)
    # step 1 reads the token from the terminal: here from stdin
    proc = subprocess.run(['bash', '-c', '\n'.join(script)], cwd=str(work), env=env, input=fresh_api.token + '\n',
                          capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert fresh_api.token not in out, 'the token was printed'
    assert 'SKIPPED: the swarm step' in out
    # step 5's graph, before step 8 tears the cluster down
    graph = out.split('RUN: .venv/bin/ansible-inventory', 1)[1].split('RUN: ', 1)[0]
    groups = {}
    current = None
    for line in graph.splitlines():
        group = re.match(r'^\s*\|--@(\w+):$', line)
        host = re.match(r'^\s*\|\s*\|--([\w.-]+)$', line)
        if group:
            current = groups.setdefault(group.group(1), [])
        elif host and current is not None:
            current.append(host.group(1))
    assert sorted(groups.get('swarm_managers', [])) == ['prod-manager-1', 'prod-manager-2', 'prod-manager-3'], graph
    assert sorted(groups.get('swarm_workers', [])) == ['prod-worker-1', 'prod-worker-2'], graph
    # step 8 removed everything
    state = fresh_api.state()
    assert state['servers'] == [] and state['firewalls'] == [] and state['placement_groups'] == []
    assert 'prod.hcloud.yml' in os.listdir(str(work / 'inventory'))
