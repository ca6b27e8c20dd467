# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""A small packet evaluator: would this packet be accepted on the input hook?

Rules of every source (nft JSON here, iptables-save in iptables.py) become Rule objects: a list of
Cond and a verdict. A Cond compares one packet key with a value and answers True, False or None
(cannot tell, e.g. an xt match nft cannot show). evaluate() walks every base chain on prerouting
and input of every table of a ruleset (ours, Docker's iptables-nft tables, anyone else's) for an
imagined Packet; the fence audit (audit.py) asks it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.ironclad.swarm.plugins.module_utils.fence.nftio import _canon_elem, render_expr, render_rule


UNKNOWN = None

# Hooks the audit walks, in the order a locally delivered packet meets them.
HOOK_ORDER = {'prerouting': 0, 'input': 1}


class Packet(object):
    """An incoming packet as the audit imagines it (a new flow, not on lo)."""

    def __init__(self, saddr, daddr, l4proto, dport=None, ipsec=False, vni=None, iif='eth0', ctstate='new'):
        self.saddr = ipaddress.ip_address(saddr)
        self.daddr = ipaddress.ip_address(daddr) if daddr else None
        self.family = 'ipv4' if self.saddr.version == 4 else 'ipv6'
        self.l4proto = l4proto
        self.dport = dport
        self.ipsec = ipsec
        self.vni = vni
        self.iif = iif
        self.ctstate = ctstate

    def describe(self):
        what = '%s/%s' % (self.l4proto, self.dport) if self.dport else self.l4proto
        return '%s from %s%s' % (what, self.saddr, ' (via IPsec)' if self.ipsec else '')


class Cond(object):
    """key op value. keys: family, saddr, daddr, l4proto, dport, iif, ctstate, ipsec, payload, unknown.

    payload: value is an object with matches(packet) -> True/False/None that reads the packet's
    bytes (the u32 and bpf matches of fence/xtmatch.py).
    """

    def __init__(self, key, value, negate=False, text=None):
        self.key = key
        self.value = value
        self.negate = negate
        self.text = text

    def test(self, packet):
        result = self._test(packet)
        if result is UNKNOWN:
            return UNKNOWN
        return (not result) if self.negate else result

    def _test(self, p):
        key, value = self.key, self.value
        if key == 'unknown':
            return UNKNOWN
        if key == 'family':
            return p.family == value
        if key in ('saddr', 'daddr'):
            family, nets = value
            if p.family != family:
                return False
            addr = p.saddr if key == 'saddr' else p.daddr
            if addr is None:
                return UNKNOWN
            if nets is UNKNOWN:
                return UNKNOWN
            return any(addr in net for net in nets)
        if key == 'l4proto':
            return p.l4proto in value
        if key == 'dport':
            proto, ports = value
            if proto is not None and p.l4proto != proto:
                return False
            if p.l4proto not in ('tcp', 'udp', 'sctp', 'dccp') or p.dport is None:
                return False
            return any(low <= p.dport <= high for low, high in ports)
        if key == 'iif':
            return p.iif in value
        if key == 'ctstate':
            return p.ctstate in value
        if key == 'ipsec':
            return p.ipsec == value
        if key == 'payload':
            return value.matches(p)
        if key == 'vni':
            return UNKNOWN if p.vni is None else p.vni in value
        return UNKNOWN


class Rule(object):
    def __init__(self, conds, verdict, target=None, text='', where=''):
        self.conds = conds
        self.verdict = verdict      # accept, drop, jump, goto, return, None (continue), unknown
        self.target = target
        self.text = text
        self.where = where


class Chain(object):
    def __init__(self, family, table, name, hook=None, prio=0, policy='accept', rules=None, ctype='filter'):
        self.ctype = ctype
        self.family = family
        self.table = table
        self.name = name
        self.hook = hook
        self.prio = prio
        self.policy = policy
        self.rules = rules or []

    @property
    def where(self):
        return '%s %s %s' % (self.family, self.table, self.name)


class Ruleset(object):
    """Chains by (family, table, name)."""

    def __init__(self):
        self.chains = {}
        self.tables = set()

    def add_chain(self, chain):
        self.chains[(chain.family, chain.table, chain.name)] = chain
        self.tables.add((chain.family, chain.table))

    def drop_table(self, family, table):
        for key in [k for k in self.chains if k[:2] == (family, table)]:
            del self.chains[key]
        self.tables.discard((family, table))

    def base_chains(self, packet):
        families = ('inet', 'ip') if packet.family == 'ipv4' else ('inet', 'ip6')
        chains = [c for c in self.chains.values()
                  if c.hook in HOOK_ORDER and c.family in families and c.ctype != 'nat']
        return sorted(chains, key=lambda c: (HOOK_ORDER[c.hook], c.prio, c.family, c.table, c.name))


