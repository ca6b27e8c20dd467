# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# The two xt matches Docker uses to single out one overlay network's VXLAN packets,
# executed rather than pattern-matched:
#   - u32 (Docker up to 23, and Debian's 20.10): `-m u32 --u32 "0x0>>0x16&0x3c@0xc&0xffffff00=VNI<<8"`;
#   - bpf (Docker 24 and later where xt_bpf is there): `-m bpf --bytecode "N,code jt jf k,..."`,
#     a classic-BPF program that loads the payload offset (SKF_AD_PAY_OFFSET), reads the
#     VXLAN header's second word and compares its top 24 bits with the VNI.
# Both are interpreted here the way the kernel runs them (xt_u32.c, the classic-BPF
# interpreter behind xt_bpf) over the bytes of the packet the audit imagines: its IP
# header, its TCP/UDP/ESP/ICMP header and, for VXLAN, the 8-byte VXLAN header. The VNI a
# rule is about is derived too: the comparisons whose operand was loaded from the VNI's
# bytes give the candidates, and a candidate counts only when running the program shows
# that it matches that VNI and not its neighbours.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import struct

UNKNOWN = None

MASK32 = 0xFFFFFFFF
VXLAN_FLAGS = 0x08000000

_PROTO_NUMBERS = {'tcp': 6, 'udp': 17, 'esp': 50, 'icmp': 1, 'ipv6-icmp': 58, 'sctp': 132}
_L4_HEADER = {'tcp': 20, 'udp': 8, 'icmp': 8, 'ipv6-icmp': 8}
EPHEMERAL_PORT = 49152


class PacketBytes(object):
    """The imagined packet as bytes from its network header on (where netfilter's skb->data is)."""

    def __init__(self, data, ethertype, payload_offset, vni_offset):
        self.data = data
        self.ethertype = ethertype
        self.payload_offset = payload_offset    # SKF_AD_PAY_OFFSET: first byte after the L4 header
        self.vni_offset = vni_offset            # first of the VNI's 3 bytes, or None without VXLAN


def packet_bytes(packet, vni=None):
    """evaluate.Packet -> PacketBytes. vni overrides the packet's VNI (used to try candidates)."""
    vni = packet.vni if vni is None else vni
    proto = packet.l4proto
    number = _PROTO_NUMBERS.get(proto, 0)
    if proto in ('tcp', 'udp', 'sctp'):
        dport = packet.dport or 0
        if proto == 'tcp':
            # a new flow: SYN, data offset 5 words
            l4 = struct.pack('!HHIIBBHHH', EPHEMERAL_PORT, dport, 0, 0, 0x50, 0x02, 64240, 0, 0)
        elif proto == 'udp':
            l4 = struct.pack('!HHHH', EPHEMERAL_PORT, dport, 0, 0)
        else:
            l4 = struct.pack('!HHII', EPHEMERAL_PORT, dport, 1, 0)
    elif proto == 'esp':
        l4 = struct.pack('!II', 0x100, 1)
    elif proto in ('icmp', 'ipv6-icmp'):
        l4 = struct.pack('!BBHHH', 8 if proto == 'icmp' else 128, 0, 0, 1, 1)
    else:
        l4 = b''
    vxlan = b''
    if vni is not None and proto == 'udp':
        vxlan = struct.pack('!II', VXLAN_FLAGS, (vni & 0xFFFFFF) << 8)
    saddr = ipaddress.ip_address(packet.saddr)
    daddr = packet.daddr if packet.daddr is not None else ipaddress.ip_address(
        '0.0.0.0' if saddr.version == 4 else '::')
    if saddr.version == 4:
        length = 20 + len(l4) + len(vxlan)
        header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, length, 0, 0x4000, 64, number, 0, saddr.packed, daddr.packed)
        ethertype = 0x0800
    else:
        header = struct.pack('!IHBB16s16s', 0x60000000, len(l4) + len(vxlan), number, 64, saddr.packed, daddr.packed)
        ethertype = 0x86DD
    payload_offset = len(header) + _L4_HEADER.get(proto, len(l4))
    vni_offset = len(header) + len(l4) + 4 if vxlan else None
    return PacketBytes(header + l4 + vxlan, ethertype, payload_offset, vni_offset)


