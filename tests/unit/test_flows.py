# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One table of the swarm's flows (plugins/module_utils/fence/flows.py): the fence's nft rules, the firewall
audit's checks, the Hetzner Cloud Firewall rules, the data-path port's validation and docs/firewall.md's table
all follow it, so that adding a flow is one entry."""

from __future__ import annotations

import ipaddress
import os

import pytest

from ansible_collections.ironclad.swarm.plugins.filter import hcloud_cluster
from ansible_collections.ironclad.swarm.plugins.module_utils.audit import findings as audit_findings
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import audit as fence_audit
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import flows
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import spec as fence_spec
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.evaluate import ruleset_from_nft

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = ['10.0.0.1', '10.0.0.2', '10.0.0.3']
NON_PEER = ipaddress.ip_address('203.0.113.254')
HCLOUD = {'cluster_name': 'prod', 'managers': 1, 'workers': 1, 'server_type': 'cx22', 'location': 'fsn1',
          'image': 'debian-13', 'admin_cidrs': ['198.51.100.7/32'], 'data_path_port': 4800}
SERVERS = [{'name': 'prod-manager-1', 'id': 1, 'ipv4_address': '203.0.113.9', 'ipv6': '2001:db8:1::/64',
            'labels': {'ironclad.swarm/cluster': 'prod', 'ironclad.swarm/role': 'manager'}},
           {'name': 'prod-worker-1', 'id': 2, 'ipv4_address': '203.0.113.10', 'ipv6': '2001:db8:2::/64',
            'labels': {'ironclad.swarm/cluster': 'prod', 'ironclad.swarm/role': 'worker'}}]


def fence(**params):
    return fence_spec.desired_objects(fence_spec.build_spec(dict({'peers': PEERS, 'managers': PEERS[:1]}, **params)))


def rules_of(objects, chain):
    return [o['rule']['expr'] for o in objects if 'rule' in o and o['rule']['chain'] == chain]


def audit(objects, manager, port=4789):
    peers = [ipaddress.ip_network(p) for p in PEERS]
    run = fence_audit.Audit('node', peers, peers[:1], ipaddress.ip_address(PEERS[0]), manager, port, [NON_PEER],
                            ruleset_from_nft(objects), [], {}, None, None, False)
    return run.run(), run.checks


def hcloud_rules(decl=None):
    plan = hcloud_cluster.hcloud_plan(SERVERS, decl or HCLOUD)
    kinds = dict((key, [(r['protocol'], r['port']) for r in fw['rules']]) for key, fw in plan['firewalls'].items())
    return kinds['nodes'], kinds['managers']


def test_docs_table_is_the_table():
    with open(os.path.join(ROOT, 'docs', 'firewall.md')) as handle:
        doc = handle.read()
    block = doc.split('<!-- flows:start -->\n', 1)[1].split('<!-- flows:end -->', 1)[0]
    assert block == flows.markdown_table(), (
        'docs/firewall.md disagrees with the table of flows: regenerate it with '
        'python -m ansible_collections.ironclad.swarm.plugins.module_utils.fence.flows')


def test_every_flow_names_catalogued_findings_of_the_fence():
    for item in flows.FLOWS:
        for finding in (item.blocked, item.blocked_idle, item.exposed):
            entry = audit_findings.CATALOGUE[finding.id]
            assert entry[0] == 'fence' and finding.severity in entry[1], (item.key, finding)


def test_the_rules_keep_their_order_and_grouping():
    """The fence's rules as every fence in the field has them: a different order would rewrite them all."""
    assert flows.nft_rules('accept', 4789) == [('esp', []), ('udp', [7946, 4789]), ('tcp', [7946]), ('tcp', [2377])]
    assert flows.nft_rules('drop', 4800) == [('tcp', [7946, 2377]), ('udp', [7946, 4800]), ('esp', [])]
    assert [f.key for f in flows.hcloud_flows(flows.EVERY_NODE)] == ['gossip_tcp', 'gossip_udp', 'data_path', 'esp']
    assert [f.key for f in flows.hcloud_flows(flows.MANAGERS)] == ['control']
    assert [f.key for f in flows.open_checks_order()] == ['data_path', 'control', 'gossip_tcp', 'gossip_udp', 'esp']


