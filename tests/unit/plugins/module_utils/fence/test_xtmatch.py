# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fence/xtmatch.py: the u32 and classic-BPF matches Docker writes, run over the imagined packet's bytes."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import iptables as fence_iptables
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import evaluate as fence_evaluate
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import xtmatch as fence_xtmatch

# As Docker 26.1 and 28.5 wrote it for VNI 4097 (fixtures/nft/docker-26.1/manager-fenced.iptables-save).
DOCKER_BPF = '7,32 0 0 4294963252,7 0 0 0,64 0 0 4,116 0 0 8,21 1 0 4097,6 0 0 0,6 0 0 4294967295'
# As Docker 20.10 wrote it (fixtures/nft/docker-20.10/manager-fenced.iptables-save).
DOCKER_U32 = '0x0>>0x16&0x3c@0xc&0xffffff00=0x100100'


def vxlan(vni, source='172.27.0.3', proto='udp', port=4789):
    return fence_evaluate.Packet(source, '172.27.0.2', proto, port, vni=vni)


def bpf(*insns):
    return fence_xtmatch.Bpf('%d,%s' % (len(insns), ','.join('%d %d %d %d' % i for i in insns)))


# classic-BPF opcodes used below
LD_W_ABS, LD_W_IND, LD_B_ABS, LDX_B_MSH, LD_IMM = 0x20, 0x40, 0x30, 0xB1, 0x00
RSH_K, AND_K, JEQ_K, JGT_K, RET_K, RET_A, TAX = 0x74, 0x54, 0x15, 0x25, 0x06, 0x16, 0x07
PAY_OFFSET = fence_xtmatch.SKF_AD_OFF + fence_xtmatch.SKF_AD_PAY_OFFSET


def test_packet_bytes_of_a_vxlan_datagram():
    pkt = fence_xtmatch.packet_bytes(vxlan(4097))
    assert len(pkt.data) == 20 + 8 + 8
    assert pkt.data[0] == 0x45 and pkt.data[9] == 17
    assert struct.unpack('!HH', pkt.data[20:24])[1] == 4789
    assert pkt.payload_offset == 28 and pkt.vni_offset == 32
    assert struct.unpack('!II', pkt.data[28:36]) == (0x08000000, 4097 << 8)
    # no VNI, no VXLAN header: an empty datagram; ESP has its SPI and sequence number
    assert len(fence_xtmatch.packet_bytes(vxlan(None)).data) == 28
    assert len(fence_xtmatch.packet_bytes(vxlan(None, proto='esp', port=None)).data) == 28
    six = fence_xtmatch.packet_bytes(fence_evaluate.Packet('2001:db8::1', None, 'udp', 4789, vni=7))
    assert six.ethertype == 0x86DD and six.payload_offset == 48 and six.vni_offset == 52


@pytest.mark.parametrize('matcher', [fence_xtmatch.Bpf(DOCKER_BPF), fence_xtmatch.U32(DOCKER_U32)], ids=['bpf', 'u32'])
def test_dockers_matches_single_out_one_vni(matcher):
    assert matcher.matches(vxlan(4097)) is True
    for other in (0, 4096, 4098, 4097 ^ 0x100, 4097 | 0x800000, None):
        assert matcher.matches(vxlan(other)) is False, other
    # not VXLAN at all
    assert matcher.matches(vxlan(None, proto='esp', port=None)) is False
    assert matcher.matches(vxlan(None, proto='tcp', port=2377)) is False
    assert matcher.derive_vni(vxlan(0)) == 4097


def test_the_bpf_program_is_decoded_instruction_by_instruction():
    program = fence_xtmatch.Bpf(DOCKER_BPF)
    assert program.insns == [
        (LD_W_ABS, 0, 0, PAY_OFFSET),   # A = payload offset (first byte after the UDP header)
        (TAX, 0, 0, 0),                 # X = A
        (LD_W_IND, 0, 0, 4),            # A = word at X + 4: VNI and the reserved byte
        (RSH_K, 0, 0, 8),               # A >>= 8: the VNI
        (JEQ_K, 1, 0, 4097),            # A == 4097 ? match : no match
        (RET_K, 0, 0, 0),
        (RET_K, 0, 0, 0xFFFFFFFF),
    ]
    trace = []
    program.run(fence_xtmatch.packet_bytes(vxlan(5)), trace)
    # the one comparison, with the bytes its operand came from: 32..35 is the VNI's word
    assert trace == [(4097, frozenset([32, 33, 34, 35]))]


def test_the_vni_is_derived_whatever_way_the_program_reads_it():
    # IP header length from the packet (LDX MSH) instead of the payload offset, and a mask, not a shift
    program = bpf((LDX_B_MSH, 0, 0, 0), (LD_W_IND, 0, 0, 12), (AND_K, 0, 0, 0xFFFFFF00),
                  (JEQ_K, 0, 1, 4200 << 8), (RET_K, 0, 0, 1), (RET_K, 0, 0, 0))
    assert program.matches(vxlan(4200)) is True and program.matches(vxlan(4201)) is False
    assert program.derive_vni(vxlan(0)) == 4200
    # a u32 test split in two, and a range that is no single network
    assert fence_xtmatch.U32('0x0>>0x16&0x3c@0x8=0x08000000&&0x0>>0x16&0x3c@0xc>>0x8=0x1068').derive_vni(vxlan(0)) == 0x1068
    assert fence_xtmatch.U32('0x0>>0x16&0x3c@0xc>>0x8=0x1000:0x1fff').derive_vni(vxlan(0)) is None


