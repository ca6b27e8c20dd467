# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fence/spec.py, nftio.py, evaluate.py and iptables.py against `nft -j` and `iptables-save` outputs recorded in the lab.

Every test that reads a recording runs once per Docker version (fixtures/nft/docker-*/, see
recordings.py): 20.10 with nftables 1.0.6 and iptables 1.8.9, 26.1 with 1.1.3 and 1.8.11, 28.5
with 1.1.7 and 1.8.13.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import iptables as fence_iptables
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import evaluate as fence_evaluate
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import nftio as fence_nftio
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import spec as fence_spec
from recordings import versions

LAB_PEERS = ['172.27.0.2', '172.27.0.3', '172.27.0.4']
MANAGER, WORKER1, WORKER2 = LAB_PEERS
RECORDINGS = versions('nft')

# What really differs between the versions.
# The xt match Docker singles out an encrypted network's VXLAN with: u32 until 23, bpf after.
VXLAN_MATCH = {'20.10': 'u32', '26.1': 'bpf', '28.5': 'bpf'}
# Docker's INPUT rules per encrypted network (index in filter INPUT): 20.10 writes a drop outside
# IPsec and an accept through it; 26.1 and 28.5 the drop only.
DOCKER_VXLAN_RULES = {
    '20.10': {4097: {'drop': 0, 'accept': 1}},
    '26.1': {4097: {'drop': 0}},
    '28.5': {4097: {'drop': 0}},
}


def lab_params(**extra):
    params = {'peers': list(LAB_PEERS), 'managers': [MANAGER], 'ssh_ports': [22], 'data_path_port': 4789,
              'drop_unencrypted_vxlan': False, 'input_policy': 'accept', 'allow': [], 'allow_icmp': True,
              'priority': -10}
    params.update(extra)
    return params


def canon_desired(**extra):
    return fence_nftio.canonical_table(fence_spec.desired_objects(fence_spec.build_spec(lab_params(**extra))))


def canon_recorded(rec, name):
    return fence_nftio.canonical_table(fence_nftio.table_objects(fence_nftio.parse_ruleset(rec.text(name))))


def full_ruleset(rec, nft_name, save_name=None):
    rs = fence_evaluate.ruleset_from_nft(fence_nftio.parse_ruleset(rec.text(nft_name)))
    if save_name:
        fence_iptables.merge_into(rs, fence_iptables.parse_save(rec.text(save_name), 'ip'))
    return rs


# --- the desired table is exactly what nft lists back -------------------------------------------

@pytest.mark.parametrize('rec', RECORDINGS)
def test_desired_table_equals_what_nft_listed_in_the_lab(rec):
    assert canon_desired() == canon_recorded(rec, 'table-fenced.json')


@pytest.mark.parametrize('rec', RECORDINGS)
def test_policy_drop_variant_equals_what_nft_listed_in_the_lab(rec):
    desired = canon_desired(peers=LAB_PEERS + ['2001:db8::/64'], input_policy='drop', allow_icmp=False,
                            drop_unencrypted_vxlan=True, allow=[{'port': 443}, {'port': 443, 'protocol': 'udp'}])
    assert desired == canon_recorded(rec, 'table-policy-drop.json')
    text = fence_nftio.render_table(desired)
    assert 'udp dport 4789 meta ipsec missing counter drop' in text
    assert 'policy drop;' in text


@pytest.mark.parametrize('rec', RECORDINGS)
def test_persisted_batch_holds_the_same_table(rec):
    batch = json.loads(rec.text('persisted-firewall.json'))
    assert batch['nftables'][0] == {'add': {'table': {'family': 'inet', 'name': 'ironclad_swarm'}}}
    assert batch['nftables'][1] == {'delete': {'table': {'family': 'inet', 'name': 'ironclad_swarm'}}}
    assert fence_nftio.canonical_table(fence_nftio.table_objects_from_batch(batch)) == canon_recorded(rec, 'table-fenced.json')
    assert fence_nftio.replace_batch(fence_spec.desired_objects(fence_spec.build_spec(lab_params()))) == batch


