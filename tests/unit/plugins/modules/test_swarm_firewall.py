# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.swarm_firewall against a simulated nft that lists what it was given, as the lab's did.

The tests that read the lab's listings run on each recorded nftables version (fixtures/nft/docker-*/:
nftables 1.0.6, 1.1.3 and 1.1.7).
"""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils import _nft
from ansible_collections.ironclad.swarm.plugins.modules import swarm_firewall
from module_harness import run_main
from recordings import versions

RECORDINGS = versions('nft')
NFT = '/usr/sbin/nft'
PEERS = ['172.27.0.2', '172.27.0.3', '172.27.0.4']


class FakeNft:
    """Holds one table; `list table` answers with the recorded listing when it is the lab's table."""

    def __init__(self, listing=None):
        self.listing = listing     # nft -j output text, or None: no table
        self.commands = []

    def run_command(self, args, data=None, **kwargs):
        assert isinstance(args, list), 'commands must be argv lists'
        self.commands.append((args, data))
        if args[1:] == ['-j', 'list', 'table', 'inet', 'ironclad_swarm']:
            if self.listing is None:
                return 1, '', 'Error: No such file or directory\nlist table inet ironclad_swarm\n'
            return 0, self.listing, ''
        if args[1:] == ['-j', '-c', '-f', '-']:
            return 0, '', ''
        if args[1:] == ['-j', '-f', '-']:
            batch = json.loads(data)
            if batch['nftables'][0].get('delete') and len(batch['nftables']) == 1:
                self.listing = None
            else:
                objs = _nft.table_objects_from_batch(batch)
                self.listing = json.dumps({'nftables': [{'metainfo': {'version': '1.0.6'}}] + objs})
            return 0, '', ''
        raise AssertionError('unexpected command %r' % args)

    @property
    def applied(self):
        return [cmd[0] for cmd in self.commands if cmd[0][1:] == ['-j', '-f', '-']]

    @property
    def checked(self):
        return [cmd[0] for cmd in self.commands if cmd[0][1:] == ['-j', '-c', '-f', '-']]


