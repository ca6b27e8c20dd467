# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.ipsec_audit on what the container lab recorded (ip xfrm, docker network inspect -v, the ESP probe).

The container-lab tests run on each Docker version: 20.10 (fixtures/xfrm/lab-*, lab `audit-dev`, network
enc1) and 26.1, 28.5 (fixtures/xfrm/docker-VERSION/, lab of record_fixtures.py, network fwsec).
"""

from __future__ import annotations

import gzip
import json
import os

import platforms
import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils.engine import kernel_modules as kernel_modules_helper
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import xfrm as overlay_xfrm
from ansible_collections.ironclad.swarm.plugins.module_utils.audit import node as audit_node
from ansible_collections.ironclad.swarm.plugins.modules import ipsec_audit
from module_harness import run_main

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures')
XFRM = os.path.join(FIXTURES, 'xfrm')
ADDRESSES = {'manager-1': '192.168.48.2', 'worker-1': '192.168.48.3', 'worker-2': '192.168.48.4'}


def recorded(name, directory=XFRM):
    with open(os.path.join(directory, name)) as handle:
        return handle.read()


def recorded_json(name, directory=XFRM):
    return json.loads(recorded(name, directory))


class XfrmLab:
    """One Docker version's container-lab recordings: where, which encrypted network, which addresses."""

    def __init__(self, version, directory, network, addresses):
        self.version = version
        self.dir = directory
        self.network = network
        self.addresses = addresses

    def text(self, node, what):
        return recorded('lab-%s-%s' % (node, what), self.dir)

    def json(self, node, what):
        return json.loads(self.text(node, what))

    def networks(self, node):
        return [self.json(node, 'network-%s.json' % self.network)[0]]


# /proc/net/xfrm_stat of a lab node (kernel 6.18): every counter 0.
LAB_XFRM_STAT = overlay_xfrm.parse_xfrm_stat(recorded('lab-xfrm_stat'))
FW_ADDRESSES = {'manager-1': '172.27.0.2', 'worker-1': '172.27.0.3', 'worker-2': '172.27.0.4'}
XFRM_LABS = [XfrmLab('20.10', XFRM, 'enc1', ADDRESSES)] + [
    XfrmLab(version, os.path.join(XFRM, 'docker-%s' % version), 'fwsec', FW_ADDRESSES) for version in ('26.1', '28.5')]
LAB_NODES = [pytest.param(lab, node, id='docker-%s-%s' % (lab.version, node)) for lab in XFRM_LABS for node in sorted(ADDRESSES)]


class FakeApi:
    def __init__(self, swarm, networks):
        self.swarm = swarm
        self.by_id = dict((n['Id'], n) for n in networks)

    def info(self):
        return {'Name': 'lab-node', 'Swarm': self.swarm}


class FakeEngine:
    """The engine of one lab node, answering with its recorded inspect output."""

    def __init__(self, node, networks, lab=XFRM_LABS[0]):
        self.api = FakeApi(lab.json(node, 'info-swarm.json'), networks)
        self.inspected = []

    def networks(self):
        return [dict((k, n[k]) for k in ('Name', 'Id', 'Driver', 'Options')) for n in self.api.by_id.values()]

    def inspect_network(self, network_id, verbose=False):
        assert verbose, 'the Peers list needs a verbose inspect'
        self.inspected.append(network_id)
        return self.api.by_id.get(network_id)


class FakeNode:
    """`ip` on one lab node: recorded xfrm listings, the recorded probe, nothing else."""

    def __init__(self, node, states=None, lab=XFRM_LABS[0]):
        self.policy = lab.text(node, 'policy.txt')
        self.state = lab.text(node, 'state.txt') if states is None else states
        self.probe = dict((tuple(c['argv'][4:]), (c['rc'], c['stdout'], c['stderr']))
                          for c in recorded_json('lab-probe-esp.json')['calls'])
        self.commands = []

    def run_command(self, args):
        assert isinstance(args, list)
        self.commands.append(args)
        tool, rest = os.path.basename(args[0]), args[1:]
        if tool == 'modprobe':
            return 1, '', 'modprobe: FATAL: Module %s not found' % rest[-1]
        assert tool == 'ip', args
        if rest == ['xfrm', 'policy', 'list']:
            return 0, self.policy, ''
        if rest == ['-s', 'xfrm', 'state', 'list']:
            return 0, self.state, ''
        if rest[:2] in (['netns', 'add'], ['netns', 'delete']):
            return 0, '', ''
        if rest[:2] == ['netns', 'exec']:
            assert rest[3] == '/usr/sbin/ip'
            return self.probe[tuple(rest[4:])]
        raise AssertionError(args)