@pytest.mark.parametrize('count', [10, 100, 1000])
def test_rule_count_does_not_grow_with_peers(count):
    peers = [str(ipaddress.ip_address('10.0.0.1') + i) for i in range(count)]
    canon = fence_nftio.canonical_table(fence_spec.desired_objects(fence_spec.build_spec(lab_params(peers=peers, managers=peers[:3]))))
    assert fence_nftio.rule_count(canon) == fence_nftio.rule_count(canon_desired())
    assert len(canon['sets']['peers4']['elem']) == count


def test_element_spelling_does_not_make_a_difference():
    # IPv6 written long, a host inside a network, duplicates: canonically the same table.
    one = canon_desired(peers=LAB_PEERS + ['2001:0db8:0000::0001', '10.0.0.0/8', '10.1.2.3', MANAGER])
    two = canon_desired(peers=['10.0.0.0/8', '2001:db8::1'] + list(reversed(LAB_PEERS)))
    assert one == two
    assert one['sets']['peers4']['elem'] == ['10.0.0.0/8'] + LAB_PEERS


# --- bad input names the field ------------------------------------------------------------------

@pytest.mark.parametrize('extra, field, words', [
    ({'peers': LAB_PEERS + ['not-an-ip']}, 'peers[3]', 'is not an IP address or CIDR network'),
    ({'peers': LAB_PEERS + ['10.0.0.5/24']}, 'peers[3]', 'has host bits set'),
    ({'managers': ['300.1.1.1']}, 'managers[0]', 'is not an IP address'),
    ({'peers': [], 'managers': []}, 'peers', 'cut the cluster apart'),
    ({'ssh_ports': [70000]}, 'ssh_ports[0]', 'out of range'),
    ({'ssh_ports': [7946]}, 'ssh_ports', 'is a swarm port'),
    ({'data_path_port': 80}, 'data_path_port', 'out of range: use 1024 to 49151'),
    ({'data_path_port': 2377}, 'data_path_port', 'is a swarm port itself'),
    ({'allow': [{'port': 443, 'protocol': 'icmp'}]}, 'allow[0].protocol', "'icmp' is not a known protocol"),
    ({'allow': [{'port': 0}]}, 'allow[0].port', 'out of range'),
    ({'allow': [{'port': 4789, 'protocol': 'udp'}]}, 'allow', 'is a swarm port'),
    ({'input_policy': 'reject'}, 'input_policy', 'is not accept or drop'),
])
def test_bad_input_names_the_field(extra, field, words):
    with pytest.raises(fence_spec.FieldError) as info:
        fence_spec.build_spec(lab_params(**extra))
    assert info.value.field == field
    assert str(info.value).startswith(field + ': ')
    assert words in str(info.value)


# --- canonical comparison and plain-words differences ------------------------------------------------

@pytest.mark.parametrize('rec', RECORDINGS)
def test_hand_deleted_rule_is_named(rec):
    live = canon_recorded(rec, 'worker-edited.json')
    expected = canon_desired()
    assert live != expected
    assert fence_nftio.table_differences(live, expected) == ['chain swarm_peer lacks the rule "meta l4proto esp counter accept"']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_missing_table(rec):
    assert fence_nftio.table_objects(fence_nftio.parse_ruleset(rec.text('worker-no-table.json'))) is None
    assert fence_nftio.table_differences(None, canon_desired()) == ['the table is missing']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_changed_peer_set_changes_elements_only(rec):
    live = canon_recorded(rec, 'table-fenced.json')
    wanted = canon_desired(peers=LAB_PEERS + ['172.27.0.9'])
    assert fence_nftio.table_differences(live, wanted) == ['set peers4 lacks 172.27.0.9']


# --- iptables-save --------------------------------------------------------------------------------

