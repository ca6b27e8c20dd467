# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.firewall_audit on rulesets recorded in the lab (nft -j, iptables-save, docker network inspect).

Each test runs on the recordings of every Docker version (fixtures/nft/docker-*/, recordings.py).
"""

from __future__ import annotations

import json
import os

import platforms
import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import audit as fence_audit
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import audit_module as fence_audit_module
from ansible_collections.ironclad.swarm.plugins.module_utils.audit import node as audit_node
from ansible_collections.ironclad.swarm.plugins.modules import firewall_audit, ipsec_audit
from module_harness import run_main
from recordings import Recording, versions

RECORDINGS = versions('nft')
# Docker 28.5 with DOCKER_FIREWALL_BACKEND=nftables (fixtures/nft/docker-28.5-nftables/)
NFTABLES_BACKEND = Recording('nft', '28.5', 'nftables')
# What `docker info --format '{{json .FirewallBackend}}'` says: the field exists from API 1.49 (Docker 28) on.
BACKEND = {'20.10': None, '26.1': None, '28.5': 'iptables'}
# The xt match of Docker's per-network rules: u32 in 20.10, bpf from 26.1 on.
VXLAN_MATCH = {'20.10': 'u32', '26.1': 'bpf', '28.5': 'bpf'}


class FakeNode:
    def __init__(self, rec, ruleset, save, networks='worker-networks.json'):
        self.rec = rec
        self.ruleset_name = ruleset
        self.ruleset = rec.text(ruleset)
        self.save = rec.text(save) if save else None
        self.networks = rec.text(networks)
        self.commands = []
        # What `systemctl is-enabled` says of the fence's boot unit, and its exit code.
        self.boot = ('enabled', 0)

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
            return 0, self.rec.text('worker-ip-addr.json'), ''
        if tool == 'systemctl':
            assert args[1:] == ['is-enabled', 'ironclad-swarm-firewall.service']
            said, rc = getattr(self, 'boot', ('enabled', 0))
            return rc, said + '\n', ''
        if args[1:3] == ['info', '--format'] and args[3] == '{{json .Swarm.ControlAvailable}}':
            info = Recording('docker', self.rec.version).json('info.json')
            return 0, json.dumps(self.control_available(info)) + '\n', ''
        if args[1:3] == ['info', '--format']:
            assert args[3] == '{{json .FirewallBackend}}'
            return 0, self.backend(), ''
        if args[1:3] == ['network', 'ls']:
            return 0, '\n'.join(n['Id'][:12] for n in json.loads(self.networks)) + '\n', ''
        if args[1:3] == ['network', 'inspect']:
            return 0, self.networks, ''
        raise AssertionError(args)

    def control_available(self, info):
        """The recorded engine's ControlAvailable, for the node this fake stands for (the recordings' info.json
        is the first manager's)."""
        return bool((info.get('Swarm') or {}).get('ControlAvailable')) and 'manager' in self.ruleset_name

    def backend(self):
        """The engine's answer: recorded as such, or the field of the same version's recorded info()."""
        if self.rec.has('manager-firewall-backend.json'):
            return self.rec.text('manager-firewall-backend.json')
        info = Recording('docker', self.rec.version).json('info.json')
        return json.dumps(info.get('FirewallBackend')) + '\n'


def audit(monkeypatch, node, tmp_path, **params):
    persist = tmp_path / 'firewall.json'
    persist.write_text(node.rec.text('persisted-firewall.json'))
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, a, **kw: node.run_command(a))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(fence_audit_module.socket, 'gethostname', lambda: 'lab-node')
    args = dict({'persist_file': str(persist)}, **params)
    return run_main(monkeypatch, firewall_audit.main, args, check_mode=True)


def ids(result):
    return sorted(set((f['id'], f['severity']) for f in result['findings']))