class Verdict(object):
    def __init__(self, accepted, rule_text, where, doubts):
        self.accepted = accepted    # True, False, or None (a rule that cannot be read may decide)
        self.rule_text = rule_text
        self.where = where
        self.doubts = doubts        # rules that might have matched but could not be evaluated

    def as_dict(self):
        return {'accepted': self.accepted, 'decided_by': self.rule_text, 'chain': self.where,
                'doubts': self.doubts}


def _run_chain(ruleset, chain, packet, doubts, depth=0):
    """-> ('accept'|'drop'|'policy', rule_text, where). 'policy' means fell off the end."""
    if depth > 16:
        return 'policy', None, chain.where
    for rule in chain.rules:
        results = [c.test(packet) for c in rule.conds]
        if False in results:
            continue
        unsure = UNKNOWN in results
        if rule.verdict is None:
            continue
        if unsure or rule.verdict == 'unknown':
            if rule.verdict in ('accept', 'drop', 'jump', 'goto', 'unknown'):
                doubts.append('%s: %s' % (rule.where or chain.where, rule.text))
            continue
        if rule.verdict in ('accept', 'drop'):
            return rule.verdict, rule.text, rule.where or chain.where
        if rule.verdict == 'return':
            return 'return', rule.text, chain.where
        if rule.verdict in ('jump', 'goto'):
            target = ruleset.chains.get((chain.family, chain.table, rule.target))
            if target is None:
                doubts.append('%s: jump to unknown chain %s' % (chain.where, rule.target))
                continue
            result = _run_chain(ruleset, target, packet, doubts, depth + 1)
            if result[0] in ('accept', 'drop'):
                return result
            if rule.verdict == 'goto':
                return 'return', None, chain.where
    return 'policy', None, chain.where


def evaluate(ruleset, packet):
    """Walk every base chain on prerouting/input for the packet's family.

    A drop anywhere is final; an accept ends only its own base chain.
    """
    doubts = []
    last = (None, None)
    for chain in ruleset.base_chains(packet):
        start = len(doubts)
        verdict, text, where = _run_chain(ruleset, chain, packet, doubts)
        if verdict in ('policy', 'return'):
            verdict = chain.policy or 'accept'
            text, where = 'policy %s' % verdict, chain.where
        if verdict == 'drop':
            return Verdict(False, text, where, doubts)
        # Doubts raised in a chain that ended in accept may still have dropped the packet.
        last = (text, where)
        del start
    if doubts:
        return Verdict(None, last[0], last[1], doubts)
    return Verdict(True, last[0], last[1], doubts)


# nft JSON -> Rule objects

_L4_NAMES = {'6': 'tcp', '17': 'udp', '50': 'esp', '1': 'icmp', '58': 'ipv6-icmp', '132': 'sctp'}


def _as_list(value):
    if isinstance(value, dict) and 'set' in value:
        value = value['set']
    return value if isinstance(value, list) else [value]


def _port_ranges(value):
    ranges = []
    for item in _as_list(value):
        if isinstance(item, int):
            ranges.append((item, item))
        elif isinstance(item, dict) and 'range' in item:
            ranges.append((int(item['range'][0]), int(item['range'][1])))
        else:
            return None
    return ranges