class MatchError(ValueError):
    """A match argument that cannot be parsed or would not load into the kernel."""


def _neighbours(vni):
    """VNIs next to vni that a program matching exactly vni must refuse."""
    return sorted(set(n & 0xFFFFFF for n in (vni ^ 1, vni ^ 0x100, vni ^ 0x10000, vni + 1, vni - 1)) - set([vni]))


class _PayloadMatch(object):
    """Shared by Bpf and U32: matches(packet) and the derived VNI."""

    text = ''

    def run(self, pkt, trace=None):
        raise NotImplementedError

    def matches(self, packet):
        """True/False as the kernel would answer for the imagined packet; None when it cannot be told."""
        return self.run(packet_bytes(packet))

    def vni_candidates(self, template):
        """VNIs suggested by the comparisons whose operand came from the VNI's bytes on the template packet."""
        trace = []
        self.run(template, trace)
        vni_bytes = set(range(template.vni_offset, template.vni_offset + 3))
        header = set(range(template.vni_offset - 4, template.vni_offset + 4))
        found = set()
        for constant, origin in trace:
            if not origin or not origin & vni_bytes or not origin <= header:
                continue
            for shift in (0, 8, 16):
                found.add((constant >> shift) & 0xFFFFFF)
                found.add((constant << shift) & 0xFFFFFF)
        return sorted(found)

    def derive_vni(self, template_packet):
        """The one VNI the match singles out, or None. template_packet: an evaluate.Packet of VXLAN to the data path."""
        template = packet_bytes(template_packet, vni=0)
        verified = []
        for candidate in self.vni_candidates(template):
            if self.run(packet_bytes(template_packet, vni=candidate)) is not True:
                continue
            if all(self.run(packet_bytes(template_packet, vni=other)) is False for other in _neighbours(candidate)):
                verified.append(candidate)
        return verified[0] if len(verified) == 1 else None


# ---------------------------------------------------------------------------
# classic BPF (xt_bpf --bytecode)
# ---------------------------------------------------------------------------

BPF_MAXINSNS = 4096
SKF_AD_OFF = 0xFFFFF000         # -0x1000
SKF_NET_OFF = 0xFFF00000        # -0x100000
SKF_LL_OFF = 0xFFE00000         # -0x200000
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
SKF_AD_VLAN_TAG = 44
SKF_AD_VLAN_TAG_PRESENT = 48
SKF_AD_PAY_OFFSET = 52
SKF_AD_MAX = 64

# classes
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
# sizes
SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1}
# modes
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0


class Unknowable(Exception):
    """The program read something about the packet the audit cannot know (its mark, its interface...)."""