@pytest.mark.parametrize('rec', RECORDINGS)
def test_fenced_manager_has_no_findings(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'manager-fenced.json', 'manager-fenced.iptables-save', 'manager-networks.json')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.2', fail_on='low')
    assert ok and result['findings'] == [], result['findings']
    assert result['peers'] == ['172.27.0.2', '172.27.0.3', '172.27.0.4']
    assert result['encrypted_vnis'] == [4097]
    assert result['docker_firewall_backend'] == BACKEND[rec.version]
    control = [c for c in result['checks'] if c['check'] == 'TCP 2377 from peer 172.27.0.3']
    assert control and control[0]['accepted'] is True
    assert all(not any(w in cmd for w in ('-f', 'add', 'delete', 'insert')) for cmd in node.commands)


@pytest.mark.parametrize('rec', RECORDINGS)
def test_shadowed_docker_drop_is_medium_while_the_fence_drops_the_networks_cleartext(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'worker-shadowed.json', 'worker-shadowed.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path)
    assert ok
    assert ids(result) == [('vxlan_drop_shadowed', 'medium')]
    finding = result['findings'][0]
    assert finding['node'] == 'lab-node'
    assert finding['rule'] == '-A INPUT -p udp -m udp --dport 4789 -j ACCEPT'
    assert 'fwsec (VNI 4097)' in finding['reason'] and "only the fence's own drop" in finding['reason']

    ok, result = audit(monkeypatch, node, tmp_path, fail_on='medium')
    assert not ok and result['msg'].startswith("1 finding(s) at or above medium: [medium] Docker's drop")


@pytest.mark.parametrize('rec', RECORDINGS)
def test_shadowed_docker_drop_is_high_where_the_fence_has_not_learned_the_network(monkeypatch, rec, tmp_path):
    listing = json.loads(rec.text('worker-shadowed.json'))
    listing['nftables'] = [o for o in listing['nftables']
                           if not ('rule' in o and o['rule'].get('chain') in ('cleartext_in', 'cleartext_out'))]
    node = FakeNode(rec, 'worker-shadowed.json', 'worker-shadowed.iptables-save')
    node.ruleset = json.dumps(listing)
    ok, result = audit(monkeypatch, node, tmp_path)
    assert ids(result) == [('vxlan_drop_shadowed', 'high')]
    finding = result['findings'][0]
    assert 'fwsec (VNI 4097)' in finding['reason'] and "before Docker's drop" in finding['reason']
    ok, result = audit(monkeypatch, node, tmp_path, fail_on='high')
    assert not ok and result['msg'].startswith('1 finding(s) at or above high: [high] Unencrypted VXLAN')


@pytest.mark.parametrize('rec', RECORDINGS)
def test_deleted_rule_is_reported(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'worker-edited.json', 'worker-edited.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4')
    assert ids(result) == [('esp_blocked', 'high'), ('table_modified', 'medium')]
    esp = [f for f in result['findings'] if f['id'] == 'esp_blocked'][0]
    assert 'from peer(s) 172.27.0.2, 172.27.0.3 is dropped by inet ironclad_swarm input' in esp['reason']
    # two peers blocked: listed, and no single `peer`
    assert esp['peers'] == ['172.27.0.2', '172.27.0.3'] and 'peer' not in esp
    modified = [f for f in result['findings'] if f['id'] == 'table_modified'][0]
    assert 'chain swarm_peer lacks the rule "meta l4proto esp counter accept"' in modified['reason']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_esp_dropped_from_one_peer_names_that_peer(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'worker-peer-esp-drop.json', 'worker-peer-esp-drop.iptables-save')
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


@pytest.mark.parametrize('rec', RECORDINGS)
def test_missing_table_opens_the_ports(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'worker-no-table.json', 'worker-no-table.iptables-save')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4')
    assert ids(result) == [('data_path_open', 'high'), ('esp_open', 'low'), ('gossip_open', 'medium'),
                           ('table_missing', 'high')]
    # peers came from the persisted file
    assert result['peers'] == ['172.27.0.2', '172.27.0.3', '172.27.0.4']
    assert result['findings'][0]['severity'] == 'high'


@pytest.mark.parametrize('rec', RECORDINGS)
def test_manager_without_fence_exposes_control_port(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'baseline-manager.nft.json', 'baseline-manager.iptables-save', 'manager-networks.json')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.2', expect_table=False)
    assert ('control_open', 'high') in ids(result)
    assert ('table_missing', 'high') not in ids(result)


@pytest.mark.parametrize('rec', RECORDINGS)
def test_without_iptables_save_the_audit_does_not_guess(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'worker-no-table.json', None)
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.4', encrypted_vnis=[4097], expect_table=False)
    vxlan = [c for c in result['checks'] if c['check'].startswith('unencrypted VXLAN')]
    assert vxlan and all(c['accepted'] is None for c in vxlan)
    assert any('xt match "%s"' % VXLAN_MATCH[rec.version] in d for d in vxlan[0]['doubts'])


@pytest.mark.parametrize('rec', RECORDINGS)
def test_encrypted_vnis_from_inspect(rec):
    networks = rec.json('worker-networks.json')
    assert fence_audit_module.encrypted_vnis_from_inspect(networks, ['172.27.0.3']) == [('fwsec', 4097)]
    assert fence_audit_module.encrypted_vnis_from_inspect(networks, ['192.0.2.1']) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_bad_peer_is_named(monkeypatch, rec, tmp_path):
    node = FakeNode(rec, 'worker-no-table.json', None)
    ok, result = audit(monkeypatch, node, tmp_path, peers=['172.27.0.2', 'worker-9'])
    assert not ok and result['field'] == 'peers[1]'
    assert node.commands == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_shadowed_drop_behind_the_fences_own_vxlan_drop_is_medium(rec):
    # worker-1's recorded ruleset with its fence swapped for the recorded drop_unencrypted_vxlan table
    from ansible_collections.ironclad.swarm.plugins.module_utils.fence import iptables as fence_iptables
    from ansible_collections.ironclad.swarm.plugins.module_utils.fence import evaluate as fence_evaluate
    from ansible_collections.ironclad.swarm.plugins.module_utils.fence import nftio as fence_nftio
    from ansible_collections.ironclad.swarm.plugins.module_utils.fence import spec as fence_spec
    others = [o for o in fence_nftio.parse_ruleset(rec.text('worker-shadowed.json'))
              if 'ironclad_swarm' not in (o.get('table', {}).get('name'), next(iter(o.values())).get('table'))]
    objects = others + fence_nftio.parse_ruleset(rec.text('table-policy-drop.json'))
    rs = fence_evaluate.ruleset_from_nft(objects)
    save = fence_iptables.parse_save(rec.text('worker-shadowed.iptables-save'))
    fence_iptables.merge_into(rs, save)
    peers = [fence_spec.ipaddress.ip_network(a) for a in ('172.27.0.2', '172.27.0.3', '172.27.0.4')]
    audit = fence_audit.Audit('lab-node', peers, peers[:1], fence_spec.ipaddress.ip_address('172.27.0.3'), False, 4789,
                              [fence_spec.ipaddress.ip_address('203.0.113.254')], rs, [('fwsec', 4097)],
                              fence_iptables.docker_vxlan_rules(save), None, None, False)
    audit.vxlan_checks()
    assert [(f['id'], f['severity']) for f in audit.findings] == [('vxlan_drop_shadowed', 'medium')]
    assert audit.findings[0]['rule'] == '-A INPUT -p udp -m udp --dport 4789 -j ACCEPT'


# Docker's firewall on nftables (Docker 28.5, DOCKER_FIREWALL_BACKEND=nftables)

def test_nftables_backend_is_named_and_the_overlay_rules_still_audited(monkeypatch, tmp_path):
    rec = NFTABLES_BACKEND
    node = FakeNode(rec, 'manager-fenced.json', 'manager-fenced.iptables-save', 'manager-networks.json')
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.2', fail_on='medium')
    assert ok and result['docker_firewall_backend'] == 'nftables'
    assert ids(result) == [('docker_nftables_backend', 'low')]
    (finding,) = result['findings']
    assert finding['reason'].startswith("Docker's firewall backend is nftables (DOCKER_FIREWALL_BACKEND")
    # Docker 28.5 made no nftables table of its own, and kept the overlay rules in iptables
    assert "Docker's nftables tables (none)" in finding['reason']
    vxlan = dict((c['check'], c) for c in result['checks'] if c['check'].startswith('unencrypted VXLAN'))
    peer = vxlan['unencrypted VXLAN of fwsec (VNI 4097) from 172.27.0.2']
    # The recording holds the fence's per-network rule (the lab's node agent made it), which decides first; Docker's
    # bpf drop in iptables is still read, so no vxlan_drop_missing is raised.
    assert peer['accepted'] is False and '@th,96,24 4097 counter drop' in peer['decided_by']
    assert result['encrypted_vnis'] == [4097]


def test_nftables_backend_without_dockers_drop_says_where_the_audit_looked(monkeypatch, tmp_path):
    rec = NFTABLES_BACKEND
    node = FakeNode(rec, 'manager-fenced.json', 'manager-fenced.iptables-save', 'manager-networks.json')
    # the recording less Docker's INPUT drop: what a Docker that moved it out of iptables would leave
    node.save = ''.join(line for line in node.save.splitlines(True)
                        if not (line.startswith('-A INPUT') and '4789' in line))
    ok, result = audit(monkeypatch, node, tmp_path, node_address='172.27.0.2')
    # The fence's rule for fwsec (learned by the lab's node agent) drops the cleartext even though drop_unencrypted_vxlan
    # is off while fwplain is plain: low, and the reason still says where the audit looked for Docker's drop.
    assert ids(result) == [('docker_nftables_backend', 'low'), ('vxlan_drop_missing', 'low')]
    missing = [f for f in result['findings'] if f['id'] == 'vxlan_drop_missing'][0]
    assert ("is missing (Docker's firewall backend is nftables, and the audit looked for the drop in iptables, where "
            "Docker 28.5 still writes the overlay rules); the fence drops such packets instead") in missing['reason']


def test_backend_from_the_engine_or_from_dockers_tables():
    assert fence_audit_module.backend_from_info(NFTABLES_BACKEND.text('manager-firewall-backend.json')) == 'nftables'
    assert fence_audit_module.backend_from_info('{"Driver":"iptables+firewalld"}') == 'iptables+firewalld'
    # before API 1.49 the CLI prints null; Debian 12's own CLI fails on the unknown field (no output)
    assert fence_audit_module.backend_from_info('null') is None and fence_audit_module.backend_from_info('') is None
    objects = [{'table': {'family': 'ip', 'name': 'filter'}}, {'table': {'family': 'ip', 'name': 'docker-bridges'}},
               {'table': {'family': 'ip6', 'name': 'docker-bridges'}}]
    assert fence_audit_module.docker_nft_tables(objects) == ['ip docker-bridges', 'ip6 docker-bridges']
    from ansible_collections.ironclad.swarm.plugins.module_utils.fence import nftio as fence_nftio
    assert fence_audit_module.docker_nft_tables(fence_nftio.parse_ruleset(NFTABLES_BACKEND.text('manager-fenced.json'))) == []


# The VM lab's whole rulesets on newer engines (fixtures/xfrm/<suite>/, see its README): Docker 26.1
# (Debian 13) and 28.5 (Debian testing) match an encrypted network's VNI with `-m bpf`, not `-m u32`.
VM_FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'xfrm')
VM_ADDRESSES = {'vm1': '192.0.2.11', 'vm2': '192.0.2.12', 'vm3': '192.0.2.13'}
VM_SUITES = [s for s in platforms.lab_suites() if os.path.isdir(os.path.join(VM_FIXTURES, s))]