@pytest.fixture
def lab_kernel(tmp_path):
    """The lab kernel as the module sees it: only /proc/config.gz (recorded in fixtures/kernel)."""
    with open(os.path.join(FIXTURES, 'kernel', 'lab-6.18.44', 'config'), 'rb') as handle:
        config = handle.read()
    path = tmp_path / 'config.gz'
    with gzip.open(str(path), 'wb') as handle:
        handle.write(config)
    return kernel_modules_helper.KernelState.from_system(
        release='6.18.44-fc-v595', proc_modules=str(tmp_path / 'modules'), modules_dir=str(tmp_path / 'lib'),
        proc_config=str(path), boot_dir=str(tmp_path / 'boot'))


def run_module(monkeypatch, node, engine, kernel, **params):
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, a, **kw: node.run_command(a))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(audit_node, 'Engine', lambda *a, **kw: engine)
    monkeypatch.setattr(audit_node, 'HAS_DOCKER_SDK', True)
    monkeypatch.setattr(audit_node.KernelState, 'from_system', classmethod(lambda cls: kernel))
    monkeypatch.setattr(audit_node.socket, 'gethostname', lambda: 'lab-node')
    monkeypatch.setattr(audit_node, 'XFRM_STAT', os.path.join(XFRM, 'lab-xfrm_stat'))
    return run_main(monkeypatch, ipsec_audit.main, params, check_mode=True)


def ids(result):
    return sorted((f['id'], f['severity'], f['network'], f['peer']) for f in result['findings'])


def lab_networks(node):
    return [recorded_json('lab-%s-network-enc1.json' % node)[0]]


@pytest.mark.parametrize('lab, node', LAB_NODES)
def test_lab_kernel_without_esp_is_high_per_encrypted_network(monkeypatch, lab_kernel, lab, node):
    host = FakeNode(node, lab=lab)
    ok, result = run_module(monkeypatch, host, FakeEngine(node, lab.networks(node), lab), lab_kernel)
    assert ok and result['changed'] is False
    assert result['node_address'] == lab.addresses[node]
    assert result['kernel']['esp'] is False and result['kernel']['aes_gcm'] is False
    assert ids(result) == [
        ('kernel_no_aes_gcm', 'high', lab.network, None),
        ('kernel_no_esp', 'high', lab.network, None),
        ('kernel_no_ip_vs', 'medium', None, None),
    ]
    esp = [f for f in result['findings'] if f['id'] == 'kernel_no_esp'][0]
    assert esp['reason'].startswith('kernel lacks ESP: encrypted overlay traffic between nodes on network %s is '
                                    'dropped' % lab.network)
    assert esp['node'] == 'lab-node'
    (network,) = result['networks']
    assert network['joined'] is True and network['vnis'] == [4097]
    others = sorted(set(lab.addresses.values()) - set([lab.addresses[node]]))
    assert [p['address'] for p in network['peers']] == others
    for peer in network['peers']:
        # Docker installed its policies; the kernel refused the SAs.
        assert peer['policy'] is True and peer['sa_out'] is False and peer['sa_in'] is False
        assert peer['status'] == 'no SA (kernel lacks ESP)'
    assert result['xfrm'] == {'policies': 2, 'states': 0, 'sas': [], 'stat': LAB_XFRM_STAT}
    assert result['summary'] == {'high': 2, 'medium': 1, 'low': 0}


class ListFailsEngine(FakeEngine):
    """An engine whose network list fails `fails` times, as Docker's does while a network is being removed."""

    def __init__(self, node, networks, fails):
        super().__init__(node, networks)
        self.fails = fails
        self.lists = 0

    def networks(self):
        self.lists += 1
        if self.lists <= self.fails:
            raise audit_node.EngineError('Cannot list networks: network 3f2a not found')
        return super().networks()