@pytest.mark.parametrize('port, problem', [
    (4789, None), ('4800', None), (2377, '2377 is a swarm port itself; keep the default 4789'),
    (7946, '7946 is a swarm port itself; keep the default 4789'), (80, '80 is out of range: use 1024 to 49151'),
    (True, 'True is not a port number'), ('x', "'x' is not a port number"),
])
def test_the_data_path_port_is_not_another_swarm_port(port, problem):
    assert flows.data_path_port_error(port) == problem
    if problem and 'swarm port' in problem:
        with pytest.raises(fence_spec.FieldError, match='is a swarm port itself'):
            fence_spec.build_spec({'peers': PEERS, 'data_path_port': port})
        assert any('hcloud_data_path_port' in e and problem in e
                   for e in hcloud_cluster.hcloud_validate(dict(HCLOUD, data_path_port=port)))


@pytest.mark.parametrize('listen', [flows.EVERY_NODE, flows.MANAGERS])
def test_a_new_flow_is_one_entry(monkeypatch, listen):
    """A flow added to the table reaches the nft rules, the audit's checks from peers and non-peers, the Hetzner
    rules and the checks of ports that must not collide with the swarm's."""
    closed = fence(input_policy='drop')   # the fence as it was before the flow: the new port falls to the policy
    new = flows.Flow('fake', 'udp', 9999, listen, False, 'UDP {port}', 'a test flow', 'fake flow between the nodes',
                     flows.Finding('gossip_blocked', 'high', 'the fake flow fails'),
                     flows.Finding('gossip_open', 'medium', 'anyone can talk to the fake flow'))
    monkeypatch.setattr(flows, 'FLOWS', flows.FLOWS + (new,))

    # nft: one accept rule from peers and one drop rule for everyone else, after the others.
    objects = fence(input_policy='drop')
    match = {'match': {'op': '==', 'left': {'payload': {'protocol': 'udp', 'field': 'dport'}}, 'right': 9999}}
    assert rules_of(objects, fence_spec.PEER_CHAIN)[-1] == [match, fence_spec.COUNTER, fence_spec.ACCEPT]
    drops = [r for r in rules_of(objects, fence_spec.INPUT_CHAIN) if fence_spec.DROP in r and fence_spec.COUNTER in r]
    assert drops[-1] == [match, fence_spec.COUNTER, fence_spec.DROP]

    # the audit: asked from every peer, and from the non-peer where the flow listens; the old fence drops it.
    findings, checks = audit(closed, manager=False)
    asked = [c['check'] for c in checks if 'UDP 9999' in c['check']]
    assert asked[:2] == ['UDP 9999 from peer 10.0.0.2', 'UDP 9999 from peer 10.0.0.3']
    assert ('UDP 9999 from non-peer 203.0.113.254' in asked) == (listen == flows.EVERY_NODE)
    assert [c['flow'] for c in checks if c['check'].startswith('UDP 9999 from peer')] == ['fake', 'fake']
    blocked = [f for f in findings if 'UDP 9999' in f['reason']]
    assert [(f['id'], f['severity'], f['peers']) for f in blocked] == [('gossip_blocked', 'high', PEERS[1:])]
    assert blocked[0]['reason'].endswith(': the fake flow fails.')
    findings, checks = audit(objects, manager=True)
    assert not [f for f in findings if 'UDP 9999' in f['reason']]
    assert 'UDP 9999 from non-peer 203.0.113.254' in [c['check'] for c in checks]

    # Hetzner: a rule in CLUSTER-nodes for a flow of every node, in CLUSTER-managers for the managers'.
    nodes, managers = hcloud_rules()
    assert (('udp', '9999') in nodes, ('udp', '9999') in managers) == (listen == flows.EVERY_NODE, listen == flows.MANAGERS)
    assert nodes[-1] == ('udp', '9999') if listen == flows.EVERY_NODE else managers == [('tcp', '2377'), ('udp', '9999')]

    # the port is the swarm's now: not for SSH, allow or the data path.
    assert 9999 in flows.swarm_ports(4789)
    with pytest.raises(fence_spec.FieldError, match='is a swarm port'):
        fence_spec.build_spec({'peers': PEERS, 'ssh_ports': [9999]})
    assert flows.data_path_port_error(9999) == '9999 is a swarm port itself; keep the default 4789'


def test_today_hetzner_rules_come_from_the_table():
    nodes, managers = hcloud_rules()
    assert nodes == [('tcp', '22'), ('tcp', '7946'), ('udp', '7946'), ('udp', '4800'), ('esp', None)]
    assert managers == [('tcp', '2377')]