def test_a_program_that_matches_more_than_one_vni_has_no_vni():
    # compares only the low byte: 4097 and 4353 alike
    program = bpf((LD_W_ABS, 0, 0, PAY_OFFSET), (TAX, 0, 0, 0), (LD_W_IND, 0, 0, 4), (RSH_K, 0, 0, 8),
                  (AND_K, 0, 0, 0xFF), (JEQ_K, 1, 0, 4097 & 0xFF), (RET_K, 0, 0, 0), (RET_K, 0, 0, 1))
    assert program.matches(vxlan(4097)) and program.matches(vxlan(4353))
    assert program.derive_vni(vxlan(0)) is None
    # a program that never looks at the VNI
    assert bpf((RET_K, 0, 0, 1)).derive_vni(vxlan(0)) is None
    assert bpf((RET_K, 0, 0, 1)).matches(vxlan(None)) is True


def test_kernel_semantics_out_of_bounds_and_what_cannot_be_known():
    # a load past the packet's end ends the program with 0: no match
    assert bpf((LD_W_ABS, 0, 0, 1000), (RET_K, 0, 0, 1)).matches(vxlan(4097)) is False
    # the packet's mark, its interface, the link layer: not the audit's to know
    mark = fence_xtmatch.SKF_AD_OFF + 20
    assert bpf((LD_W_ABS, 0, 0, mark), (RET_A, 0, 0, 0)).matches(vxlan(4097)) is None
    assert bpf((LD_B_ABS, 0, 0, fence_xtmatch.SKF_LL_OFF), (RET_A, 0, 0, 0)).matches(vxlan(4097)) is None
    # ... while the protocol and the network header are
    proto = fence_xtmatch.SKF_AD_OFF + fence_xtmatch.SKF_AD_PROTOCOL
    assert bpf((LD_W_ABS, 0, 0, proto), (JEQ_K, 0, 1, 0x0800), (RET_K, 0, 0, 1), (RET_K, 0, 0, 0)).matches(
        vxlan(1)) is True
    assert bpf((LD_B_ABS, 0, 0, fence_xtmatch.SKF_NET_OFF + 9), (RET_A, 0, 0, 0)).matches(vxlan(1)) is True
    # division by a zero X ends with 0 as well
    assert bpf((LD_IMM, 0, 0, 5), (0x3C, 0, 0, 0), (RET_K, 0, 0, 1)).matches(vxlan(1)) is False
    # u32: an offset beyond the packet fails the test
    assert fence_xtmatch.U32('0x100=0x0').matches(vxlan(1)) is False


@pytest.mark.parametrize('text', [
    'not a program',
    '3,6 0 0 0',                        # count says 3, one instruction given
    '2,21 5 0 1,6 0 0 0',               # jumps past the end
    '1,32 0 0 0',                       # does not end with a return
    '2,52 0 0 0,6 0 0 0',               # division by the constant 0
    '2,2 0 0 16,6 0 0 0',               # scratch memory M[16]
])
def test_programs_the_kernel_would_refuse_are_errors(text):
    with pytest.raises(fence_xtmatch.MatchError):
        fence_xtmatch.Bpf(text)


@pytest.mark.parametrize('text', ['0x0>>0x16', '0xzz=1', '=1', '0x0=0x1:zz'])
def test_bad_u32_expressions_are_errors(text):
    with pytest.raises(fence_xtmatch.MatchError):
        fence_xtmatch.U32(text)


def test_iptables_rules_with_either_match():
    bpf_rule = fence_iptables.rule_from_argv(
        ['-p', 'udp', '-m', 'policy', '--dir', 'in', '--pol', 'none', '-m', 'udp', '--dport', '4789', '-m', 'bpf',
         '--bytecode', DOCKER_BPF, '-j', 'DROP'], 'ip', 'filter', 'INPUT', {})
    u32_rule = fence_iptables.rule_from_argv(
        ['-p', 'udp', '-m', 'udp', '--dport', '4789', '-m', 'u32', '--u32', DOCKER_U32, '-j', 'DROP'],
        'ip', 'filter', 'INPUT', {})
    for rule in (bpf_rule, u32_rule):
        assert fence_iptables.rule_vni(rule) == 4097
        assert [c.key for c in rule.conds if c.key in ('payload', 'unknown')] == ['payload']
    # a match that cannot be parsed stays a doubt, and a negated one names no network
    broken = fence_iptables.rule_from_argv(['-m', 'bpf', '--bytecode', '2,6 0 0', '-j', 'DROP'], 'ip', 'filter', 'INPUT', {})
    assert [c.key for c in broken.conds] == ['unknown']
    negated = fence_iptables.rule_from_argv(['-m', 'u32', '!', '--u32', DOCKER_U32, '-j', 'DROP'], 'ip', 'filter', 'INPUT',
                                            {})
    assert fence_iptables.rule_vni(negated) is None
    assert negated.conds[0].test(vxlan(4097)) is False and negated.conds[0].test(vxlan(4098)) is True
    # an eBPF object pinned in bpffs cannot be read from here
    pinned = fence_iptables.rule_from_argv(['-m', 'bpf', '--object-pinned', '/sys/fs/bpf/x', '-j', 'DROP'], 'ip', 'filter',
                                           'INPUT', {})
    assert [c.key for c in pinned.conds] == ['unknown']