def vm_recorded(suite, node, name):
    with open(os.path.join(VM_FIXTURES, suite, '%s-%s' % (node, name))) as handle:
        return handle.read()


class VmNode(FakeNode):
    """One VM of the VM lab as recorded: nft -j, iptables-save, docker network inspect."""

    def __init__(self, suite, node, ruleset='nft-ruleset.json'):  # pylint: disable=super-init-not-called
        self.suite = suite
        self.ruleset = vm_recorded(suite, node, ruleset)
        self.save = vm_recorded(suite, node, 'iptables-save.txt')
        self.networks = vm_recorded(suite, node, 'docker-networks.json')
        self.commands = []

    def backend(self):
        """`docker info --format '{{json .FirewallBackend}}'` was not recorded on the VMs: answer as the
        container lab's recording of the same Docker version does (26.1: no such field, so null)."""
        info = Recording('docker', platforms.suite_docker()[self.suite]).json('info.json')
        return json.dumps(info.get('FirewallBackend')) + '\n'


def vm_audit(monkeypatch, suite, node, host, tmp_path, **params):
    persist = tmp_path / 'firewall.json'
    persist.write_text(vm_recorded(suite, node, 'persisted-firewall.json'))
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, a, **kw: host.run_command(a))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(fence_audit_module.socket, 'gethostname', lambda: node)
    args = dict({'persist_file': str(persist), 'node_address': VM_ADDRESSES[node]}, **params)
    return run_main(monkeypatch, firewall_audit.main, args, check_mode=True)


