# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""150 nodes, beyond what one firewall admits: the peer rules spread over CLUSTER-nodes and CLUSTER-peers-2, every
rule within Hetzner's limits, every server behind every peer firewall, and a second run that changes nothing.
No swarm is built. The stand-in finishes every action on its first read, so the client never sleeps, and the
150 servers are not torn down (the stand-in goes with the module): a small cluster shows the teardown instead."""

import ipaddress

import pytest

from conftest import writes
from standin import StandIn

CLUSTER = 'big'
DECL = {'hcloud_cluster_name': CLUSTER, 'hcloud_managers': 3, 'hcloud_workers': 147,
        'hcloud_admin_cidrs': ['198.51.100.7/32'], 'hcloud_build_swarm': False}
SWARM_KINDS = [('tcp', '7946'), ('udp', '7946'), ('udp', '4789'), ('esp', None)]


@pytest.fixture(scope='module')
def api():
    with StandIn(action_polls=0) as standin:
        yield standin


def _firewalls(api, prefix='big-'):
    return {f['name']: f for f in api.state()['firewalls'] if f['name'].startswith(prefix)}


def _servers(api, prefix):
    return [s for s in api.state()['servers'] if s['name'].startswith(prefix)]


def test_a_hundred_and_fifty_nodes(api, run, inventory):
    result = run('hcloud_provision.yml', DECL)
    assert result.rc == 0, result.out[-4000:]
    assert 'The Cloud Firewalls of this declaration admit at most 499 servers' in result.out
    state = api.state()
    assert len(state['servers']) == 150
    fws = _firewalls(api)
    assert sorted(fws) == ['big-managers', 'big-nodes', 'big-peers-2']
    by_id = sorted(state['servers'], key=lambda s: s['id'])
    everyone = sorted(ipaddress.ip_network(s['public_net']['ipv4']['ip'] + '/32') for s in by_id)
    want_all = [str(n) for n in everyone]
    # Hetzner's limits on every firewall
    for fw in fws.values():
        assert len(fw['rules']) <= 50, fw['name']
        assert sum(max(1, len(r['source_ips'])) for r in fw['rules']) <= 500, fw['name']
        assert all(len(r['source_ips']) <= 100 for r in fw['rules']), fw['name']
    # every swarm rule: each kind admits, across big-nodes and big-peers-2, every node exactly once, sorted in each rule;
    # big-nodes holds the first 124 servers created, big-peers-2 the other 26
    held = {}
    for name in ('big-nodes', 'big-peers-2'):
        rules = [r for r in fws[name]['rules'] if r['port'] != '22']
        for kind in SWARM_KINDS:
            parts = [r['source_ips'] for r in rules if (r['protocol'], r['port']) == kind]
            assert parts, (name, kind)
            for part in parts:
                assert part == [str(n) for n in sorted(ipaddress.ip_network(c) for c in part)]
            held.setdefault(kind, []).append([c for part in parts for c in part])
    for kind, (first, second) in held.items():
        assert len(first) == 124 and len(second) == 26, kind
        assert sorted(first + second, key=ipaddress.ip_network) == want_all, kind
        assert set(first) == {s['public_net']['ipv4']['ip'] + '/32' for s in by_id[:124]}
    ssh = [r for r in fws['big-nodes']['rules'] if r['port'] == '22']
    assert [r['source_ips'] for r in ssh] == [['198.51.100.7/32']]
    assert [(r['protocol'], r['port']) for r in fws['big-managers']['rules']] == [('tcp', '2377')] * 2
    assert [c for r in fws['big-managers']['rules'] for c in r['source_ips']] == want_all
    # every server, the 147 workers too, is behind big-nodes, big-peers-2 and big-managers (TCP 2377)
    ids = {name: fw['id'] for name, fw in fws.items()}
    for server in state['servers']:
        got = sorted(f['id'] for f in server['public_net']['firewalls'])
        assert got == sorted([ids['big-nodes'], ids['big-peers-2'], ids['big-managers']]), server['name']
    # the inventory plugin pages through all 150 (the API answers 50 per page)
    listed = inventory(CLUSTER)
    assert len(listed['swarm_workers']['hosts']) == 147 and len(listed['swarm_managers']['hosts']) == 3
    assert any('page=3' in '&'.join('%s=%s' % (k, v[-1]) for k, v in r['query'].items())
               for r in api.requests() if r['path'] == '/v1/servers'), 'never asked for a third page'


def test_a_second_run_changes_nothing(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', DECL)
    assert result.rc == 0, result.out[-3000:]
    assert result.recap()['changed'] == 0
    assert writes(api.requests()) == []


def test_more_than_the_limit_is_refused_by_name(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', dict(DECL, hcloud_workers=250, hcloud_extra_firewalls=['a', 'b']))
    assert result.rc != 0
    assert 'declare 253 servers, but this declaration admits at most 249' in result.out
    assert writes(api.requests()) == []


def test_a_peer_firewall_no_longer_needed_is_deleted(api, run):
    """CLUSTER-nodes made nearly full by extra rules (488 sources and 2 admin CIDRs leave room for 2 nodes): 4 nodes
    need big-peers-2; after a scale-in to 2 they fit in CLUSTER-nodes again and big-peers-2 is deleted."""
    extra = [{'protocol': 'tcp', 'port': str(8000 + i), 'description': 'published %d' % i,
              'source_ips': ['10.%d.%d.0/24' % (i, j) for j in range(100 if i < 4 else 88)]} for i in range(5)]
    tight = dict(DECL, hcloud_cluster_name='tight', hcloud_managers=1, hcloud_workers=3, hcloud_firewall_extra_rules=extra,
                 hcloud_admin_cidrs=['198.51.100.7/32', '192.0.2.0/28'])
    result = run('hcloud_provision.yml', tight)
    assert result.rc == 0, result.out[-4000:]
    fws = _firewalls(api, 'tight-')
    assert sorted(fws) == ['tight-managers', 'tight-nodes', 'tight-peers-2']
    ips = {s['name']: s['public_net']['ipv4']['ip'] + '/32' for s in _servers(api, 'tight-')}
    esp = {name: [c for r in fws[name]['rules'] if r['protocol'] == 'esp' for c in r['source_ips']]
           for name in ('tight-nodes', 'tight-peers-2')}
    assert sorted(esp['tight-nodes'] + esp['tight-peers-2']) == sorted(ips.values())
    assert len(esp['tight-nodes']) == 2 and len(esp['tight-peers-2']) == 2
    result = run('hcloud_provision.yml', dict(tight, hcloud_workers=1, hcloud_remove_departed=True))
    assert result.rc == 0, result.out[-4000:]
    fws = _firewalls(api, 'tight-')
    assert sorted(fws) == ['tight-managers', 'tight-nodes']
    left = sorted(s['public_net']['ipv4']['ip'] + '/32' for s in _servers(api, 'tight-'))
    assert len(left) == 2
    assert sorted(c for r in fws['tight-nodes']['rules'] if r['protocol'] == 'esp' for c in r['source_ips']) == left
    for server in _servers(api, 'tight-'):
        assert sorted(f['id'] for f in server['public_net']['firewalls']) == sorted(f['id'] for f in fws.values()), server['name']
    # out again: tight-peers-2 comes back; the teardown deletes it with the others
    result = run('hcloud_provision.yml', tight)
    assert result.rc == 0, result.out[-4000:]
    assert sorted(_firewalls(api, 'tight-')) == ['tight-managers', 'tight-nodes', 'tight-peers-2']
    result = run('hcloud_destroy.yml', {'hcloud_cluster_name': 'tight', 'hcloud_confirm_destroy': 'tight'})
    assert result.rc == 0, result.out[-3000:]
    state = api.state()
    assert not [s for s in state['servers'] if s['name'].startswith('tight-')]
    assert not [f for f in state['firewalls'] if f['name'].startswith('tight-')]
    assert not [g for g in state['placement_groups'] if g['name'].startswith('tight-')]
