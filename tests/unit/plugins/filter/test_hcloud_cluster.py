# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hcloud role's decisions: validation, Hetzner's limits, the plan and the firewall rules."""

import pytest

from ansible_collections.ironclad.swarm.plugins.filter.hcloud_cluster import (
    hcloud_labels,
    hcloud_missing,
    hcloud_node_limit,
    hcloud_plan,
    hcloud_validate,
)

BASE = {'cluster_name': 'prod', 'managers': 3, 'workers': 2, 'server_type': 'cx22', 'location': 'fsn1',
        'image': 'debian-13', 'admin_cidrs': ['198.51.100.7/32'], 'data_path_port': 4789}


def decl(**kw):
    out = dict(BASE)
    out.update(kw)
    return out


def server(name, ip, role='worker', cluster='prod', **kw):
    labels = {'ironclad.swarm/cluster': cluster, 'ironclad.swarm/role': role}
    labels.update(kw.pop('labels', {}))
    out = {'name': name, 'id': hash(name) % 1000, 'ipv4_address': ip, 'ipv6': '2001:db8:%d::/64' % (hash(name) % 99),
           'server_type': 'cx22', 'location': 'fsn1', 'labels': labels}
    out.update(kw)
    return out


def test_the_default_declaration_is_valid():
    assert hcloud_validate(decl()) == []


@pytest.mark.parametrize('change, fragment', [
    ({'admin_cidrs': []}, 'hcloud_admin_cidrs is empty'),
    ({'admin_cidrs': ['198.51.100.7/24']}, 'no host bits'),
    ({'admin_cidrs': ['nonsense']}, 'is not a network in CIDR form'),
    ({'cluster_name': 'Prod_1'}, 'hcloud_cluster_name'),
    ({'managers': 0}, 'declares no manager'),
    ({'managers': 11}, 'spread placement group holds at most 10'),
    ({'workers': True}, 'hcloud_workers must be a count or a list'),
    ({'workers': [{'name': 'w1', 'size': 'big'}]}, 'unknown keys size'),
    ({'workers': ['prod-manager-1']}, 'declared twice'),
    ({'extra_firewalls': ['a', 'b', 'c', 'd']}, 'Hetzner allows 5 per server'),
    ({'data_path_port': 80}, 'hcloud_data_path_port'),
    ({'firewall_extra_rules': [{'protocol': 'esp', 'port': '50', 'source_ips': ['0.0.0.0/0']}]}, 'takes no port'),
    ({'firewall_extra_rules': [{'protocol': 'tcp', 'source_ips': ['0.0.0.0/0']}]}, 'needs a port'),
    ({'server_type': ''}, 'has no server_type'),
])
def test_bad_input_names_the_variable_and_the_fix(change, fragment):
    errors = hcloud_validate(decl(**change))
    assert any(fragment in e for e in errors), errors


def test_ssh_from_anywhere_allows_an_empty_admin_list():
    assert hcloud_validate(decl(admin_cidrs=[], ssh_from_anywhere=True)) == []
    plan = hcloud_plan([], decl(admin_cidrs=[], ssh_from_anywhere=True))
    assert plan['firewalls']['nodes']['rules'][0]['source_ips'] == ['0.0.0.0/0', '::/0']


def test_the_node_limit_is_known_up_front_and_refused_by_name():
    # CLUSTER-nodes: 499 effective rules left beside one admin CIDR -> 124 nodes; 3 CLUSTER-peers-N x 125.
    assert hcloud_node_limit(decl()) == 499
    assert hcloud_validate(decl(managers=3, workers=496)) == []
    errors = hcloud_validate(decl(managers=3, workers=497))
    assert any('hcloud_managers and hcloud_workers declare 500 servers' in e and 'at most 499' in e for e in errors), errors
    # With IPv6 peers each node counts twice.
    assert hcloud_node_limit(decl(firewall_ipv6_peers=True)) == 62 + 3 * 62
    # Each extra firewall takes a slot a CLUSTER-peers-N could have had.
    assert hcloud_node_limit(decl(extra_firewalls=['a', 'b', 'c'])) == 124
    errors = hcloud_validate(decl(managers=3, workers=122, extra_firewalls=['a', 'b', 'c']))
    assert any('at most 124' in e and 'hcloud_extra_firewalls' in e for e in errors), errors