@pytest.mark.parametrize('fails, unreachable', [(1, False), (5, True)])
def test_one_failed_read_of_the_engine_is_read_again(monkeypatch, lab_kernel, fails, unreachable):
    monkeypatch.setattr(audit_node, 'ENGINE_RETRY_S', 0)
    engine = ListFailsEngine('worker-1', lab_networks('worker-1'), fails)
    ok, result = run_module(monkeypatch, FakeNode('worker-1'), engine, lab_kernel)
    assert ok and engine.lists == 2
    found = [f for f in result['findings'] if f['id'] == 'engine_unreachable']
    assert bool(found) is unreachable, result['findings']
    if unreachable:
        assert 'network 3f2a not found' in found[0]['reason']
    else:
        assert ('kernel_no_esp', 'high', 'enc1', None) in ids(result)


def test_fail_on_high_fails_with_the_reasons(monkeypatch, lab_kernel):
    ok, result = run_module(monkeypatch, FakeNode('worker-1'), FakeEngine('worker-1', lab_networks('worker-1')),
                            lab_kernel, fail_on='high')
    assert not ok
    assert result['msg'].startswith('2 finding(s) at or above high: [high] kernel lacks')
    assert result['changed'] is False


def test_fail_on_none_never_fails(monkeypatch, lab_kernel):
    ok, result = run_module(monkeypatch, FakeNode('worker-1'), FakeEngine('worker-1', lab_networks('worker-1')),
                            lab_kernel, fail_on='none')
    assert ok and result['summary']['high'] == 2


def test_network_without_tasks_is_not_joined_not_a_failure(monkeypatch, lab_kernel):
    # enc2 had no task anywhere: the manager lists it without Peers.
    enc2 = recorded_json('lab-manager-1-network-enc2-no-tasks.json')[0]
    ok, result = run_module(monkeypatch, FakeNode('manager-1'), FakeEngine('manager-1', [enc2]), lab_kernel)
    assert ok
    assert result['networks'] == [{'name': 'enc2', 'id': enc2['Id'], 'vnis': [4099], 'joined': False,
                                   'status': 'not joined', 'peers': []}]
    # The kernel still lacks ESP, but no traffic is lost yet: medium, about no network.
    assert ids(result) == [('kernel_no_aes_gcm', 'medium', None, None), ('kernel_no_esp', 'medium', None, None),
                           ('kernel_no_ip_vs', 'medium', None, None)]


def test_network_unknown_to_a_worker_is_not_joined(monkeypatch, lab_kernel):
    assert recorded_json('lab-worker-1-network-enc2-no-tasks.json') == []
    ok, result = run_module(monkeypatch, FakeNode('worker-1'), FakeEngine('worker-1', lab_networks('worker-1')),
                            lab_kernel, networks=['enc1', 'enc2'])
    assert ok
    assert [(n['name'], n['status']) for n in result['networks']] == [('enc1', 'joined'), ('enc2', 'not joined')]
    assert not [f for f in result['findings'] if f['network'] == 'enc2']


def test_plain_networks_are_not_audited(monkeypatch, lab_kernel):
    enc1 = lab_networks('worker-1')[0]
    plain = dict(enc1, Id='plainid', Name='plain1', Options={'com.docker.network.driver.overlay.vxlanid_list': '4098'})
    engine = FakeEngine('worker-1', [enc1, plain])
    ok, result = run_module(monkeypatch, FakeNode('worker-1'), engine, lab_kernel)
    assert [n['name'] for n in result['networks']] == ['enc1']
    assert engine.inspected == [enc1['Id']]


def test_read_only(monkeypatch, lab_kernel):
    host = FakeNode('manager-1')
    run_module(monkeypatch, host, FakeEngine('manager-1', lab_networks('manager-1')), lab_kernel)
    for args in host.commands:
        rest = args[1:]
        if rest[:2] == ['netns', 'exec']:
            # the probe's SA exists only inside its own namespace
            assert rest[2].startswith('ironclad-audit-') and rest[4:7] == ['xfrm', 'state', 'add']
        else:
            assert 'add' not in rest or rest[:2] == ['netns', 'add']
            assert 'flush' not in rest and 'deleteall' not in rest
    assert host.commands[-1][1:3] != ['netns', 'add']
    added = [a[3] for a in host.commands if a[1:3] == ['netns', 'add']]
    deleted = [a[3] for a in host.commands if a[1:3] == ['netns', 'delete']]
    assert added == deleted and len(added) == 1


