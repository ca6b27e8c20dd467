# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# Docker writes its filter rules with iptables. On Debian 12 and later that is iptables-nft:
# the rules live in nftables tables `ip filter`, `ip nat`, `ip mangle`, `ip raw`, but the
# matches nft cannot translate (u32 or bpf for the VXLAN network id, policy for IPsec) show
# up in `nft -j` only as `xt match "u32"` (or "bpf", "policy") with no arguments.
# iptables-save prints them whole, so the audit reads those tables from here instead. The
# parser turns iptables-save text into the Chain/Rule/Cond objects of evaluate.py, for one
# evaluator; u32 and bpf matches are run by fence/xtmatch.py over the imagined packet's bytes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import shlex

from ansible_collections.ironclad.swarm.plugins.module_utils.fence.evaluate import Chain, Cond, Packet, Rule
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.xtmatch import Bpf, MatchError, U32

# Built-in chains that see locally delivered packets, with the hook and the
# priority iptables-nft registers them at. nat is left out: it never drops.
BUILTIN_HOOKS = {
    ('raw', 'PREROUTING'): ('prerouting', -300),
    ('mangle', 'PREROUTING'): ('prerouting', -150),
    ('mangle', 'INPUT'): ('input', -150),
    ('filter', 'INPUT'): ('input', 0),
    ('security', 'INPUT'): ('input', 50),
}
EVALUATED_TABLES = ('raw', 'mangle', 'filter', 'security')
TERMINAL = {'ACCEPT': 'accept', 'DROP': 'drop', 'REJECT': 'drop', 'RETURN': 'return'}

_PROTO_NUMBERS = {'6': 'tcp', '17': 'udp', '50': 'esp', '1': 'icmp', '58': 'ipv6-icmp', '132': 'sctp'}


class IptablesSave(object):
    """A parsed iptables-save (or ip6tables-save) listing."""

    def __init__(self, family, backend, tables):
        self.family = family        # 'ip' or 'ip6'
        self.backend = backend      # 'nf_tables', 'legacy' or None
        self.tables = tables        # {table: {chain: {'policy': str|None, 'rules': [argv list]}}}


def parse_save(text, family='ip'):
    backend = None
    tables = {}
    current = None
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith('#'):
            if 'iptables-save' in line and backend is None:
                if '(nf_tables)' in line:
                    backend = 'nf_tables'
                elif '(legacy)' in line:
                    backend = 'legacy'
            continue
        if line.startswith('*'):
            current = tables.setdefault(line[1:], {})
            continue
        if line == 'COMMIT' or current is None:
            continue
        if line.startswith(':'):
            parts = line[1:].split()
            policy = parts[1] if len(parts) > 1 and parts[1] != '-' else None
            current.setdefault(parts[0], {'policy': policy, 'rules': []})['policy'] = policy
            continue
        argv = shlex.split(line)
        if len(argv) >= 2 and argv[0] in ('-A', '--append'):
            current.setdefault(argv[1], {'policy': None, 'rules': []})['rules'].append(argv[2:])
    return IptablesSave(family, backend, tables)


def _addr_cond(key, value, family, negate, text):
    nets = []
    for part in value.split(','):
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            return Cond('unknown', None, text=text)
    return Cond(key, ('ipv4' if family == 'ip' else 'ipv6', nets), negate, text)


def _ports(value):
    ranges = []
    for part in value.split(','):
        if ':' in part:
            low, high = part.split(':', 1)
            ranges.append((int(low or 0), int(high or 65535)))
        else:
            ranges.append((int(part), int(part)))
    return ranges