@pytest.mark.parametrize('suite', VM_SUITES)
@pytest.mark.parametrize('node', sorted(VM_ADDRESSES))
def test_vm_lab_fence_and_dockers_bpf_drop_are_clean(monkeypatch, tmp_path, suite, node):
    host = VmNode(suite, node)
    ok, result = vm_audit(monkeypatch, suite, node, host, tmp_path, fail_on='high')
    # Recorded with the fence of before TCP 2377 was admitted on every node (`ip daddr @managers4 tcp dport 2377
    # accept`): on the workers it drops 2377 from peers, so a promotion would have cut them off. That is medium now.
    expected = [] if node == 'vm1' else [('control_blocked', 'medium')]
    assert ok and ids(result) == expected, result['findings']
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
    from ansible_collections.ironclad.swarm.plugins.module_utils.fence import iptables as fence_iptables
    for node in VM_ADDRESSES:
        text = vm_recorded(suite, node, 'iptables-save.txt')
        save = fence_iptables.parse_save(text)
        assert save.backend == 'nf_tables' and '-m bpf --bytecode' in text
        assert list(fence_iptables.docker_vxlan_rules(save)) == [4097]


@pytest.mark.parametrize('suite', [s for s in VM_SUITES
                                   if os.path.exists(os.path.join(VM_FIXTURES, s, 'vm3-nft-ruleset-esp-drop-vm2.json'))])
