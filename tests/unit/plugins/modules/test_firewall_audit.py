# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.firewall_audit on rulesets recorded in the lab (nft -j, iptables-save, docker network inspect)."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.modules import firewall_audit
from module_harness import run_main

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'nft')


def recorded(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class FakeNode:
    def __init__(self, ruleset, save, networks='worker-networks.json'):
        self.ruleset = recorded(ruleset)
        self.save = recorded(save) if save else None
        self.networks = recorded(networks)
        self.commands = []

    def run_command(self, args):
        assert isinstance(args, list)
        self.commands.append(args)
        tool = os.path.basename(args[0])
        if tool == 'nft':
            assert args[1:] == ['-j', 'list', 'ruleset']
            return 0, self.ruleset, ''
        if tool == 'iptables-save':
            return (0, self.save, '') if self.save else (1, '', 'not found')
        if tool == 'ip6tables-save':
            return 1, '', 'ip6tables-save: not recorded'
        if tool == 'ip':
            return 0, recorded('worker-ip-addr.json'), ''
        if args[1:3] == ['network', 'ls']:
            return 0, '\n'.join(n['Id'][:12] for n in json.loads(self.networks)) + '\n', ''
        if args[1:3] == ['network', 'inspect']:
            return 0, self.networks, ''
        raise AssertionError(args)


def audit(monkeypatch, node, tmp_path, **params):
    persist = tmp_path / 'firewall.json'
    persist.write_text(recorded('persisted-firewall.json'))
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, a, **kw: node.run_command(a))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(firewall_audit.socket, 'gethostname', lambda: 'lab-node')
    args = dict({'persist_file': str(persist)}, **params)
    return run_main(monkeypatch, firewall_audit.main, args, check_mode=True)


def ids(result):
    return sorted(set((f['id'], f['severity']) for f in result['findings']))


def test_fenced_manager_has_no_findings(monkeypatch, tmp_path):
    node = FakeNode('manager-fenced.json', 'manager-fenced.iptables-save', 'manager-networks.json')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.2', fail_on='low')
    assert ok and result['findings'] == [], result['findings']
    assert result['peers'] == ['172.27.0.2', '172.27.0.3', '172.27.0.4']
    assert result['encrypted_vnis'] == [4097]
    control = [c for c in result['checks'] if c['check'] == 'TCP 2377 from peer 172.27.0.3']
    assert control and control[0]['accepted'] is True
    assert all(not any(w in cmd for w in ('-f', 'add', 'delete', 'insert')) for cmd in node.commands)


