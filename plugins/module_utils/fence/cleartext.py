# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""The fence's per-network cleartext rules: learned from Docker, not declared.

One rule per overlay network the engine knows, in the chains cleartext_in and cleartext_out,
matching its VXLAN id: counted, and dropped for an encrypted network (see LEARNED_CHAINS in
spec.py). overlay_entries reads them from Docker's networks, sync_cleartext_batch brings the
live chains in step (the node agent), carried_rules keeps them across a replace of the table
and cleartext_counts reads their counters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.ironclad.swarm.plugins.module_utils.fence.nftio import _strip
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec import (
    CLEARTEXT_IN_CHAIN,
    DROP,
    LEARNED_CHAINS,
    TABLE_FAMILY,
    TABLE_NAME,
    VNI_PAYLOAD,
    _match,
    _rule,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.options import is_encrypted_overlay, network_vnis


def overlay_entries(networks):
    """Docker's network list or inspect output -> [(vni, name, encrypted)] of its overlay networks, by VNI.

    Docker treats an overlay as encrypted when the option `encrypted` is present at all. A network
    without a VXLAN id yet (the allocator has not run) has nothing to match and is left out.
    """
    entries = {}
    for net in networks or []:
        if net.get('Driver') != 'overlay':
            continue
        for vni in network_vnis(net):
            entries[vni] = (vni, net.get('Name') or '', is_encrypted_overlay(net))
    return [entries[vni] for vni in sorted(entries)]


def _learned_comment(name, encrypted):
    return ('%s %s' % (name, 'encrypted' if encrypted else 'plain'))[:128]


def cleartext_rules(entries):
    """[(vni, name, encrypted)] -> the rule bodies of the learned chains, in order."""
    rules = []
    for chain in LEARNED_CHAINS:
        for vni, name, encrypted in entries:
            exprs = [_match(dict(VNI_PAYLOAD), vni), {'counter': None}]
            if encrypted:
                exprs.append(DROP)
            rules.append(_rule(chain, exprs, _learned_comment(name, encrypted))['rule'])
    return rules


def learned_rules(objects):
    """The learned chains' rules as nft lists them (with handles and counters)."""
    return [obj['rule'] for obj in objects or []
            if 'rule' in obj and obj['rule'].get('chain') in LEARNED_CHAINS
            and obj['rule'].get('family') == TABLE_FAMILY and obj['rule'].get('table') == TABLE_NAME]


def _learned_key(rule):
    return (rule.get('chain'), json.dumps(_strip(rule.get('expr', [])), sort_keys=True), rule.get('comment') or '')


def sync_cleartext_batch(objects, entries):
    """The batch that brings the live learned chains to entries, or None when they already match.

    Rules in step keep their handles and counters; a stale rule (a network removed, or a VNI that
    Docker gave to another network) is deleted, since an encrypted network's VNI reused by a plain
    one would otherwise drop the plain network's traffic. Returns None too when our table (or one
    of the learned chains, on a fence applied by an older release) is absent: there is nothing to keep.
    """
    if objects is None:
        return None
    chains = set(obj['chain']['name'] for obj in objects if 'chain' in obj)
    if not all(name in chains for name in LEARNED_CHAINS):
        return None
    live = learned_rules(objects)
    wanted = cleartext_rules(entries)
    wanted_keys = [_learned_key(r) for r in wanted]
    live_keys = [_learned_key(r) for r in live]
    # In step only when the order is the same too (nft lists rules in the order they match).
    if live_keys == wanted_keys:
        return None
    batch = []
    for rule in live:
        batch.append({'delete': {'rule': {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'chain': rule['chain'],
                                          'handle': rule['handle']}}})
    for rule in wanted:
        batch.append({'add': {'rule': rule}})
    return {'nftables': batch}


def carried_rules(objects):
    """The learned rules of a live table, ready to be added again after the table is replaced."""
    carried = []
    for rule in learned_rules(objects):
        body = dict((k, v) for k, v in rule.items() if k != 'handle')
        body['expr'] = [{'counter': None} if 'counter' in e else e for e in body.get('expr', [])]
        carried.append({'rule': body})
    return carried


def cleartext_counts(objects):
    """Counters of the learned chains -> [{network, vni, encrypted, direction, packets, bytes}]."""
    counts = []
    for rule in learned_rules(objects):
        vni = counter = None
        for expr in rule.get('expr', []):
            if 'match' in expr and expr['match'].get('left') == VNI_PAYLOAD:
                vni = expr['match'].get('right')
            elif 'counter' in expr and isinstance(expr['counter'], dict):
                counter = expr['counter']
        if not isinstance(vni, int) or counter is None:
            continue
        name, kind = ((rule.get('comment') or '').rpartition(' '))[::2]
        counts.append({'network': name or str(vni), 'vni': vni, 'encrypted': kind == 'encrypted',
                       'direction': 'in' if rule['chain'] == CLEARTEXT_IN_CHAIN else 'out',
                       'packets': int(counter.get('packets') or 0), 'bytes': int(counter.get('bytes') or 0)})
    return counts