def test_vm_lab_esp_dropped_from_one_peer_names_that_peer(monkeypatch, tmp_path, suite):
    """The VM scenario's negative test as recorded on vm3: ESP from vm2 dropped in the fence's input chain."""
    host = VmNode(suite, 'vm3', ruleset='nft-ruleset-esp-drop-vm2.json')
    ok, result = vm_audit(monkeypatch, suite, 'vm3', host, tmp_path)
    # control_blocked: the recording's fence predates TCP 2377 on every node (see the test above).
    assert ids(result) == [('control_blocked', 'medium'), ('esp_blocked', 'high'), ('table_modified', 'medium')]
    esp = [f for f in result['findings'] if f['id'] == 'esp_blocked'][0]
    assert esp['peers'] == ['192.0.2.12'] and esp['rule'] == 'ip saddr 192.0.2.12 meta l4proto esp counter drop'
    accepted = dict((c['check'], c['accepted']) for c in result['checks'])
    assert accepted['ESP (IP protocol 50) from peer 192.0.2.12'] is False
    assert accepted['ESP (IP protocol 50) from peer 192.0.2.11'] is True


class NodeForBothAudits(FakeNode):
    """The same recorded node, also answering ipsec_audit's `ip xfrm` (no IPsec) and modprobe."""

    def run_command(self, args):
        tool = os.path.basename(args[0])
        if tool == 'ip' and 'xfrm' in args:
            self.commands.append(args)
            return 0, '', ''
        if tool == 'modprobe':
            self.commands.append(args)
            return 1, '', 'modprobe: FATAL: Module not found'
        return super(NodeForBothAudits, self).run_command(args)


class EngineDown:
    def __init__(self, *args, **kwargs):
        raise audit_node.EngineError('Cannot connect to the Docker daemon (recorded lab node: not asked)')