@pytest.mark.parametrize('lab', [pytest.param(lab, id='docker-%s' % lab.version) for lab in XFRM_LABS])
class TestAuditLogic:
    """The pure audit on the lab's real xfrm listings, with the kernel's verdict varied."""

    kernel_with_esp = {'esp': True, 'aes_gcm': True, 'probe': 'an ESP SA with rfc4106(gcm(aes)) was accepted',
                       'modules': {}}

    def audit(self, lab, node, policies_text, states_text, kernel, port=4789):
        policies = None if policies_text is None else overlay_xfrm.parse_xfrm_policies(policies_text)
        states = None if states_text is None else overlay_xfrm.parse_xfrm_states(states_text)
        networks = [(lab.network, lab.networks(node)[0])]
        return audit_node.IpsecAudit(node, lab.addresses[node], kernel, networks, policies, states, port).run()

    def test_esp_kernel_but_no_sa_is_a_pair_finding_each_way(self, lab):
        report, findings = self.audit(lab, 'worker-1', lab.text('worker-1', 'policy.txt'), '', self.kernel_with_esp)
        manager, worker2 = lab.addresses['manager-1'], lab.addresses['worker-2']
        assert sorted((f['id'], f['peer']) for f in findings) == [
            ('sa_in_missing', manager), ('sa_in_missing', worker2),
            ('sa_out_missing', manager), ('sa_out_missing', worker2)]
        assert all(f['severity'] == 'high' and f['network'] == lab.network for f in findings)
        assert [p['status'] for p in report[0]['peers']] == ['no SA out, no SA in'] * 2

    def test_missing_policy_is_named_per_peer(self, lab):
        report, findings = self.audit(lab, 'worker-2', '', '', self.kernel_with_esp)
        assert sorted(f['peer'] for f in findings if f['id'] == 'policy_missing') == [
            lab.addresses['manager-1'], lab.addresses['worker-1']]
        assert report[0]['peers'][0]['status'].startswith('no policy')

    def test_other_data_path_port_does_not_match_dockers_policies(self, lab):
        report, findings = self.audit(lab, 'worker-1', lab.text('worker-1', 'policy.txt'), '', self.kernel_with_esp,
                                      port=7789)
        assert set(f['id'] for f in findings) == set(['policy_missing', 'sa_out_missing', 'sa_in_missing'])

    def test_unreadable_xfrm_is_high_and_pairs_unknown(self, lab):
        report, findings = self.audit(lab, 'worker-1', None, None, self.kernel_with_esp)
        assert [f['id'] for f in findings] == ['xfrm_unreadable']
        assert [p['status'] for p in report[0]['peers']] == ['unknown (ip xfrm unreadable)'] * 2


class TestWithRealSas:
    """SAs as the VM lab's kernel (with ESP) lists them; the engine's view is reduced to its Peers."""

    kernel = {'esp': True, 'aes_gcm': True, 'probe': 'an ESP SA with rfc4106(gcm(aes)) was accepted', 'modules': {}}
    # docker network inspect -v lists every node of the network under Peers (see lab-*-network-enc1.json).
    network = {'Id': 'vmnet', 'Name': 'enc1', 'Driver': 'overlay',
               'Options': {'encrypted': '', 'com.docker.network.driver.overlay.vxlanid_list': '4097'},
               'Peers': [{'Name': 'a1', 'IP': '192.0.2.11'}, {'Name': 'a2', 'IP': '192.0.2.12'}]}

    def audit(self, states_file, port=4789):
        policies = overlay_xfrm.parse_xfrm_policies(recorded('vm-netns-policy.txt'))
        states = overlay_xfrm.parse_xfrm_states(recorded(states_file))
        return audit_node.IpsecAudit('vm2', '192.0.2.12', self.kernel, [('enc1', self.network)], policies, states,
                                     port).run()

    def test_sa_both_ways_and_policy_is_clean(self):
        report, findings = self.audit('vm-netns-state-s.txt')
        assert findings == []
        (peer,) = report[0]['peers']
        assert peer == {'address': '192.0.2.11', 'policy': True, 'sa_out': True, 'sa_in': True,
                        'spis_out': ['0x4d2c1a01'], 'spis_in': ['0x5e3d2b02'], 'bytes_out': 0, 'bytes_in': 0,
                        'packets_out': 0, 'packets_in': 0, 'status': 'ok'}

    def test_same_sas_seen_from_the_other_node(self):
        policies = []  # the other node's policy was not recorded: only the SAs are judged here
        states = overlay_xfrm.parse_xfrm_states(recorded('vm-netns-state-s.txt'))
        report, findings = audit_node.IpsecAudit('vm1', '192.0.2.11', self.kernel, [('enc1', self.network)],
                                                 policies, states, 4789).run()
        (peer,) = report[0]['peers']
        assert (peer['sa_out'], peer['sa_in'], peer['spis_out'], peer['spis_in']) == (
            True, True, ['0x5e3d2b02'], ['0x4d2c1a01'])
        assert [f['id'] for f in findings] == ['policy_missing']


