# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: the stand-in reports lab containers' addresses as the servers' public IPv4 addresses, so the
hcloud inventory plugin's output drives site.yml on the lab and the swarm forms; then a scale-in drains,
removes and deletes a worker. The test's only override: a second inventory source that reaches each host
through the local Docker Engine (ansible_connection) instead of SSH to its address."""

import json
import os
import subprocess

import platforms
import pytest
import yaml

from conftest import BIN, REPO, writes

SUITE = os.environ.get('HCLOUD_E2E_SUITE') or platforms.DEFAULT_SUITE
LAB = 'hc-e2e'
NAMES = ['%s-manager-1' % LAB, '%s-worker-1' % LAB, '%s-worker-2' % LAB]
DECL = {'hcloud_cluster_name': LAB, 'hcloud_managers': 1, 'hcloud_workers': 2, 'hcloud_admin_cidrs': ['198.51.100.7/32'],
        # the lab's kernel has no ESP: the audit reports that as high without failing the build (as make lab does)
        'audit_fail_on': 'none',
        'networks_overlay': [{'name': 'hc-app'}]}


def _docker(*args):
    return subprocess.run(['docker'] + list(args), capture_output=True, text=True, check=True, timeout=120).stdout


def _lab(state, tmp_path):
    extra = {'lab_name': LAB, 'lab_suite': SUITE, 'lab_state': state,
             'lab_nodes': [{'name': n, 'groups': []} for n in NAMES]}
    varfile = tmp_path / ('lab-%s.json' % state)
    varfile.write_text(json.dumps(extra))
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', os.path.join(REPO, 'tests', 'lab', 'nodes.yml'),
                           '-e', '@%s' % varfile], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('lab')
    _lab('present', tmp)
    addresses = {}
    for name in NAMES:
        info = json.loads(_docker('inspect', name))[0]
        addresses[name] = info['NetworkSettings']['Networks'][LAB]['IPAddress']
    yield addresses
    _lab('absent', tmp)


@pytest.fixture()
def override(tmp_path):
    """The test's connection override: the same host names, reached through the local Docker Engine."""
    path = tmp_path / 'lab-connection.yml'
    hosts = {name: {'ansible_host': name} for name in NAMES}
    path.write_text(yaml.safe_dump({'all': {'hosts': hosts, 'vars': {
        'ansible_connection': 'community.docker.docker', 'ansible_python_interpreter': '/usr/bin/python3'}}}))
    return str(path)


def _swarm_nodes():
    out = _docker('exec', NAMES[0], 'docker', 'node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}}')
    return sorted(tuple(line.split()) for line in out.splitlines())


def test_the_inventory_drives_site_yml_and_the_swarm_forms(api, run, lab, override, inventory):
    api.reset()
    # Servers are created managers first, then workers, in declaration order: each gets its container's address.
    api.set_ip_pool([lab[n] for n in NAMES])
    result = run('hcloud.yml', DECL, args=['-i', override])
    assert result.rc == 0, result.out[-6000:]
    # site.yml ran on the hosts the inventory plugin listed, through to the audit
    for play in ('Install and configure Docker Engine', 'Fence the swarm ports before any node joins',
                 'Form the swarm and correct drift', 'Declare the overlay networks, encrypted unless they say otherwise'):
        assert 'PLAY [%s]' % play in result.out
    for name in NAMES:
        assert result.recap(name)['failed'] == 0 and result.recap(name)['unreachable'] == 0
    listed = inventory(LAB)
    assert listed['swarm_managers']['hosts'] == [NAMES[0]]
    assert sorted(listed['swarm_workers']['hosts']) == NAMES[1:]
    for name in NAMES:
        assert listed['_meta']['hostvars'][name]['cluster_advertise_addr'] == lab[name]
    assert _swarm_nodes() == sorted((n, 'Ready', 'Active') for n in NAMES)
    # the swarm rules admit exactly the three lab addresses
    nodes_fw = [f for f in api.state()['firewalls'] if f['name'] == LAB + '-nodes'][0]
    want = sorted(lab.values(), key=lambda a: tuple(int(p) for p in a.split('.')))
    assert [r['source_ips'] for r in nodes_fw['rules'][1:]] == [[a + '/32' for a in want]] * 4
    # TCP 2377 from the same addresses, on the workers too: `docker node promote` would keep quorum here as well
    control = [f for f in api.state()['firewalls'] if f['name'] == LAB + '-managers'][0]
    assert [(r['protocol'], r['port'], r['source_ips']) for r in control['rules']] == [('tcp', '2377', [a + '/32' for a in want])]
    for server in api.state()['servers']:
        assert control['id'] in [f['id'] for f in server['public_net']['firewalls']], server['name']


def test_scale_in_drains_removes_then_deletes_the_worker(api, run, lab, override):
    gone = NAMES[2]
    server_id = [s['id'] for s in api.state()['servers'] if s['name'] == gone][0]
    api.clear_requests()
    result = run('hcloud.yml', dict(DECL, hcloud_workers=1, hcloud_remove_departed=True), args=['-i', override])
    assert result.rc == 0, result.out[-6000:]
    assert _swarm_nodes() == sorted((n, 'Ready', 'Active') for n in NAMES[:2])
    assert ('DELETE', '/v1/servers/%d' % server_id) in writes(api.requests())
    for fw in api.state()['firewalls']:
        for rule in fw['rules']:
            assert lab[gone] + '/32' not in rule['source_ips']
    # the departed node left the swarm before its server was deleted
    left = _docker('exec', gone, 'docker', 'info', '--format', '{{.Swarm.LocalNodeState}}').strip()
    assert left == 'inactive'


def test_teardown(api, run):
    result = run('hcloud_destroy.yml', {'hcloud_cluster_name': LAB, 'hcloud_confirm_destroy': LAB})
    assert result.rc == 0, result.out[-3000:]
    assert api.state()['servers'] == [] and api.state()['firewalls'] == []