def test_shadowed_docker_drop_is_high(monkeypatch, tmp_path):
    node = FakeNode('worker-shadowed.json', 'worker-shadowed.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path)
    assert ok
    assert ids(result) == [('vxlan_drop_shadowed', 'high')]
    finding = result['findings'][0]
    assert finding['node'] == 'lab-node'
    assert finding['rule'] == '-A INPUT -p udp -m udp --dport 4789 -j ACCEPT'
    assert 'fwsec (VNI 4097)' in finding['reason'] and "before Docker's drop" in finding['reason']

    ok, result = audit(monkeypatch, node, tmp_path, fail_on='high')
    assert not ok and result['msg'].startswith('1 finding(s) at or above high: [high] Unencrypted VXLAN')


def test_deleted_rule_is_reported(monkeypatch, tmp_path):
    node = FakeNode('worker-edited.json', 'worker-edited.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4')
    assert ids(result) == [('esp_blocked', 'high'), ('table_modified', 'medium')]
    esp = [f for f in result['findings'] if f['id'] == 'esp_blocked'][0]
    assert 'from peer(s) 172.27.0.2, 172.27.0.3 is dropped by inet ironclad_swarm input' in esp['reason']
    # two peers blocked: listed, and no single `peer`
    assert esp['peers'] == ['172.27.0.2', '172.27.0.3'] and 'peer' not in esp
    modified = [f for f in result['findings'] if f['id'] == 'table_modified'][0]
    assert 'chain swarm_peer lacks the rule "meta l4proto esp counter accept"' in modified['reason']


def test_esp_dropped_from_one_peer_names_that_peer(monkeypatch, tmp_path):
    node = FakeNode('worker-peer-esp-drop.json', 'worker-peer-esp-drop.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4')
    assert ids(result) == [('esp_blocked', 'high'), ('table_modified', 'medium')]
    esp = [f for f in result['findings'] if f['id'] == 'esp_blocked'][0]
    assert esp['peer'] == '172.27.0.3' and esp['peers'] == ['172.27.0.3']
    assert esp['rule'] == 'ip saddr 172.27.0.3 meta l4proto esp counter drop'
    accepted = dict((c['check'], c['accepted']) for c in result['checks'])
    assert accepted['ESP (IP protocol 50) from peer 172.27.0.3'] is False
    assert accepted['ESP (IP protocol 50) from peer 172.27.0.2'] is True
    assert accepted['UDP 4789 (VXLAN out of IPsec) from peer 172.27.0.3'] is True
    modified = [f for f in result['findings'] if f['id'] == 'table_modified'][0]
    assert 'chain input has a rule that is not ours: "ip saddr 172.27.0.3 meta l4proto esp counter drop"' in modified['reason']


def test_missing_table_opens_the_ports(monkeypatch, tmp_path):
    node = FakeNode('worker-no-table.json', 'worker-no-table.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4')
    assert ids(result) == [('data_path_open', 'high'), ('esp_open', 'low'), ('gossip_open', 'medium'),
                           ('table_missing', 'high')]
    # peers came from the persisted file
    assert result['peers'] == ['172.27.0.2', '172.27.0.3', '172.27.0.4']
    assert result['findings'][0]['severity'] == 'high'


def test_manager_without_fence_exposes_control_port(monkeypatch, tmp_path):
    node = FakeNode('baseline-manager.nft.json', 'baseline-manager.iptables-save', 'manager-networks.json')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.2', expect_table=False)
    assert ('control_open', 'high') in ids(result)
    assert ('table_missing', 'high') not in ids(result)


def test_without_iptables_save_the_audit_does_not_guess(monkeypatch, tmp_path):
    node = FakeNode('worker-no-table.json', None)
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4', encrypted_vnis=[4097], expect_table=False)
    vxlan = [c for c in result['checks'] if c['check'].startswith('unencrypted VXLAN')]
    assert vxlan and all(c['accepted'] is None for c in vxlan)
    assert any('xt match "u32"' in d for d in vxlan[0]['doubts'])


def test_encrypted_vnis_from_inspect():
    networks = json.loads(recorded('worker-networks.json'))
    assert firewall_audit.encrypted_vnis_from_inspect(networks, ['172.27.0.3']) == [('fwsec', 4097)]
    assert firewall_audit.encrypted_vnis_from_inspect(networks, ['192.0.2.1']) == []


def test_bad_peer_is_named(monkeypatch, tmp_path):
    node = FakeNode('worker-no-table.json', None)
    ok, result = audit(monkeypatch, node, tmp_path, peers=['172.27.0.2', 'worker-9'])
    assert not ok and result['field'] == 'peers[1]'
    assert node.commands == []


def test_shadowed_drop_behind_the_fences_own_vxlan_drop_is_medium():
    # worker-1's recorded ruleset with its fence swapped for the recorded drop_unencrypted_vxlan table
    from ansible_collections.ironclad.swarm.plugins.module_utils import _iptables, _nft
    others = [o for o in _nft.parse_ruleset(recorded('worker-shadowed.json'))
              if 'ironclad_swarm' not in (o.get('table', {}).get('name'), next(iter(o.values())).get('table'))]
    objects = others + _nft.parse_ruleset(recorded('table-policy-drop.json'))
    rs = _nft.ruleset_from_nft(objects)
    save = _iptables.parse_save(recorded('worker-shadowed.iptables-save'))
    _iptables.merge_into(rs, save)
    peers = [_nft.ipaddress.ip_network(a) for a in ('172.27.0.2', '172.27.0.3', '172.27.0.4')]
    audit = firewall_audit.Audit('lab-node', peers, peers[:1], _nft.ipaddress.ip_address('172.27.0.3'), False, 4789,
                                 [_nft.ipaddress.ip_address('203.0.113.254')], rs, [('fwsec', 4097)],
                                 _iptables.docker_vxlan_rules(save), None, None, False)
    audit.vxlan_checks()
    assert [(f['id'], f['severity']) for f in audit.findings] == [('vxlan_drop_shadowed', 'medium')]
    assert audit.findings[0]['rule'] == '-A INPUT -p udp -m udp --dport 4789 -j ACCEPT'


# The VM lab's whole rulesets on newer engines (fixtures/xfrm/<suite>/, see its README): Docker 26.1
# (Debian 13) and 28.5 (Debian testing) match an encrypted network's VNI with `-m bpf`, not `-m u32`.
VM_FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'xfrm')
VM_ADDRESSES = {'vm1': '192.0.2.11', 'vm2': '192.0.2.12', 'vm3': '192.0.2.13'}
VM_SUITES = [s for s in ('trixie', 'forky') if os.path.isdir(os.path.join(VM_FIXTURES, s))]