VM_ADDRESSES = {'vm1': '192.0.2.11', 'vm2': '192.0.2.12', 'vm3': '192.0.2.13'}


class TestDockerSasOnTheVmLab:
    """What Docker 20.10 itself programmed on the VM lab (Debian 12 kernel with ESP), keys redacted."""

    kernel = TestWithRealSas.kernel

    def audit(self, node, drop=None):
        policies = overlay_xfrm.parse_xfrm_policies(recorded('%s-docker-policy.txt' % node))
        states = overlay_xfrm.parse_xfrm_states(recorded('%s-docker-state-s.txt' % node))
        if drop:
            states = [s for s in states if (s['src'], s['dst']) != drop]
        network = recorded_json('%s-docker-network-vm-enc.json' % node)[0]
        assert recorded_json('%s-docker-info-swarm.json' % node)['NodeAddr'] == VM_ADDRESSES[node]
        return audit_node.IpsecAudit(node, VM_ADDRESSES[node], self.kernel, [('vm-enc', network)], policies, states,
                                     4789).run()

    @pytest.mark.parametrize('node', sorted(VM_ADDRESSES))
    def test_every_pair_has_policy_and_sas_both_ways(self, node):
        report, findings = self.audit(node)
        assert findings == []
        (network,) = report
        assert network['joined'] and network['vnis'] == [4097]
        assert sorted(p['address'] for p in network['peers']) == sorted(set(VM_ADDRESSES.values()) - {VM_ADDRESSES[node]})
        assert all(p['status'] == 'ok' and p['spis_out'] and p['spis_in'] for p in network['peers'])

    def test_spis_agree_between_the_two_ends(self):
        """What one node sends with is what the other receives with (Docker keeps several inbound keys)."""
        views = dict((node, dict((p['address'], p) for p in self.audit(node)[0][0]['peers'])) for node in VM_ADDRESSES)
        for a, b in (('vm1', 'vm2'), ('vm1', 'vm3'), ('vm2', 'vm3')):
            a_to_b = views[a][VM_ADDRESSES[b]]
            b_from_a = views[b][VM_ADDRESSES[a]]
            assert set(a_to_b['spis_out']) <= set(b_from_a['spis_in']), (a, b)
            assert set(b_from_a['spis_out']) <= set(a_to_b['spis_in']), (b, a)

    def test_one_missing_direction_is_flagged_for_that_pair_only(self):
        report, findings = self.audit('vm2', drop=('192.0.2.13', '192.0.2.12'))
        assert [(f['id'], f['severity'], f['peer'], f['network']) for f in findings] == [
            ('sa_in_missing', 'high', '192.0.2.13', 'vm-enc')]
        statuses = dict((p['address'], p['status']) for p in report[0]['peers'])
        assert statuses == {'192.0.2.11': 'ok', '192.0.2.13': 'no SA in'}


# What Docker 26.1 (Debian 13, kernel 6.12) and Docker 28.5 (Debian testing, kernel 7.2)
# programmed on the VM lab: fixtures/xfrm/<suite>/, recorded by tests/vm/record-fixtures.sh.
# Each suite's Docker version comes from molecule/shared/platforms.json.
SUITE_DOCKER = platforms.suite_docker()
RECORDED_SUITES = [s for s in sorted(SUITE_DOCKER) if os.path.isdir(os.path.join(XFRM, s))]


def suite_recorded(suite, name):
    return recorded(os.path.join(suite, name))