def test_effective_rules_count_admin_sources_too():
    admins = ['198.51.100.%d/32' % i for i in range(60)]
    extra = [{'protocol': 'tcp', 'port': '443', 'source_ips': ['192.0.2.%d/32' % i for i in range(50)]}]
    # 500 - 60 - 50 = 390 effective rules left in CLUSTER-nodes: 97 nodes; then 3 x 125.
    assert hcloud_node_limit(decl(admin_cidrs=admins, firewall_extra_rules=extra)) == 97 + 3 * 125
    plan = hcloud_plan([server('prod-worker-%d' % i, '10.1.0.%d' % i, id=i) for i in range(1, 121)],
                       decl(managers=[], workers=120, admin_cidrs=admins, firewall_extra_rules=extra))
    nodes = plan['firewalls']['nodes']
    assert sum(len(r['source_ips']) for r in nodes['rules']) == 60 + 50 + 4 * 97
    assert sum(len(r['source_ips']) for r in plan['firewalls']['peers-2']['rules']) == 4 * 23
    too_many = ['198.51.100.%d/32' % i for i in range(100)]
    errors = hcloud_validate(decl(admin_cidrs=too_many, firewall_extra_rules=[
        {'protocol': 'tcp', 'port': str(8000 + i), 'source_ips': ['192.0.2.%d/32' % j for j in range(100)]} for i in range(5)]))
    assert any('effective rules' in e and '500' in e for e in errors), errors


def test_fifty_rules_per_firewall():
    extra = [{'protocol': 'tcp', 'port': str(8000 + i), 'source_ips': ['0.0.0.0/0']} for i in range(49)]
    assert hcloud_validate(decl(firewall_extra_rules=extra)) == []
    errors = hcloud_validate(decl(firewall_extra_rules=extra + extra[:1]))
    assert any('51 rules' in e for e in errors), errors


