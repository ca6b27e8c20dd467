# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fence's per-network cleartext rules (fence/cleartext.py), on what nft and Docker listed in the lab.

- fixtures/nft/docker-*/: the fence as swarm_firewall applies it (chains empty) and `docker network
  inspect` of the recorder's lab (fwsec encrypted VNI 4097, fwplain VNI 4098, ingress 4096);
- fixtures/agent/lab-fence-counted.json: `nft -j list table inet ironclad_swarm` on a `make lab` worker
  after the node agent kept the rules and the demo service's traffic crossed the nodes (README there);
- fixtures/agent/table-fenced-before-cleartext.json: the fence of the release before these chains.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import audit_module as fence_audit_module
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import iptables as fence_iptables
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import cleartext as fence_cleartext
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import evaluate as fence_evaluate
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import nftio as fence_nftio
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import spec as fence_spec
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import options as overlay_options
from recordings import versions

RECORDINGS = versions('nft')
AGENT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), 'fixtures', 'agent')
LAB_ENTRIES = [(4096, 'ingress', False), (4097, 'fwsec', True), (4098, 'fwplain', False)]


def agent_fixture(name):
    with open(os.path.join(AGENT, name)) as handle:
        return handle.read()


def table(text):
    return fence_nftio.table_objects(fence_nftio.parse_ruleset(text))


def learned(objects):
    return [(r['chain'], r.get('comment'), [next(iter(e)) for e in r['expr']]) for r in fence_cleartext.learned_rules(objects)]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_overlay_networks_and_their_vnis_from_dockers_inspect(rec):
    entries = fence_cleartext.overlay_entries(json.loads(rec.text('manager-networks.json')))
    assert entries == LAB_ENTRIES


def test_a_network_not_yet_allocated_or_not_overlay_is_left_out():
    networks = [{'Name': 'new', 'Driver': 'overlay', 'Options': {'encrypted': ''}},
                {'Name': 'bridge', 'Driver': 'bridge', 'Options': {}},
                {'Name': 'enc', 'Driver': 'overlay', 'Options': {'encrypted': '', overlay_options.VXLANID_KEY: '4100'}}]
    # Docker treats `encrypted` as set whatever its value, '' included.
    assert fence_cleartext.overlay_entries(networks) == [(4100, 'enc', True)]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_the_applied_fence_has_the_chains_and_nothing_learned_yet(rec):
    objects = table(rec.text('table-fenced.json'))
    chains = set(o['chain']['name'] for o in objects if 'chain' in o)
    assert set(fence_spec.LEARNED_CHAINS) | {fence_spec.OUTPUT_CHAIN} <= chains
    assert fence_cleartext.learned_rules(objects) == [] and fence_cleartext.cleartext_counts(objects) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_sync_adds_one_rule_per_network_and_direction_dropping_only_encrypted(rec):
    batch = fence_cleartext.sync_cleartext_batch(table(rec.text('table-fenced.json')), LAB_ENTRIES)
    added = [cmd['add']['rule'] for cmd in batch['nftables']]
    assert all('add' in cmd for cmd in batch['nftables'])
    assert [(r['chain'], r['comment'], 'drop' in [next(iter(e)) for e in r['expr']]) for r in added] == [
        ('cleartext_in', 'ingress plain', False), ('cleartext_in', 'fwsec encrypted', True),
        ('cleartext_in', 'fwplain plain', False),
        ('cleartext_out', 'ingress plain', False), ('cleartext_out', 'fwsec encrypted', True),
        ('cleartext_out', 'fwplain plain', False)]


def test_a_fence_of_the_previous_release_or_no_fence_is_left_alone():
    previous = table(agent_fixture('table-fenced-before-cleartext.json'))
    assert previous is not None
    assert fence_cleartext.sync_cleartext_batch(previous, LAB_ENTRIES) is None
    assert fence_cleartext.sync_cleartext_batch(None, LAB_ENTRIES) is None


