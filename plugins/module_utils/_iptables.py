# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# Docker writes its filter rules with iptables. On Debian 12 and 13 that is iptables-nft:
# the rules live in nftables tables `ip filter`, `ip nat`, `ip mangle`, but the
# matches nft cannot translate (u32 or bpf for the VXLAN network id, policy for IPsec)
# show up in `nft -j` only as `xt match "u32"` with no arguments. iptables-save prints
# them whole, so the audit reads those tables from here instead. The parser turns
# iptables-save text into the Chain/Rule/Cond objects of _nft.py, for one evaluator.
#
# Docker 20.10 and 23 match an encrypted network's VNI with `-m u32 --u32 ...`; later
# engines (Debian 13's 26.1, 28.x) with `-m bpf --bytecode ...`, a classic BPF program
# run on the packet. That program is read here by running it on made-up VXLAN datagrams.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import shlex

from ansible_collections.ironclad.swarm.plugins.module_utils._nft import Chain, Cond, Rule

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


def _u32_vni(expr):
    """Docker's VXLAN network id match '0>>22&0x3C@12&0xFFFFFF00=VNI<<8' -> VNI, else None."""
    try:
        left, value = expr.split('=')
        shift_part, rest = left.split('>>')
        shift_mask, rest2 = rest.split('@')
        shift, mask1 = shift_mask.split('&')
        offset, mask2 = rest2.split('&')
        numbers = [int(x, 0) for x in (shift_part, shift, mask1, offset, mask2)]
        target = int(value, 0)
    except ValueError:
        return None
    if numbers == [0, 22, 0x3C, 12, 0xFFFFFF00]:
        return target >> 8
    return None


# Classic BPF, the subset a VNI matcher needs (linux/filter.h): instruction classes,
# sizes, modes, ALU and jump operations, and the ancillary load of the payload offset.
_BPF_LD, _BPF_LDX, _BPF_ALU, _BPF_JMP, _BPF_RET, _BPF_MISC = 0x00, 0x01, 0x04, 0x05, 0x06, 0x07
_BPF_SIZES = {0x00: 4, 0x08: 2, 0x10: 1}
_BPF_ABS, _BPF_IND, _BPF_MSH, _BPF_IMM = 0x20, 0x40, 0xa0, 0x00
_SKF_AD_PAY_OFFSET = 0xfffff000 + 52     # SKF_AD_OFF + SKF_AD_PAY_OFFSET
_BPF_MAX_STEPS = 64
_MASK32 = 0xffffffff


class _BpfUnsupported(Exception):
    """The program uses something this small interpreter does not model."""


def _parse_bytecode(text):
    """xt_bpf's decimal bytecode 'N,op jt jf k,...' -> [(op, jt, jf, k)], or None."""
    try:
        parts = [p.strip() for p in (text or '').split(',')]
        count = int(parts[0])
        program = [tuple(int(x) for x in part.split()) for part in parts[1:]]
    except ValueError:
        return None
    if count != len(program) or not 0 < count <= _BPF_MAX_STEPS or any(len(i) != 4 for i in program):
        return None
    return program