@pytest.mark.parametrize('rec', RECORDINGS)
def test_iptables_save_docker_vxlan_rules(rec):
    save = fence_iptables.parse_save(rec.text('manager-fenced.iptables-save'))
    assert save.backend == 'nf_tables'
    assert fence_iptables.docker_vxlan_rules(save) == DOCKER_VXLAN_RULES[rec.version]
    argv = save.tables['filter']['INPUT']['rules'][0]
    assert '--' + {'u32': 'u32', 'bpf': 'bytecode'}[VXLAN_MATCH[rec.version]] in argv
    rule = fence_iptables.rule_from_argv(argv, 'ip', 'filter', 'INPUT', {})
    assert rule.verdict == 'drop'
    assert [(c.key, c.value) for c in rule.conds if c.key == 'ipsec'] == [('ipsec', False)]
    (payload,) = [c.value for c in rule.conds if c.key == 'payload']
    assert type(payload).__name__ == {'u32': 'U32', 'bpf': 'Bpf'}[VXLAN_MATCH[rec.version]]
    # the VNI is what running the match shows, not a pattern
    assert fence_iptables.rule_vni(rule) == 4097
    assert payload.matches(fence_evaluate.Packet(WORKER1, MANAGER, 'udp', 4789, vni=4097)) is True
    for other in (4096, 4098, 4097 + 0x10000, None):
        assert payload.matches(fence_evaluate.Packet(WORKER1, MANAGER, 'udp', 4789, vni=other)) is False, other


@pytest.mark.parametrize('rec', RECORDINGS)
def test_nft_shows_docker_matches_only_as_xt(rec):
    objects = fence_nftio.parse_ruleset(rec.text('manager-fenced.json'))
    assert fence_evaluate.has_xt(objects, 'ip', 'filter')
    rs = fence_evaluate.ruleset_from_nft(objects)
    plain = fence_evaluate.Packet(WORKER1, MANAGER, 'udp', 4789, ipsec=False, vni=4097)
    # without iptables-save the u32 or bpf match cannot be read: no guess
    without_fence = fence_evaluate.Ruleset()
    for key, chain in rs.chains.items():
        if key[:2] != ('inet', 'ironclad_swarm'):
            without_fence.add_chain(chain)
    verdict = fence_evaluate.evaluate(without_fence, plain)
    assert verdict.accepted is None
    assert any('xt match "%s"' % VXLAN_MATCH[rec.version] in d for d in verdict.doubts)


# --- evaluation over the whole ruleset ---------------------------------------------------------------

@pytest.mark.parametrize('source, proto, port, ipsec, accepted', [
    (WORKER1, 'esp', None, False, True),
    (WORKER1, 'udp', 7946, False, True),
    (WORKER1, 'tcp', 7946, False, True),
    (WORKER1, 'tcp', 2377, False, True),
    (WORKER1, 'udp', 4789, True, True),
    ('203.0.113.254', 'udp', 4789, False, False),
    ('203.0.113.254', 'tcp', 2377, False, False),
    ('203.0.113.254', 'udp', 7946, False, False),
    ('203.0.113.254', 'esp', None, False, False),
    ('203.0.113.254', 'tcp', 22, False, True),
    ('203.0.113.254', 'tcp', 443, False, True),
])
@pytest.mark.parametrize('rec', RECORDINGS)
def test_fenced_manager(rec, source, proto, port, ipsec, accepted):
    rs = full_ruleset(rec, 'manager-fenced.json', 'manager-fenced.iptables-save')
    verdict = fence_evaluate.evaluate(rs, fence_evaluate.Packet(source, MANAGER, proto, port, ipsec=ipsec))
    assert verdict.accepted is accepted, verdict.as_dict()


@pytest.mark.parametrize('rec', RECORDINGS)
def test_control_port_from_peers_on_every_node(rec):
    # The table is the same on every node, and admits TCP 2377 from peers whatever the destination: a worker promoted
    # by hand must not be cut off from the other managers.
    rs = full_ruleset(rec, 'manager-fenced.json', 'manager-fenced.iptables-save')
    for source, destination in ((WORKER1, MANAGER), (MANAGER, WORKER1), (WORKER2, WORKER1)):
        verdict = fence_evaluate.evaluate(rs, fence_evaluate.Packet(source, destination, 'tcp', 2377))
        # (an accept ends only its own table's chain: the verdict names the last table that saw the packet)
        assert verdict.accepted is True, (source, destination, verdict.where, verdict.rule_text)
    verdict = fence_evaluate.evaluate(rs, fence_evaluate.Packet('198.51.100.7', WORKER1, 'tcp', 2377))
    assert verdict.accepted is False and verdict.rule_text == 'tcp dport { 2377, 7946 } counter drop'