class Bpf(_PayloadMatch):
    """A classic-BPF program as iptables-save prints it: "N,code jt jf k,code jt jf k,..."."""

    def __init__(self, text):
        self.text = text
        self.insns = self.parse(text)

    @staticmethod
    def parse(text):
        parts = [p.strip() for p in (text or '').strip().strip('"').split(',')]
        try:
            count = int(parts[0])
            insns = [tuple(int(n) for n in part.split()) for part in parts[1:]]
        except ValueError:
            raise MatchError('bytecode %r is not "N,code jt jf k,..."' % text)
        if count != len(insns) or not 0 < count <= BPF_MAXINSNS or any(len(i) != 4 for i in insns):
            raise MatchError('bytecode %r: expected %s instructions of 4 numbers' % (text, parts[0]))
        for pc, (code, jt, jf, k) in enumerate(insns):
            if not (0 <= code <= 0xFFFF and 0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= MASK32):
                raise MatchError('bytecode: instruction %d is out of range' % pc)
            cls = code & 0x07
            if cls == JMP:
                reach = [k] if code & 0xF0 == 0x00 else [jt, jf]
                if any(pc + 1 + r >= count for r in reach):
                    raise MatchError('bytecode: instruction %d jumps past the end' % pc)
            if cls in (ALU,) and code & 0xF0 in (0x30, 0x90) and code & 0x08 == 0 and k == 0:
                raise MatchError('bytecode: instruction %d divides by the constant 0' % pc)
            if (cls in (ST, STX) or (cls in (LD, LDX) and code & 0xE0 == MEM)) and k >= 16:
                raise MatchError('bytecode: instruction %d uses scratch memory M[%d]' % (pc, k))
        if insns[-1][0] & 0x07 != RET:
            raise MatchError('bytecode: the last instruction is not a return')
        return insns

    def run(self, pkt, trace=None):
        """Run over PacketBytes: True (non-zero return), False, or None when the result depends on the unknowable.

        trace, when a list, receives (constant, origin) for every conditional jump whose A came from the
        packet: origin is the set of packet byte offsets A depends on.
        """
        try:
            return self._run(pkt, trace) != 0
        except Unknowable:
            return UNKNOWN

    def _load(self, pkt, offset, size):
        """(value, origin); raises _OutOfBounds past the packet's end."""
        if offset >= SKF_AD_OFF:
            return self._ancillary(pkt, offset - SKF_AD_OFF), None
        if offset >= SKF_LL_OFF and offset < SKF_NET_OFF:
            raise Unknowable('link-layer header')
        if offset >= SKF_NET_OFF:
            offset -= SKF_NET_OFF
        if offset + size > len(pkt.data):
            raise _OutOfBounds()
        value = int.from_bytes(pkt.data[offset:offset + size], 'big')
        return value, frozenset(range(offset, offset + size))

    @staticmethod
    def _ancillary(pkt, what):
        if what == SKF_AD_PROTOCOL:
            return pkt.ethertype
        if what == SKF_AD_PKTTYPE:
            return 0    # PACKET_HOST: addressed to this node
        if what in (SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT):
            return 0
        if what == SKF_AD_PAY_OFFSET:
            return pkt.payload_offset
        raise Unknowable('ancillary data %d' % what)

    def _run(self, pkt, trace):
        a = x = 0
        a_origin = x_origin = None
        mem = [(0, None)] * 16
        pc = 0
        insns = self.insns
        try:
            while True:
                code, jt, jf, k = insns[pc]
                cls = code & 0x07
                pc += 1
                if cls == LD:
                    mode, size = code & 0xE0, SIZE_BYTES.get(code & 0x18)
                    if mode == IMM:
                        a, a_origin = k, None
                    elif mode == ABS:
                        a, a_origin = self._load(pkt, k, size)
                    elif mode == IND:
                        # the value is the bytes read, whatever computed their offset
                        a, a_origin = self._load(pkt, (x + k) & MASK32, size)
                    elif mode == MEM:
                        a, a_origin = mem[k]
                    elif mode == LEN:
                        a, a_origin = len(pkt.data), None
                    else:
                        raise Unknowable('load mode 0x%x' % mode)
                elif cls == LDX:
                    mode = code & 0xE0
                    if mode == IMM:
                        x, x_origin = k, None
                    elif mode == MEM:
                        x, x_origin = mem[k]
                    elif mode == LEN:
                        x, x_origin = len(pkt.data), None
                    elif mode == MSH:
                        byte, origin = self._load(pkt, k, 1)
                        x, x_origin = (byte & 0x0F) * 4, origin
                    else:
                        raise Unknowable('ldx mode 0x%x' % mode)
                elif cls == ST:
                    mem[k] = (a, a_origin)
                elif cls == STX:
                    mem[k] = (x, x_origin)
                elif cls == ALU:
                    op = code & 0xF0
                    if op == 0x80:      # NEG
                        a = (-a) & MASK32
                        continue
                    operand, origin = (x, x_origin) if code & 0x08 else (k, None)
                    a = self._alu(op, a, operand)
                    a_origin = _union(a_origin, origin)
                elif cls == JMP:
                    op = code & 0xF0
                    if op == 0x00:
                        pc += k
                        continue
                    operand, origin = (x, x_origin) if code & 0x08 else (k, None)
                    if trace is not None and a_origin and origin is None:
                        trace.append((operand, a_origin))
                    if op == 0x10:
                        taken = a == operand
                    elif op == 0x20:
                        taken = a > operand
                    elif op == 0x30:
                        taken = a >= operand
                    elif op == 0x40:
                        taken = bool(a & operand)
                    else:
                        raise Unknowable('jump op 0x%x' % op)
                    pc += jt if taken else jf
                elif cls == RET:
                    rval = code & 0x18
                    return a if rval == 0x10 else x if rval == 0x08 else k
                else:   # MISC
                    if code & 0xF8 == 0x80:
                        a, a_origin = x, x_origin
                    else:
                        x, x_origin = a, a_origin
        except _OutOfBounds:
            # the kernel ends the program with 0 when a load falls outside the packet
            return 0
        except _DivisionByZero:
            return 0

    @staticmethod
    def _alu(op, a, operand):
        if op == 0x00:
            return (a + operand) & MASK32
        if op == 0x10:
            return (a - operand) & MASK32
        if op == 0x20:
            return (a * operand) & MASK32
        if op == 0x30:
            if operand == 0:
                raise _DivisionByZero()
            return a // operand
        if op == 0x40:
            return a | operand
        if op == 0x50:
            return a & operand
        if op == 0x60:
            return (a << operand) & MASK32 if operand < 32 else 0
        if op == 0x70:
            return a >> operand if operand < 32 else 0
        if op == 0x90:
            if operand == 0:
                raise _DivisionByZero()
            return a % operand
        if op == 0xA0:
            return a ^ operand
        raise Unknowable('alu op 0x%x' % op)