def test_a_hundred_and_fifty_nodes_spread_over_two_peer_firewalls():
    servers = [server('prod-manager-%d' % i, '10.0.0.%d' % i, 'manager', id=i) for i in range(1, 4)]
    servers += [server('prod-worker-%d' % i, '10.0.%d.%d' % (1 + i // 200, i % 200 + 1), id=3 + i) for i in range(1, 148)]
    plan = hcloud_plan(servers, decl(managers=3, workers=147))
    assert plan['errors'] == []
    assert [f['name'] for f in plan['firewall_list']] == ['prod-nodes', 'prod-peers-2', 'prod-managers']
    held = []
    for fw in plan['firewall_list']:
        assert len(fw['rules']) <= 50
        assert sum(max(1, len(r['source_ips'])) for r in fw['rules']) <= 500
        assert all(len(r['source_ips']) <= 100 for r in fw['rules'])
    for fw in plan['firewall_list'][:2]:
        swarm = [r for r in fw['rules'] if r['port'] != '22']
        for kind in (('tcp', '7946'), ('udp', '7946'), ('udp', '4789'), ('esp', None)):
            cidrs = [c for r in swarm if (r['protocol'], r['port']) == kind for c in r['source_ips']]
            assert cidrs == sorted(set(cidrs), key=lambda c: tuple(int(p) for p in c[:-3].split('.')))
            if kind == ('esp', None):
                held.append(cidrs)
    assert [len(h) for h in held] == [124, 26]
    assert sorted(held[0] + held[1]) == sorted(plan['peers']) and len(plan['peers']) == 150
    assert [c for r in plan['firewalls']['managers']['rules'] for c in r['source_ips']] == plan['peers']
    # every server, worker or manager, carries every firewall: TCP 2377 is admitted on workers too (a hand promotion)
    assert all(s['firewalls'] == ['prod-nodes', 'prod-peers-2', 'prod-managers'] for s in plan['servers'])
    assert {s['role'] for s in plan['servers']} == {'manager', 'worker'}
    # a new server (the highest ID) joins the last firewall: no address moves
    grown = hcloud_plan(servers + [server('prod-worker-148', '10.9.9.9', id=999)], decl(managers=3, workers=148))
    assert grown['firewalls']['nodes']['rules'] == plan['firewalls']['nodes']['rules']
    assert '10.9.9.9/32' in grown['firewalls']['peers-2']['rules'][-1]['source_ips']


def test_the_firewalls_exist_for_the_declared_count_before_the_servers_do():
    plan = hcloud_plan([], decl(managers=3, workers=147))
    assert [f['name'] for f in plan['firewall_list']] == ['prod-nodes', 'prod-peers-2', 'prod-managers']
    assert plan['firewalls']['peers-2']['rules'] == []
    assert plan['servers'][0]['firewalls'] == ['prod-nodes', 'prod-peers-2', 'prod-managers']


def test_only_the_roles_own_labels_are_set():
    live = server('prod-worker-1', '203.0.113.5', labels={'team': 'web', 'ironclad.swarm/departed': 'true'})
    plan = hcloud_plan([live], decl(managers=1, workers=1))
    worker = [s for s in plan['servers'] if s['name'] == 'prod-worker-1'][0]
    assert worker['labels'] == {'team': 'web', 'ironclad.swarm/cluster': 'prod', 'ironclad.swarm/role': 'worker'}
    assert worker['relabel'] is True
    same = server('prod-worker-1', '203.0.113.5', labels={'team': 'web'})
    assert [s['relabel'] for s in hcloud_plan([same], decl(managers=1, workers=1))['servers']] == [False, False]
    assert hcloud_labels({'a': '1', 'ironclad.swarm/cluster': 'old'}, {'ironclad.swarm/cluster': 'prod'}) == {
        'a': '1', 'ironclad.swarm/cluster': 'prod'}
    assert hcloud_labels(None, {'x': 'y'}) == {'x': 'y'}


def test_a_new_cluster_creates_every_server_and_fences_ssh_only():
    plan = hcloud_plan([], decl())
    assert plan['create'] == ['prod-manager-1', 'prod-manager-2', 'prod-manager-3', 'prod-worker-1', 'prod-worker-2']
    assert [r['protocol'] for r in plan['firewalls']['nodes']['rules']] == ['tcp']
    assert plan['firewalls']['managers']['rules'] == []
    managers = [s for s in plan['servers'] if s['role'] == 'manager']
    assert all(s['firewalls'] == ['prod-nodes', 'prod-managers'] and s['placement_group'] == 'prod-managers' for s in managers)
    # a worker is created behind the 2377 firewall too, so a promotion by hand keeps quorum
    workers = [s for s in plan['servers'] if s['role'] == 'worker']
    assert all(s['firewalls'] == ['prod-nodes', 'prod-managers'] and s['placement_group'] is None for s in workers)
    assert plan['servers'][0]['labels'] == {'ironclad.swarm/cluster': 'prod', 'ironclad.swarm/role': 'manager'}


def test_rules_admit_exactly_the_sorted_node_addresses():
    servers = [server('prod-worker-2', '203.0.113.100'), server('prod-manager-1', '203.0.113.9', 'manager'),
               server('prod-worker-1', '198.51.100.20')]
    plan = hcloud_plan(servers, decl(managers=1))
    want = ['198.51.100.20/32', '203.0.113.9/32', '203.0.113.100/32']
    nodes = plan['firewalls']['nodes']['rules']
    assert [(r['protocol'], r['port']) for r in nodes] == [('tcp', '22'), ('tcp', '7946'), ('udp', '7946'), ('udp', '4789'),
                                                           ('esp', None)]
    assert all(r['source_ips'] == want for r in nodes[1:])
    assert nodes[0]['source_ips'] == ['198.51.100.7/32']
    assert plan['firewalls']['managers']['rules'] == [
        {'direction': 'in', 'protocol': 'tcp', 'port': '2377', 'source_ips': want, 'destination_ips': [],
         'description': 'swarm control plane from the nodes'}]
    # every firewall by the cluster's selector; the manager-only one of earlier releases is to be taken off, nothing else
    assert [f['selector'] for f in plan['firewall_list']] == ['ironclad.swarm/cluster=prod'] * 2
    assert plan['firewalls']['managers']['retired_selectors'] == ['ironclad.swarm/cluster=prod,ironclad.swarm/role=manager']
    assert plan['firewalls']['nodes']['retired_selectors'] == []
    assert plan['create'] == []


def test_workers_count_the_2377_firewall_against_hetzners_five():
    # two extra firewalls leave room for 2 peer firewalls: 124 + 125 nodes, and every server then carries 5
    plan = hcloud_plan([], decl(managers=3, workers=246, extra_firewalls=['a', 'b']))
    assert plan['errors'] == []
    for node in plan['servers']:
        assert node['firewalls'] == ['prod-nodes', 'prod-peers-2', 'prod-managers', 'a', 'b'], node['name']
    errors = hcloud_validate(decl(managers=3, workers=247, extra_firewalls=['a', 'b']))
    assert any('at most 249' in e and 'every server, worker or manager, holds at most 5 firewalls' in e for e in errors), errors
    errors = hcloud_validate(decl(extra_firewalls=['a', 'b', 'c', 'd']))
    assert any(e.startswith('every server would carry 6 Cloud Firewalls') for e in errors), errors


def test_ipv6_peers_are_the_first_address_of_each_64():
    servers = [server('prod-manager-1', '203.0.113.9', 'manager', ipv6='2001:db8:5::/64')]
    plan = hcloud_plan(servers, decl(managers=1, workers=0, firewall_ipv6_peers=True))
    assert plan['peers'] == ['203.0.113.9/32', '2001:db8:5::1/128']


def test_the_data_path_port_is_the_clusters():
    plan = hcloud_plan([server('prod-manager-1', '203.0.113.9', 'manager')], decl(managers=1, workers=0, data_path_port=7789))
    assert ('udp', '7789') in [(r['protocol'], r['port']) for r in plan['firewalls']['nodes']['rules']]


def test_departed_servers_are_kept_unless_removal_is_asked_for():
    servers = [server('prod-manager-1', '203.0.113.9', 'manager'), server('prod-worker-3', '203.0.113.30')]
    kept = hcloud_plan(servers, decl(managers=1, workers=0))
    assert [d['name'] for d in kept['departed']] == ['prod-worker-3']
    assert 'ironclad.swarm/departed' not in kept['departed'][0]['labels']
    # still a swarm member until removed: still a peer
    assert '203.0.113.30/32' in kept['peers']
    gone = hcloud_plan(servers, decl(managers=1, workers=0, remove_departed=True))
    assert gone['departed'][0]['labels']['ironclad.swarm/departed'] == 'true'
    assert gone['departed'][0]['labels']['ironclad.swarm/role'] == 'worker'


def test_an_existing_server_is_never_resized_or_moved():
    servers = [server('prod-manager-1', '203.0.113.9', 'manager', server_type='cx32')]
    plan = hcloud_plan(servers, decl(managers=1, workers=0))
    assert any('exists with server_type cx32' in e for e in plan['errors']), plan['errors']


def test_list_declarations_take_per_server_settings():
    plan = hcloud_plan([], decl(managers=['m1'], workers=[{'name': 'big-1', 'server_type': 'ccx13', 'location': 'hel1'}]))
    assert [(s['name'], s['server_type'], s['location'], s['image']) for s in plan['servers']] == [
        ('m1', 'cx22', 'fsn1', 'debian-13'), ('big-1', 'ccx13', 'hel1', 'debian-13')]


def test_missing_message_names_server_field_and_variable():
    msg = hcloud_missing({'name': 'prod-worker-1', 'server_type': 'cx99'}, 'server_type', 'hcloud_server_type', ['cx22', 'cx32'])
    assert msg == ("server prod-worker-1: server_type 'cx99' does not exist in this project (the API offers: cx22, cx32); "
                   "set hcloud_server_type or the server entry's server_type")