def test_rules_in_step_are_not_touched_and_stale_ones_go():
    live = table(agent_fixture('lab-fence-counted.json'))
    entries = [(c['vni'], c['network'], c['encrypted']) for c in fence_cleartext.cleartext_counts(live) if c['direction'] == 'in']
    assert entries, 'the recording has learned rules'
    assert fence_cleartext.sync_cleartext_batch(live, entries) is None
    # The encrypted network removed and its VNI given to a plain one: the old rule must go, or the plain
    # network's packets would be dropped.
    encrypted = [e for e in entries if e[2]][0]
    changed = [e for e in entries if e != encrypted] + [(encrypted[0], 'reused', False)]
    batch = fence_cleartext.sync_cleartext_batch(live, sorted(changed))
    deleted = [cmd['delete']['rule']['handle'] for cmd in batch['nftables'] if 'delete' in cmd]
    assert sorted(deleted) == sorted(r['handle'] for r in fence_cleartext.learned_rules(live))
    added = [cmd['add']['rule'] for cmd in batch['nftables'] if 'add' in cmd]
    reused = [r for r in added if r['comment'] == 'reused plain']
    assert len(reused) == 2 and not any('drop' in e for r in reused for e in r['expr'])


def test_counts_read_from_the_lab_say_which_network_and_direction():
    counts = fence_cleartext.cleartext_counts(table(agent_fixture('lab-fence-counted.json')))
    by = dict(((c['network'], c['direction']), c) for c in counts)
    assert by[('lab-plain', 'in')]['packets'] > 0 and by[('lab-plain', 'out')]['packets'] > 0
    assert by[('lab-plain', 'in')]['encrypted'] is False and by[('lab-encrypted', 'in')]['encrypted'] is True
    assert all(c['bytes'] >= c['packets'] for c in counts)


def test_learned_rules_are_outside_the_canonical_table_and_carried_over_a_replace():
    live = table(agent_fixture('lab-fence-counted.json'))
    without = [o for o in live if not ('rule' in o and o['rule']['chain'] in fence_spec.LEARNED_CHAINS)]
    assert fence_nftio.canonical_table(live) == fence_nftio.canonical_table(without)
    carried = fence_cleartext.carried_rules(live)
    assert [(r['rule']['chain'], r['rule']['comment']) for r in carried] == [
        (r['chain'], r['comment']) for r in fence_cleartext.learned_rules(live)]
    assert all('handle' not in r['rule'] and {'counter': None} in r['rule']['expr'] for r in carried)


@pytest.mark.parametrize('rec', RECORDINGS)
def test_the_recorded_fence_holds_what_the_agent_learned_and_drops_only_the_encrypted_networks_cleartext(rec):
    objects = fence_nftio.parse_ruleset(rec.text('manager-fenced.json'))
    assert fence_cleartext.sync_cleartext_batch(fence_nftio.table_objects(objects), LAB_ENTRIES) is None, 'the agent left them in step'
    rs = fence_evaluate.ruleset_from_nft(objects)
    fence_iptables.merge_into(rs, fence_iptables.parse_save(rec.text('manager-fenced.iptables-save'), 'ip'))
    peer = '172.27.0.3'
    sec = fence_evaluate.evaluate(rs, fence_evaluate.Packet(peer, '172.27.0.2', 'udp', 4789, vni=4097))
    plain = fence_evaluate.evaluate(rs, fence_evaluate.Packet(peer, '172.27.0.2', 'udp', 4789, vni=4098))
    assert sec.accepted is False and sec.where == 'inet ironclad_swarm cleartext_in'
    assert sec.rule_text == '@th,96,24 4097 counter drop'
    assert plain.accepted is True


def test_keep_cleartext_rules_writes_once_then_nothing():
    class Host:
        def __init__(self, listing):
            self.listing = listing
            self.batches = []

        def get_bin_path(self, name, opt_dirs=None):
            return '/usr/sbin/nft'

        def run_command(self, argv, data=None):
            if argv[1:3] == ['-j', 'list']:
                return 0, self.listing, ''
            self.batches.append(json.loads(data))
            return 0, '', ''

    host = Host(agent_fixture('lab-fence-counted.json'))
    live = table(host.listing)
    entries = [(c['vni'], c['network'], c['encrypted']) for c in fence_cleartext.cleartext_counts(live) if c['direction'] == 'in']
    assert fence_audit_module.keep_cleartext_rules(host, entries) == {'changed': False,
                                                                      'networks': [e[1] for e in entries],
                                                                      'error': None}
    assert host.batches == []
    done = fence_audit_module.keep_cleartext_rules(host, entries[:-1])
    assert done['changed'] is True and len(host.batches) == 1