def _bpf_run(program, packet, payload_offset):
    """Run a classic BPF program on packet (bytes from the IP header on, as xt_bpf sees it)."""
    a = x = 0
    pc = 0
    for dummy in range(_BPF_MAX_STEPS):
        if not 0 <= pc < len(program):
            raise _BpfUnsupported('jump out of the program')
        op, jt, jf, k = program[pc]
        cls = op & 0x07
        pc += 1
        if cls in (_BPF_LD, _BPF_LDX):
            mode, size = op & 0xe0, _BPF_SIZES.get(op & 0x18)
            if cls == _BPF_LDX and mode == _BPF_MSH:
                x = (packet[k] & 0x0f) * 4 if k < len(packet) else None
                if x is None:
                    return 0
                continue
            if cls == _BPF_LD and mode == _BPF_ABS and k == _SKF_AD_PAY_OFFSET:
                a = payload_offset
                continue
            if mode == _BPF_IMM:
                value = k
            elif mode in (_BPF_ABS, _BPF_IND) and size and k < 0xfffff000:
                offset = k + (x if mode == _BPF_IND else 0)
                if offset + size > len(packet):
                    return 0    # the kernel ends the program with 0 on a load past the end
                value = int.from_bytes(packet[offset:offset + size], 'big')
            else:
                raise _BpfUnsupported('load 0x%02x %d' % (op, k))
            if cls == _BPF_LD:
                a = value
            else:
                x = value
        elif cls == _BPF_ALU:
            operand = x if op & 0x08 else k
            alu = op & 0xf0
            if alu == 0x00:
                a = (a + operand) & _MASK32
            elif alu == 0x10:
                a = (a - operand) & _MASK32
            elif alu == 0x50:
                a &= operand
            elif alu == 0x40:
                a |= operand
            elif alu == 0x60:
                a = (a << operand) & _MASK32 if operand < 32 else 0
            elif alu == 0x70:
                a = a >> operand if operand < 32 else 0
            else:
                raise _BpfUnsupported('alu 0x%02x' % op)
        elif cls == _BPF_JMP:
            jump = op & 0xf0
            operand = x if op & 0x08 else k
            if jump == 0x00:
                pc += k
                continue
            if jump == 0x10:
                taken = a == operand
            elif jump == 0x20:
                taken = a > operand
            elif jump == 0x30:
                taken = a >= operand
            elif jump == 0x40:
                taken = bool(a & operand)
            else:
                raise _BpfUnsupported('jump 0x%02x' % op)
            pc += jt if taken else jf
        elif cls == _BPF_RET:
            return a if op & 0x18 == 0x10 else k
        elif cls == _BPF_MISC:
            if op == 0x07:
                x = a
            elif op == 0x87:
                a = x
            else:
                raise _BpfUnsupported('misc 0x%02x' % op)
        else:
            raise _BpfUnsupported('class %d' % cls)
    raise _BpfUnsupported('more than %d steps' % _BPF_MAX_STEPS)


def _vxlan_datagram(vni, reserved=0):
    """An IPv4 header (20 bytes), a UDP header and a VXLAN header for vni; (bytes, payload offset)."""
    ip = bytes([0x45, 0, 0, 64, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2])
    udp = bytes([0xc0, 0x00, 0x12, 0xb5, 0, 44, 0, 0])
    vxlan = bytes([0x08, 0, 0, 0]) + ((vni << 8) | reserved).to_bytes(4, 'big')
    return ip + udp + vxlan + bytes(16), len(ip) + len(udp)


def _bpf_vni(bytecode):
    """The VNI a VXLAN-matching BPF program (Docker's `-m bpf --bytecode`) selects, else None.

    Candidates are the constants the program compares with (as they are, or shifted
    right by 8, the VNI's place in the header's second word); one is the answer when
    the program matches datagrams of that VNI, whatever their reserved byte, and no
    datagram of a neighbouring VNI.
    """
    program = _parse_bytecode(bytecode)
    if program is None:
        return None
    candidates = []
    for op, jt, jf, k in program:
        if op & 0x07 == _BPF_JMP and op & 0xf0 == 0x10 and not op & 0x08:
            for vni in (k, k >> 8):
                if vni <= 0xffffff and vni not in candidates:
                    candidates.append(vni)

    def matches(vni, reserved=0):
        packet, offset = _vxlan_datagram(vni, reserved)
        return _bpf_run(program, packet, offset) != 0

    try:
        for vni in candidates:
            if (matches(vni) and matches(vni, 0x5a) and not matches(vni ^ 1)
                    and not matches((vni + 1) & 0xffffff) and not matches(vni ^ 0x800000)):
                return vni
    except _BpfUnsupported:
        return None
    return None


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
        elif tok == '--bytecode' and module == 'bpf':
            vni = _bpf_vni(value or '')
            if vni is None:
                conds.append(Cond('unknown', None, text=piece))
            else:
                conds.append(Cond('vni', vni, negate, piece))
        elif tok == '--u32':
            vni = _u32_vni(value or '')
            if vni is None:
                conds.append(Cond('unknown', None, text=piece))
            else:
                conds.append(Cond('vni', vni, negate, piece))
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


def docker_vxlan_rules(save, data_path_port=4789):
    """Docker's per-network rules in filter INPUT: {vni: {'drop': index, 'accept': index}} (index in the chain)."""
    found = {}
    chain = save.tables.get('filter', {}).get('INPUT', {'rules': []})
    for index, argv in enumerate(chain['rules']):
        rule = rule_from_argv(argv, save.family, 'filter', 'INPUT', {})
        vnis = [c.value for c in rule.conds if c.key == 'vni' and not c.negate]
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