class _OutOfBounds(Exception):
    pass


class _DivisionByZero(Exception):
    pass


def _union(first, second):
    if first is None:
        return second
    if second is None:
        return first
    return first | second


# ---------------------------------------------------------------------------
# u32 (xt_u32 --u32)
# ---------------------------------------------------------------------------

U32_MAX_TESTS = 10
U32_MAX_NUMS = 10


def _number(text):
    text = text.strip()
    try:
        value = int(text, 16) if text.lower().startswith('0x') else int(text, 8) if text.startswith('0') and len(
            text) > 1 else int(text)
    except ValueError:
        raise MatchError('%r is not a number' % text)
    if not 0 <= value <= MASK32:
        raise MatchError('%r is out of range' % text)
    return value


class U32(_PayloadMatch):
    """A u32 expression: tests joined by &&, each "location=ranges"."""

    def __init__(self, text):
        self.text = text
        self.tests = self.parse(text)

    @staticmethod
    def parse(text):
        tests = []
        for part in (text or '').strip().strip('"').split('&&'):
            if '=' not in part:
                raise MatchError('u32 test %r has no "="' % part)
            location, values = part.split('=', 1)
            ops = []
            rest = location.strip()
            token = ''
            op = None
            i = 0
            while i < len(rest):
                two = rest[i:i + 2]
                if two in ('<<', '>>'):
                    ops.append((op, _number(token)))
                    op, token = two, ''
                    i += 2
                    continue
                if rest[i] in '&@':
                    ops.append((op, _number(token)))
                    op, token = rest[i], ''
                    i += 1
                    continue
                token += rest[i]
                i += 1
            ops.append((op, _number(token)))
            ranges = []
            for item in values.split(','):
                low, _sep, high = item.partition(':')
                ranges.append((_number(low), _number(high) if high.strip() else _number(low)))
            if len(ops) > U32_MAX_NUMS or len(ranges) > U32_MAX_NUMS:
                raise MatchError('u32 test %r is too long' % part)
            tests.append((ops, ranges))
        if not tests or len(tests) > U32_MAX_TESTS:
            raise MatchError('u32 %r: 1 to %d tests' % (text, U32_MAX_TESTS))
        return tests

    def run(self, pkt, trace=None):
        data = pkt.data
        length = len(data)

        def load(offset):
            return int.from_bytes(data[offset:offset + 4], 'big'), frozenset(range(offset, offset + 4))

        for ops, ranges in self.tests:
            at = 0
            pos = ops[0][1]
            if length < 4 or pos > length - 4:
                return False
            val, origin = load(pos)
            for op, number in ops[1:]:
                if op == '&':
                    val &= number
                elif op == '<<':
                    val = (val << number) & MASK32 if number < 32 else 0
                elif op == '>>':
                    val = val >> number if number < 32 else 0
                else:   # '@'
                    at += val
                    pos = number
                    if at > MASK32 or length < at + 4 or pos > length - at - 4:
                        return False
                    val, origin = load(at + pos)
            if trace is not None:
                for low, high in ranges:
                    if low == high:
                        trace.append((low, origin))
            if not any(low <= val <= high for low, high in ranges):
                return False
        return True