def vm_recorded(suite, node, name):
    with open(os.path.join(VM_FIXTURES, suite, '%s-%s' % (node, name))) as handle:
        return handle.read()


class VmNode(FakeNode):
    """One VM of the VM lab as recorded: nft -j, iptables-save, docker network inspect."""

    def __init__(self, suite, node, ruleset='nft-ruleset.json'):  # pylint: disable=super-init-not-called
        self.ruleset = vm_recorded(suite, node, ruleset)
        self.save = vm_recorded(suite, node, 'iptables-save.txt')
        self.networks = vm_recorded(suite, node, 'docker-networks.json')
        self.commands = []


def vm_audit(monkeypatch, suite, node, host, tmp_path, **params):
    persist = tmp_path / 'firewall.json'
    persist.write_text(vm_recorded(suite, node, 'persisted-firewall.json'))
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, a, **kw: host.run_command(a))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(firewall_audit.socket, 'gethostname', lambda: node)
    args = dict({'persist_file': str(persist), 'node_address': VM_ADDRESSES[node]}, **params)
    return run_main(monkeypatch, firewall_audit.main, args, check_mode=True)


@pytest.mark.parametrize('suite', VM_SUITES)
@pytest.mark.parametrize('node', sorted(VM_ADDRESSES))
def test_vm_lab_fence_and_dockers_bpf_drop_are_clean(monkeypatch, tmp_path, suite, node):
    host = VmNode(suite, node)
    ok, result = vm_audit(monkeypatch, suite, node, host, tmp_path, fail_on='low')
    assert ok and result['findings'] == [], result['findings']
    assert result['peers'] == sorted(VM_ADDRESSES.values())
    assert result['encrypted_vnis'] == [4097]
    accepted = dict((c['check'], c['accepted']) for c in result['checks'])
    for name, address in VM_ADDRESSES.items():
        if name != node:
            assert accepted['ESP (IP protocol 50) from peer %s' % address] is True
            assert accepted['UDP 4789 (VXLAN out of IPsec) from peer %s' % address] is True
    # Cleartext VXLAN of vm-enc is dropped: from a non-peer by the fence, from a peer (which the fence
    # lets through on udp/4789) by Docker's own rule, `-m policy --pol none ... -m bpf ... -j DROP`.
    cleartext = dict((c['check'], c) for c in result['checks'] if c['check'].startswith('unencrypted VXLAN of vm-enc'))
    assert cleartext and all(c['accepted'] is False for c in cleartext.values())
    peer = [c for check, c in cleartext.items() if check.split()[-1] in VM_ADDRESSES.values()]
    assert len(peer) == 1 and peer[0]['chain'] == 'ip filter INPUT (iptables)' and '-m bpf' in peer[0]['decided_by']
    assert all(not any(w in cmd for w in ('-f', 'add', 'delete', 'insert')) for cmd in host.commands)


@pytest.mark.parametrize('suite', VM_SUITES)
def test_vm_lab_docker_rule_is_read_from_bpf(suite):
    from ansible_collections.ironclad.swarm.plugins.module_utils import _iptables
    for node in VM_ADDRESSES:
        text = vm_recorded(suite, node, 'iptables-save.txt')
        save = _iptables.parse_save(text)
        assert save.backend == 'nf_tables' and '-m bpf --bytecode' in text
        assert list(_iptables.docker_vxlan_rules(save)) == [4097]


@pytest.mark.parametrize('suite', [s for s in VM_SUITES
                                   if os.path.exists(os.path.join(VM_FIXTURES, s, 'vm3-nft-ruleset-esp-drop-vm2.json'))])
def test_vm_lab_esp_dropped_from_one_peer_names_that_peer(monkeypatch, tmp_path, suite):
    """The VM scenario's negative test as recorded on vm3: ESP from vm2 dropped in the fence's input chain."""
    host = VmNode(suite, 'vm3', ruleset='nft-ruleset-esp-drop-vm2.json')
    ok, result = vm_audit(monkeypatch, suite, 'vm3', host, tmp_path)
    assert ids(result) == [('esp_blocked', 'high'), ('table_modified', 'medium')]
    esp = [f for f in result['findings'] if f['id'] == 'esp_blocked'][0]
    assert esp['peers'] == ['192.0.2.12'] and esp['rule'] == 'ip saddr 192.0.2.12 meta l4proto esp counter drop'
    accepted = dict((c['check'], c['accepted']) for c in result['checks'])
    assert accepted['ESP (IP protocol 50) from peer 192.0.2.12'] is False
    assert accepted['ESP (IP protocol 50) from peer 192.0.2.11'] is True