@pytest.mark.parametrize('rec', RECORDINGS)
def test_unencrypted_vxlan_dropped_by_the_fence_and_by_docker_on_fenced_node(rec):
    rs = full_ruleset(rec, 'manager-fenced.json', 'manager-fenced.iptables-save')
    packet = fence_evaluate.Packet(WORKER1, MANAGER, 'udp', 4789, ipsec=False, vni=4097)
    verdict = fence_evaluate.evaluate(rs, packet)
    # The fence's rule for fwsec (learned by the node agent) comes first (priority -10) ...
    assert (verdict.accepted, verdict.where, verdict.rule_text) == (
        False, 'inet ironclad_swarm cleartext_in', '@th,96,24 4097 counter drop')
    # ... and Docker's own drop stands behind it.
    rs.drop_table('inet', 'ironclad_swarm')
    verdict = fence_evaluate.evaluate(rs, packet)
    assert verdict.accepted is False
    assert verdict.where == 'ip filter INPUT (iptables)'
    assert '--pol none' in verdict.rule_text
    # A plain network's VXLAN from a peer passes both.
    assert fence_evaluate.evaluate(full_ruleset(rec, 'manager-fenced.json', 'manager-fenced.iptables-save'),
                                   fence_evaluate.Packet(WORKER1, MANAGER, 'udp', 4789, ipsec=False, vni=4098)).accepted is True


@pytest.mark.parametrize('rec', RECORDINGS)
def test_shadowed_docker_drop_would_admit_cleartext_but_for_the_fence(rec):
    rs = full_ruleset(rec, 'worker-shadowed.json', 'worker-shadowed.iptables-save')
    packet = fence_evaluate.Packet(MANAGER, WORKER1, 'udp', 4789, ipsec=False, vni=4097)
    verdict = fence_evaluate.evaluate(rs, packet)
    assert (verdict.accepted, verdict.where) == (False, 'inet ironclad_swarm cleartext_in')
    rs.drop_table('inet', 'ironclad_swarm')
    verdict = fence_evaluate.evaluate(rs, packet)
    assert verdict.accepted is True
    assert verdict.rule_text == '-A INPUT -p udp -m udp --dport 4789 -j ACCEPT'


@pytest.mark.parametrize('rec', RECORDINGS)
def test_no_fence_everything_open(rec):
    rs = full_ruleset(rec, 'baseline-manager.nft.json', 'baseline-manager.iptables-save')
    for proto, port in (('udp', 4789), ('tcp', 2377), ('esp', None)):
        verdict = fence_evaluate.evaluate(rs, fence_evaluate.Packet('203.0.113.254', MANAGER, proto, port))
        assert verdict.accepted is True, (proto, verdict.as_dict())


@pytest.mark.parametrize('rec', RECORDINGS)
def test_hand_edit_blocks_esp_between_peers(rec):
    rs = full_ruleset(rec, 'worker-edited.json', 'worker-edited.iptables-save')
    verdict = fence_evaluate.evaluate(rs, fence_evaluate.Packet(MANAGER, WORKER2, 'esp'))
    assert verdict.accepted is False
    assert verdict.rule_text == 'meta l4proto esp counter drop'


@pytest.mark.parametrize('rec', RECORDINGS)
def test_policy_drop_admits_allow_list_only(rec):
    rs = fence_evaluate.ruleset_from_nft(fence_nftio.parse_ruleset(rec.text('table-policy-drop.json')))
    outsider = '203.0.113.254'
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet(outsider, WORKER2, 'tcp', 443)).accepted is True
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet(outsider, WORKER2, 'tcp', 22)).accepted is True
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet(outsider, WORKER2, 'tcp', 8080)).accepted is False
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet(outsider, WORKER2, 'icmp')).accepted is False
    # drop_unencrypted_vxlan: even a peer's plain VXLAN is dropped; through IPsec it passes
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet(MANAGER, WORKER2, 'udp', 4789)).accepted is False
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet(MANAGER, WORKER2, 'udp', 4789, ipsec=True)).accepted is True
    assert fence_evaluate.evaluate(rs, fence_evaluate.Packet('2001:db8::5', '2001:db8::6', 'udp', 7946)).accepted is True