def run_module(monkeypatch, nft, args, check_mode=False, diff=False, env=None):
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, args, **kw: nft.run_command(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, *a, **kw: NFT if name == 'nft' else None)
    monkeypatch.delenv('SSH_CONNECTION', raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    return run_main(monkeypatch, swarm_firewall.main, args, check_mode, diff)


@pytest.fixture
def persist(tmp_path):
    return str(tmp_path / 'etc' / 'ironclad-swarm' / 'firewall.json')


def lab(persist, **extra):
    args = {'peers': PEERS, 'managers': ['172.27.0.2'], 'persist_file': persist}
    args.update(extra)
    return args


@pytest.mark.parametrize('rec', RECORDINGS)
def test_four_ways_apply_then_nothing(monkeypatch, persist, rec):
    nft = FakeNft()
    ok, result = run_module(monkeypatch, nft, lab(persist), check_mode=True, diff=True)
    assert ok and result['changed']
    assert nft.applied == [] and len(nft.checked) == 1
    assert not os.path.exists(persist)
    assert result['diff'][0]['before'] == '' and 'set peers4' in result['diff'][0]['after']
    assert result['differences'] == ['the table is missing']

    ok, result = run_module(monkeypatch, nft, lab(persist))
    assert ok and result['changed'] and len(nft.applied) == 1
    assert result['rules'] == 13 and result['elements'] == 4
    assert json.load(open(persist)) == json.loads(rec.text('persisted-firewall.json'))

    ok, result = run_module(monkeypatch, nft, lab(persist))
    assert ok and not result['changed'] and len(nft.applied) == 1
    ok, result = run_module(monkeypatch, nft, lab(persist), check_mode=True, diff=True)
    assert ok and not result['changed'] and 'diff' not in result


@pytest.mark.parametrize('rec', RECORDINGS)
def test_recorded_table_is_unchanged(monkeypatch, persist, rec):
    os.makedirs(os.path.dirname(persist))
    with open(persist, 'w') as handle:
        handle.write(rec.text('persisted-firewall.json'))
    nft = FakeNft(rec.text('table-fenced.json'))
    ok, result = run_module(monkeypatch, nft, lab(persist, peers=list(reversed(PEERS))))
    assert ok and not result['changed'] and result['differences'] == []
    assert nft.checked == [] and nft.applied == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_hand_edit_restored(monkeypatch, persist, rec):
    edited = _nft.table_objects(_nft.parse_ruleset(rec.text('worker-edited.json')))
    nft = FakeNft(json.dumps({'nftables': edited}))
    ok, result = run_module(monkeypatch, nft, lab(persist), diff=True)
    assert ok and result['changed']
    assert result['differences'] == ['chain swarm_peer lacks the rule "meta l4proto esp counter accept"']
    assert 'meta l4proto esp counter accept' in result['diff'][0]['after']
    assert 'meta l4proto esp counter accept' not in result['diff'][0]['before']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_new_node_changes_set_elements_only(monkeypatch, persist, rec):
    nft = FakeNft(rec.text('table-fenced.json'))
    ok, result = run_module(monkeypatch, nft, lab(persist, peers=PEERS + ['172.27.0.5']))
    assert ok and result['changed']
    assert result['differences'] == ['set peers4 lacks 172.27.0.5']
    assert result['rules'] == 13


@pytest.mark.parametrize('extra, field, message', [
    ({'peers': ['172.27.0.2', 'node-3']}, 'peers[1]',
     "peers[1]: 'node-3' is not an IP address or CIDR network (such as 203.0.113.10 or 2001:db8::/64)"),
    ({'peers': []}, 'peers', 'peers: is empty: the fence would drop the swarm ports from every host and cut the cluster '
                             'apart; list the addresses of every swarm node (this one included)'),
    ({'ssh_ports': [0]}, 'ssh_ports[0]', 'ssh_ports[0]: 0 is out of range: use 1 to 65535'),
    ({'input_policy': 'drop', 'ssh_ports': []}, 'ssh_ports',
     'ssh_ports: is empty while input_policy=drop: SSH would be cut off; list the port sshd listens on (default 22)'),
])
def test_bad_input_fails_before_nft_runs(monkeypatch, persist, extra, field, message):
    nft = FakeNft(RECORDINGS[0].values[0].text('table-fenced.json'))
    ok, result = run_module(monkeypatch, nft, lab(persist, **extra))
    assert not ok
    assert result['msg'] == message and result['field'] == field
    assert nft.commands == []


def test_unknown_protocol_refused_by_argument_spec(monkeypatch, persist):
    nft = FakeNft()
    ok, result = run_module(monkeypatch, nft, lab(persist, allow=[{'port': 443, 'protocol': 'sctp'}]))
    assert not ok and 'protocol' in result['msg'] and 'sctp' in result['msg']
    assert nft.commands == []


def test_ssh_connection_port_must_stay_open(monkeypatch, persist):
    nft = FakeNft()
    ok, result = run_module(monkeypatch, nft, lab(persist, input_policy='drop'),
                            env={'SSH_CONNECTION': '198.51.100.7 50022 203.0.113.10 2222'})
    assert not ok and result['field'] == 'ssh_ports'
    assert '2222, the port of the SSH connection running this task' in result['msg']
    assert nft.commands == []


def test_absent_deletes_table_and_file(monkeypatch, persist):
    nft = FakeNft()
    run_module(monkeypatch, nft, lab(persist))
    ok, result = run_module(monkeypatch, nft, {'state': 'absent', 'persist_file': persist})
    assert ok and result['changed'] and nft.listing is None and not os.path.exists(persist)
    ok, result = run_module(monkeypatch, nft, {'state': 'absent', 'persist_file': persist})
    assert ok and not result['changed']