def rule_from_argv(argv, family, table, chain, chains):
    """One `-A CHAIN ...` line (without -A CHAIN) -> Rule."""
    text = '-A %s %s' % (chain, ' '.join(shlex.quote(a) for a in argv))
    where = '%s %s %s (iptables)' % (family, table, chain)
    conds = []
    verdict, target = None, None
    proto = None
    module = None
    negate = False
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == '!':
            negate = True
            i += 1
            continue
        values = []
        j = i + 1
        while j < len(argv) and not argv[j].startswith('-') and argv[j] != '!':
            values.append(argv[j])
            j += 1
        value = values[0] if values else None
        piece = ' '.join([('! ' if negate else '') + tok] + values)
        if tok in ('-p', '--protocol'):
            proto = _PROTO_NUMBERS.get(value, value)
            if proto != 'all':
                conds.append(Cond('l4proto', [proto], negate, piece))
        elif tok in ('-s', '--source'):
            conds.append(_addr_cond('saddr', value, family, negate, piece))
        elif tok in ('-d', '--destination'):
            conds.append(_addr_cond('daddr', value, family, negate, piece))
        elif tok in ('-i', '--in-interface'):
            if value.endswith('+'):
                conds.append(Cond('unknown', None, text=piece))
            else:
                conds.append(Cond('iif', [value], negate, piece))
        elif tok in ('-o', '--out-interface'):
            # no output interface on the input path: such a rule never matches there
            conds.append(Cond('family', 'none', False, piece))
        elif tok in ('-m', '--match'):
            module = value
        elif tok in ('-j', '--jump', '-g', '--goto'):
            if value in TERMINAL:
                verdict = TERMINAL[value]
            elif value in chains:
                verdict, target = ('goto' if tok in ('-g', '--goto') else 'jump'), value
            else:
                verdict = None  # LOG, MARK, CT, ...: not a decision
            # target options follow; nothing more to match
            break
        elif tok in ('--dport', '--destination-port', '--dports', '--destination-ports'):
            try:
                conds.append(Cond('dport', (proto if proto in ('tcp', 'udp', 'sctp') else None, _ports(value)), negate, piece))
            except (TypeError, ValueError):
                conds.append(Cond('unknown', None, text=piece))
        elif tok in ('--ctstate', '--state'):
            conds.append(Cond('ctstate', [s.lower() for s in value.split(',')], negate, piece))
        elif tok == '--pol' and module == 'policy':
            conds.append(Cond('ipsec', value == 'ipsec', negate, piece))
        elif tok == '--dir' and module == 'policy':
            if value != 'in':
                conds.append(Cond('family', 'none', False, piece))
        elif tok == '--u32' or (tok == '--bytecode' and module == 'bpf'):
            # Run, not pattern-matched: the kernel's semantics over the imagined packet's bytes.
            try:
                matcher = U32(value or '') if tok == '--u32' else Bpf(value or '')
            except MatchError:
                conds.append(Cond('unknown', None, text=piece))
            else:
                conds.append(Cond('payload', matcher, negate, piece))
        elif tok == '--comment' or module == 'comment':
            pass
        elif tok.startswith('-'):
            conds.append(Cond('unknown', None, text=piece))
        negate = False
        i = j
    return Rule(conds, verdict, target, text, where)


def chains_from_save(save):
    """IptablesSave -> [Chain] for the tables that can drop an incoming packet."""
    result = []
    for table, chains in save.tables.items():
        if table not in EVALUATED_TABLES:
            continue
        for name, body in chains.items():
            hook, prio = BUILTIN_HOOKS.get((table, name), (None, 0))
            policy = (body['policy'] or 'ACCEPT').lower()
            chain = Chain(save.family, table, name, hook, prio, 'drop' if policy == 'drop' else 'accept')
            chain.rules = [rule_from_argv(argv, save.family, table, name, chains) for argv in body['rules']]
            result.append(chain)
    return result


def rule_vni(rule, family='ip', data_path_port=4789):
    """The VXLAN network id a rule's u32 or bpf match singles out, derived by running it; None if none."""
    template = Packet('192.0.2.1' if family == 'ip' else '2001:db8::1', None, 'udp', data_path_port, vni=0)
    for cond in rule.conds:
        if cond.key == 'payload' and not cond.negate:
            vni = cond.value.derive_vni(template)
            if vni is not None:
                return vni
    return None


def docker_vxlan_rules(save, data_path_port=4789):
    """Docker's per-network rules in filter INPUT: {vni: {'drop': index, 'accept': index}} (index in the chain).

    Docker 20.10 writes a drop (outside IPsec) and an accept (through IPsec) per encrypted
    network, matching the VNI with u32; Docker 26 and later write the drop only, with bpf.
    """
    found = {}
    chain = save.tables.get('filter', {}).get('INPUT', {'rules': []})
    for index, argv in enumerate(chain['rules']):
        rule = rule_from_argv(argv, save.family, 'filter', 'INPUT', {})
        vni = rule_vni(rule, save.family, data_path_port)
        vnis = [vni] if vni is not None else []
        ports = [c.value for c in rule.conds if c.key == 'dport']
        if not vnis or not any(any(lo <= data_path_port <= hi for lo, hi in p[1]) for p in ports):
            continue
        if rule.verdict in ('drop', 'accept'):
            found.setdefault(vnis[0], {}).setdefault(rule.verdict, index)
    return found


def merge_into(ruleset, save):
    """Put an iptables-save listing into a Ruleset built from `nft -j list ruleset`.

    With iptables-nft the same tables are already in the nft listing, but with
    xt matches nft cannot show; they are replaced by the parsed iptables-save
    version. With iptables-legacy the rules live outside nftables and are added
    next to it, as tables named legacy-<table>.
    """
    if save is None or not save.tables:
        return ruleset
    if save.backend == 'legacy':
        for chain in chains_from_save(save):
            chain.table = 'legacy-' + chain.table
            ruleset.add_chain(chain)
        return ruleset
    for table in save.tables:
        ruleset.drop_table(save.family, table)
    for chain in chains_from_save(save):
        ruleset.add_chain(chain)
    return ruleset