@pytest.mark.parametrize('rec', RECORDINGS)
@pytest.mark.parametrize('ruleset, save', [
    ('worker-shadowed.json', 'worker-shadowed.iptables-save'),
    ('worker-edited.json', 'worker-edited.iptables-save'),
    ('worker-no-table.json', 'worker-no-table.iptables-save'),
])
def test_ipsec_audit_firewall_option_gives_the_same_audit_in_one_call(monkeypatch, rec, ruleset, save, tmp_path):
    """ipsec_audit's `firewall` option (the audit role's one call per node) judges as firewall_audit does."""
    ok, alone = audit(monkeypatch, FakeNode(rec, ruleset, save), tmp_path)
    assert ok and alone['findings'], 'each situation has findings, so the comparison can fail'
    node = NodeForBothAudits(rec, ruleset, save)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, a, **kw: node.run_command(a))
    monkeypatch.setattr(audit_node, 'Engine', EngineDown)
    monkeypatch.setattr(audit_node, 'HAS_DOCKER_SDK', True)
    monkeypatch.setattr(audit_node.socket, 'gethostname', lambda: 'lab-node')
    params = {'probe_kernel': False, 'node_checks': False, 'swarm_view': True,
              'firewall': {'persist_file': str(tmp_path / 'firewall.json')}}
    ok, both = run_main(monkeypatch, ipsec_audit.main, params, check_mode=True)
    assert ok
    assert both['firewall']['findings'] == alone['findings']
    assert both['firewall']['checks'] == alone['checks']
    assert both['firewall']['peers'] == alone['peers']
    # the engine did not answer: the swarm view says so instead of failing the node's audit
    assert both['swarm_view']['view'] is None and 'Cannot connect' in both['swarm_view']['error']
    assert 'engine_unreachable' in [f['id'] for f in both['findings']]
    ok, without = run_main(monkeypatch, ipsec_audit.main, dict(params, firewall=None, swarm_view=False), check_mode=True)
    assert ok and 'firewall' not in without and 'swarm_view' not in without


@pytest.mark.parametrize('said, rc', [('disabled', 1), ('masked', 1), ('', 1)])
def test_a_fence_not_loaded_at_boot_is_high(monkeypatch, tmp_path, said, rc):
    """systemctl disable ironclad-swarm-firewall.service: the node comes up unfenced at its next boot."""
    node = FakeNode(RECORDINGS[-1].values[0], 'manager-fenced.json', 'manager-fenced.iptables-save', 'manager-networks.json')
    node.boot = (said, rc)
    ok, result = audit(monkeypatch, node, tmp_path)
    assert ok
    found = [f for f in result['findings'] if f['id'] == 'boot_unit_disabled']
    assert [f['severity'] for f in found] == ['high']
    assert (said or 'not installed') in found[0]['reason'] and 'site.yml --tags firewall' in found[0]['reason']
    assert result['fence'] == {'table_present': True, 'table_matches': True, 'boot_unit': said or None,
                               'boot_unit_enabled': False, 'vxlan_cleartext_drop': result['fence']['vxlan_cleartext_drop']}


def test_the_boot_unit_is_checked_only_when_the_fence_is_persisted(monkeypatch, tmp_path):
    node = FakeNode(RECORDINGS[-1].values[0], 'manager-fenced.json', 'manager-fenced.iptables-save', 'manager-networks.json')
    node.boot = ('disabled', 1)
    ok, result = audit(monkeypatch, node, tmp_path, persist_file=str(tmp_path / 'absent.json'))
    assert ok and 'boot_unit_disabled' not in [f['id'] for f in result['findings']]
    assert not [c for c in node.commands if os.path.basename(c[0]) == 'systemctl']
    assert result['fence']['boot_unit'] is None and result['fence']['boot_unit_enabled'] is None
    ok, result = audit(monkeypatch, node, tmp_path, boot_unit='')
    assert ok and 'boot_unit_disabled' not in [f['id'] for f in result['findings']]


class LabWorker:
    """`make lab` worker-1 after 5 cleartext VXLAN packets with lab-encrypted's VNI were sent to it from the lab host
    (fixtures/agent/README.md), in the shape of a Recording."""

    version = '26.1'
    FILES = {'ruleset': 'lab-worker-cleartext.nft.json', 'save': 'lab-worker-cleartext.iptables-save',
             'worker-networks.json': 'lab-worker-networks.json', 'worker-ip-addr.json': 'lab-worker-ip-addr.json',
             'persisted-firewall.json': 'lab-persisted-firewall.json'}

    def text(self, name):
        with open(os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'agent', self.FILES[name])) as handle:
            return handle.read()

    def has(self, name):
        return False