def _nets(value, sets):
    nets = []
    if isinstance(value, str) and value.startswith('@'):
        elems = sets.get(value[1:])
        if elems is None:
            return UNKNOWN
        value = {'set': elems}
    for item in _as_list(value):
        canon = _canon_elem(item)
        if isinstance(canon, list):
            nets.extend(canon)
        elif isinstance(canon, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            nets.append(canon)
        else:
            return UNKNOWN
    return nets


def _cond_from_match(match, sets, text):
    op = match.get('op', '==')
    left, right = match.get('left', {}), match.get('right')
    negate = op == '!='
    if op not in ('==', '!=', 'in'):
        return Cond('unknown', None, text=text)
    if isinstance(left, dict) and 'payload' in left:
        pay = left['payload']
        proto, field = pay.get('protocol'), pay.get('field')
        if proto in ('ip', 'ip6') and field in ('saddr', 'daddr'):
            family = 'ipv4' if proto == 'ip' else 'ipv6'
            return Cond(field, (family, _nets(right, sets)), negate, text)
        if proto in ('ip', 'ip6') and field in ('protocol', 'nexthdr'):
            return Cond('l4proto', [_L4_NAMES.get(str(v), v) for v in _as_list(right)], negate, text)
        if pay.get('base') == 'th' and pay.get('offset') == 96 and pay.get('len') == 24:
            values = _as_list(right)
            if all(isinstance(v, int) for v in values):
                return Cond('vni', values, negate, text)
        if proto in ('tcp', 'udp', 'th', 'sctp') and field == 'dport':
            ranges = _port_ranges(right)
            if ranges is None:
                return Cond('unknown', None, text=text)
            return Cond('dport', (None if proto == 'th' else proto, ranges), negate, text)
    if isinstance(left, dict) and 'meta' in left:
        key = left['meta'].get('key')
        if key == 'l4proto':
            return Cond('l4proto', [_L4_NAMES.get(str(v), v) for v in _as_list(right)], negate, text)
        if key == 'nfproto':
            values = _as_list(right)
            if len(values) == 1:
                return Cond('family', values[0], negate, text)
        if key in ('iif', 'iifname'):
            values = [v for v in _as_list(right) if isinstance(v, str)]
            if values and not any('*' in v for v in values):
                return Cond('iif', values, negate, text)
        if key in ('ipsec', 'secpath'):
            return Cond('ipsec', bool(right), negate, text)
    if isinstance(left, dict) and 'ct' in left and left['ct'].get('key') == 'state':
        return Cond('ctstate', list(_as_list(right)), negate, text)
    return Cond('unknown', None, text=text)


_IMPLIED_L4 = {'tcp': 'tcp', 'udp': 'udp', 'sctp': 'sctp'}


def rule_from_nft(body, sets):
    """An nft JSON rule body -> Rule. Statements that do not decide (counter, log, mark) are skipped."""
    exprs = body.get('expr', [])
    text = render_rule(exprs)
    where = '%s %s %s' % (body.get('family'), body.get('table'), body.get('chain'))
    conds, verdict, target = [], None, None
    for expr in exprs:
        kind = next(iter(expr))
        value = expr[kind]
        if kind == 'match':
            conds.append(_cond_from_match(value, sets, render_expr(expr)))
        elif kind == 'xt':
            if value.get('type') == 'target':
                verdict = 'unknown'
            else:
                conds.append(Cond('unknown', None, text=render_expr(expr)))
        elif kind in ('accept', 'drop', 'return', 'continue'):
            verdict = None if kind == 'continue' else kind
        elif kind == 'reject':
            verdict = 'drop'
        elif kind in ('jump', 'goto'):
            verdict, target = kind, value.get('target')
        elif kind in ('counter', 'log', 'mangle', 'limit', 'quota', 'notrack', 'ct count', 'set', 'comment'):
            continue
        elif kind in ('queue',):
            verdict = 'unknown'
    return Rule(conds, verdict, target, text, where)


def ruleset_from_nft(objects):
    """Every table of an `nft -j list ruleset` listing -> Ruleset."""
    rs = Ruleset()
    sets = {}
    for obj in objects:
        if 'set' in obj:
            body = obj['set']
            sets[(body['family'], body['table'], body['name'])] = body.get('elem', [])
    for obj in objects:
        if 'chain' in obj:
            body = obj['chain']
            rs.add_chain(Chain(body['family'], body['table'], body['name'], body.get('hook'),
                               body.get('prio', 0), body.get('policy', 'accept'), ctype=body.get('type', 'filter')))
        elif 'table' in obj:
            rs.tables.add((obj['table']['family'], obj['table']['name']))
    for obj in objects:
        if 'rule' in obj:
            body = obj['rule']
            table_sets = dict((k[2], v) for k, v in sets.items() if k[:2] == (body['family'], body['table']))
            chain = rs.chains.get((body['family'], body['table'], body['chain']))
            if chain is not None:
                chain.rules.append(rule_from_nft(body, table_sets))
    return rs


def set_elements(objects, name):
    """The addresses of one of our sets as ip_network objects ([] when absent)."""
    for obj in objects or []:
        if 'set' in obj and obj['set'].get('name') == name:
            return _nets({'set': obj['set'].get('elem', [])}, {}) or []
    return []


def has_xt(objects, family, table):
    for obj in objects:
        if 'rule' in obj and obj['rule'].get('family') == family and obj['rule'].get('table') == table:
            if any('xt' in e for e in obj['rule'].get('expr', [])):
                return True
    return False