@pytest.mark.parametrize('suite', RECORDED_SUITES)
class TestDockerSasPerSuite:
    """The bookworm VM lab's assertions (TestDockerSasOnTheVmLab) on newer engines and kernels."""

    kernel = TestWithRealSas.kernel

    def audit(self, suite, node, drop=None, state_file='docker-state-s.txt'):
        policies = overlay_xfrm.parse_xfrm_policies(suite_recorded(suite, '%s-docker-policy.txt' % node))
        states = overlay_xfrm.parse_xfrm_states(suite_recorded(suite, '%s-%s' % (node, state_file)))
        if drop:
            states = [s for s in states if (s['src'], s['dst']) != drop]
        network = json.loads(suite_recorded(suite, '%s-docker-network-vm-enc.json' % node))[0]
        assert json.loads(suite_recorded(suite, '%s-docker-info-swarm.json' % node))['NodeAddr'] == VM_ADDRESSES[node]
        return audit_node.IpsecAudit(node, VM_ADDRESSES[node], self.kernel, [('vm-enc', network)], policies, states,
                                     4789).run()

    def test_recorded_on_the_engine_it_claims(self, suite):
        for node in VM_ADDRESSES:
            versions = suite_recorded(suite, '%s-versions.txt' % node)
            assert 'docker: %s.' % SUITE_DOCKER[suite] in versions, versions

    @pytest.mark.parametrize('node', sorted(VM_ADDRESSES))
    def test_every_pair_has_policy_and_sas_both_ways(self, suite, node):
        report, findings = self.audit(suite, node)
        assert findings == []
        (network,) = report
        assert network['joined'] and network['vnis'] == [4097]
        assert sorted(p['address'] for p in network['peers']) == sorted(set(VM_ADDRESSES.values()) - {VM_ADDRESSES[node]})
        assert all(p['status'] == 'ok' and p['spis_out'] and p['spis_in'] for p in network['peers'])

    @pytest.mark.parametrize('node', sorted(VM_ADDRESSES))
    def test_plain_listing_gives_the_same_pairs(self, suite, node):
        """`ip xfrm state` without -s: the same SAs and SPIs, only the counters are unknown."""
        with_s = self.audit(suite, node)[0][0]['peers']
        plain, findings = self.audit(suite, node, state_file='docker-state.txt')
        assert findings == []
        assert [(p['address'], sorted(p['spis_out']), sorted(p['spis_in'])) for p in plain[0]['peers']] == [
            (p['address'], sorted(p['spis_out']), sorted(p['spis_in'])) for p in with_s]
        assert all(p['bytes_out'] is None and p['bytes_in'] is None for p in plain[0]['peers'])

    def test_sas_are_docker_aes_gcm_transport_and_keys_are_not_kept(self, suite):
        states = overlay_xfrm.parse_xfrm_states(suite_recorded(suite, 'vm2-docker-state-s.txt'))
        assert states and all(s['proto'] == 'esp' and s['mode'] == 'transport' and s['reqid'] == 0xd0c4e3
                              and s['algorithm'] == 'rfc4106(gcm(aes))' for s in states)
        assert all(isinstance(s['bytes'], int) for s in states)
        assert 'REDACTED' not in repr(states)

    def test_spis_agree_between_the_two_ends(self, suite):
        views = dict((node, dict((p['address'], p) for p in self.audit(suite, node)[0][0]['peers']))
                     for node in VM_ADDRESSES)
        for a, b in (('vm1', 'vm2'), ('vm1', 'vm3'), ('vm2', 'vm3')):
            a_to_b = views[a][VM_ADDRESSES[b]]
            b_from_a = views[b][VM_ADDRESSES[a]]
            assert set(a_to_b['spis_out']) <= set(b_from_a['spis_in']), (a, b)
            assert set(b_from_a['spis_out']) <= set(a_to_b['spis_in']), (b, a)

    def test_one_missing_direction_is_flagged_for_that_pair_only(self, suite):
        report, findings = self.audit(suite, 'vm2', drop=('192.0.2.13', '192.0.2.12'))
        assert [(f['id'], f['severity'], f['peer'], f['network']) for f in findings] == [
            ('sa_in_missing', 'high', '192.0.2.13', 'vm-enc')]
        statuses = dict((p['address'], p['status']) for p in report[0]['peers'])
        assert statuses == {'192.0.2.11': 'ok', '192.0.2.13': 'no SA in'}