def cleartext_findings(result):
    return [f for f in result['findings'] if f['id'] == 'cleartext_vxlan']


@pytest.mark.parametrize('agent_saw, expected', [
    (None, '5 VXLAN packet(s) of encrypted network lab-encrypted reached this node outside IPsec since the fence '
           'began counting'),
    (3, '2 VXLAN packet(s) of encrypted network lab-encrypted reached this node outside IPsec since the node agent\'s '
        'last run'),
    (5, None),
    (9, '5 VXLAN packet(s)'),   # the counter restarted (the rule was made again): all of it is new
])
def test_cleartext_counted_on_an_encrypted_network_is_a_finding(monkeypatch, tmp_path, agent_saw, expected):
    state = tmp_path / 'agent-state.json'
    if agent_saw is not None:
        state.write_text(json.dumps({'readings': {'cleartext': [
            {'network': 'lab-encrypted', 'direction': 'in', 'packets': agent_saw},
            {'network': 'lab-plain', 'direction': 'in', 'packets': 0}]}}))
    monkeypatch.setattr(fence_audit_module, 'AGENT_STATE_FILE', str(state))
    node = FakeNode(LabWorker(), 'ruleset', 'save')
    node.backend = lambda: 'null\n'
    ok, result = audit(monkeypatch, node, tmp_path)
    assert ok
    counted = dict(((c['network'], c['direction']), c['packets']) for c in result['cleartext'])
    assert counted[('lab-encrypted', 'in')] == 5 and counted[('lab-plain', 'in')] == 31
    found = cleartext_findings(result)
    if expected is None:
        assert found == []
    else:
        assert [(f['severity'], f['network']) for f in found] == [('high', 'lab-encrypted')]
        assert found[0]['reason'].startswith(expected), found[0]['reason']
    # The plain network's 31 packets are its traffic, never a finding; nor is any other finding raised here but
    # control_blocked: the recording's fence (a worker's) predates TCP 2377 on every node.
    assert set(f['id'] for f in result['findings']) - {'cleartext_vxlan'} == {'control_blocked'}, ids(result)
    assert [f['severity'] for f in result['findings'] if f['id'] == 'control_blocked'] == ['medium']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_what_the_core_read_from_the_engine_replaces_the_docker_cli(monkeypatch, rec, tmp_path):
    """The audit core (the node agent, ipsec_audit without a network list) hands the fence audit the encrypted
    networks and the firewall backend it read through the engine's API: the same verdict, no docker process."""
    def run(engine):
        node = FakeNode(rec, 'worker-shadowed.json', 'worker-shadowed.iptables-save')
        module = type('Host', (), {})()
        module.run_command = lambda argv, **kw: node.run_command(argv)
        module.get_bin_path = lambda name, *a, **kw: '/usr/sbin/' + name
        module.warn = lambda msg: None
        params = dict((k, v.get('default')) for k, v in fence_audit_module.FIREWALL_ARGUMENT_SPEC.items())
        persist = tmp_path / 'firewall.json'
        persist.write_text(rec.text('persisted-firewall.json'))
        params.update(persist_file=str(persist), data_path_port=4789, node_address='172.27.0.3', fail_on='none')
        if engine is not None:
            params['engine'] = engine
        return fence_audit_module.FirewallAuditModule(module, params).run(), node.commands

    info = Recording('docker', rec.version).json('info.json')
    engine = {'networks': json.loads(rec.text('worker-networks.json')), 'firewall_backend': info.get('FirewallBackend'),
              'control_available': False}
    through_cli, cli_commands = run(None)
    through_api, api_commands = run(engine)
    assert any(os.path.basename(c[0]) == 'docker' for c in cli_commands)
    assert not any(os.path.basename(c[0]) == 'docker' for c in api_commands), api_commands
    for key in ('findings', 'encrypted_vnis', 'docker_firewall_backend', 'checks', 'fence'):
        assert through_api[key] == through_cli[key], key
    assert through_api['encrypted_vnis'] == [4097] and through_api['findings'], 'the shadowed drop is flagged'
