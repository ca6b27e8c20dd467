# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""xfrm: IPsec policies and states (SAs) as `ip xfrm` shows them, and /proc/net/xfrm_stat.

iproute2 6.1 (Debian 12) accepts `ip -j xfrm ...` but ignores -j and prints text, so the text
is what is parsed here. Key material (the aead, enc and auth lines) is never kept: nothing that
leaves this parser can reveal a key. Pure functions, driven by recorded `ip xfrm` output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time


_XFRM_INT_RE = re.compile(r'^(0x[0-9a-fA-F]+|\d+)')
_XFRM_COUNTERS_RE = re.compile(r'(\d+)\(bytes\),\s*(\d+)\(packets\)')
# The 'lifetime current' block's second line: "add 2026-11-24 14:55:20 use -" (the node's local time).
_XFRM_ADDED_RE = re.compile(r'\badd (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)')
_XFRM_SECRET_KEYS = ('aead', 'enc', 'auth', 'auth-trunc', 'comp')


def _xfrm_int(token):
    """'0x00001234', '0x00001234(4660)' or '4660' -> 4660; None when not a number."""
    match = _XFRM_INT_RE.match(token or '')
    if not match:
        return None
    text = match.group(1)
    return int(text, 16) if text.startswith('0x') else int(text)


def _xfrm_addr(token):
    """An address or prefix from ip xfrm: '10.0.0.1/32' -> '10.0.0.1'; '0.0.0.0/0' stays."""
    if token and '/' in token:
        addr, length = token.split('/', 1)
        if (':' in addr and length == '128') or (':' not in addr and length == '32'):
            return addr
    return token


def _xfrm_pairs(tokens, keys):
    """The values following the given keywords in a token list."""
    found = {}
    for index, token in enumerate(tokens[:-1]):
        if token in keys and token not in found:
            found[token] = tokens[index + 1]
    return found


def _xfrm_blocks(text):
    """Split `ip xfrm` output into blocks: a line starting in column 0 opens one."""
    blocks = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() or not blocks:
            blocks.append([])
        blocks[-1].append(line)
    return blocks


def parse_xfrm_policies(text):
    """`ip xfrm policy` text -> list of dicts.

    Each dict: src, dst (addresses, /32 and /128 dropped), proto, sport, dport
    (int or None), dir ('out', 'in', 'fwd', or 'socket-in' / 'socket-out' for
    per-socket policies), action, priority, mark (str such as '0xd0c4e3/0xffffffff' or None)
    and tmpl, a list of {src, dst, proto, spi, reqid, mode}.
    """
    policies = []
    for block in _xfrm_blocks(text):
        head = block[0].split()
        sel = _xfrm_pairs(head, ('src', 'dst', 'proto', 'sport', 'dport', 'dev'))
        policy = {
            'src': _xfrm_addr(sel.get('src')),
            'dst': _xfrm_addr(sel.get('dst')),
            'proto': sel.get('proto'),
            'sport': _xfrm_int(sel.get('sport')),
            'dport': _xfrm_int(sel.get('dport')),
            'dir': None,
            'action': 'allow',
            'priority': None,
            'mark': None,
            'tmpl': [],
        }
        for line in block[1:]:
            tokens = line.split()
            if not tokens:
                continue
            first = tokens[0]
            if first in ('dir', 'socket'):
                pairs = _xfrm_pairs(tokens, ('dir', 'socket', 'priority', 'action'))
                policy['dir'] = pairs['dir'] if 'dir' in pairs else 'socket-%s' % pairs.get('socket')
                policy['priority'] = _xfrm_int(pairs.get('priority'))
                if 'action' in pairs:
                    policy['action'] = pairs['action'].lower()
            elif first == 'mark':
                policy['mark'] = tokens[1] if len(tokens) > 1 else None
            elif first == 'tmpl':
                pairs = _xfrm_pairs(tokens, ('src', 'dst'))
                policy['tmpl'].append({'src': pairs.get('src'), 'dst': pairs.get('dst'),
                                       'proto': None, 'spi': None, 'reqid': None, 'mode': None})
            elif first == 'proto' and policy['tmpl']:
                pairs = _xfrm_pairs(tokens, ('proto', 'spi', 'reqid', 'mode'))
                policy['tmpl'][-1].update({'proto': pairs.get('proto'), 'spi': _xfrm_int(pairs.get('spi')),
                                           'reqid': _xfrm_int(pairs.get('reqid')), 'mode': pairs.get('mode')})
        policies.append(policy)
    return policies


def parse_xfrm_states(text):
    """`ip -s xfrm state` (or `ip xfrm state`) text -> list of dicts, without keys.

    Each dict: src, dst, proto, spi (int), reqid, mode, mark, algorithm (the name
    of the aead or enc algorithm, such as 'rfc4106(gcm(aes))', never its key),
    bytes and packets (the 'lifetime current' counters; None without -s), added (when the SA was put in the
    kernel, as epoch seconds: iproute2 prints the node's local time, so parse this on the node; None without
    -s). The counters start at 0 when an SA is added, so two nodes' counters are comparable only over the time
    both SAs existed.
    """
    states = []
    for block in _xfrm_blocks(text):
        head = _xfrm_pairs(block[0].split(), ('src', 'dst'))
        state = {'src': head.get('src'), 'dst': head.get('dst'), 'proto': None, 'spi': None, 'reqid': None,
                 'mode': None, 'mark': None, 'algorithm': None, 'bytes': None, 'packets': None, 'added': None}
        counters_next = False
        added_next = False
        for line in block[1:]:
            tokens = line.split()
            if not tokens:
                continue
            first = tokens[0]
            if added_next:
                added_next = False
                match = _XFRM_ADDED_RE.search(line)
                if match:
                    state['added'] = _xfrm_time(match.group(1))
                    continue
            if counters_next:
                counters_next = False
                match = _XFRM_COUNTERS_RE.search(line)
                if match:
                    state['bytes'] = int(match.group(1))
                    state['packets'] = int(match.group(2))
                    added_next = True
                    continue
            if first == 'proto':
                pairs = _xfrm_pairs(tokens, ('proto', 'spi', 'reqid', 'mode'))
                state.update({'proto': pairs.get('proto'), 'spi': _xfrm_int(pairs.get('spi')),
                              'reqid': _xfrm_int(pairs.get('reqid')), 'mode': pairs.get('mode')})
            elif first == 'mark':
                state['mark'] = tokens[1] if len(tokens) > 1 else None
            elif first in _XFRM_SECRET_KEYS:
                # "aead NAME KEY ICV-BITS": keep the name, drop the key.
                if first in ('aead', 'enc') and len(tokens) > 1:
                    state['algorithm'] = tokens[1]
            elif first == 'lifetime' and len(tokens) > 1 and tokens[1].startswith('current'):
                counters_next = True
        states.append(state)
    return states


def _xfrm_time(text):
    """'2026-11-24 14:55:20' in this host's local time -> epoch seconds (int), or None."""
    try:
        return int(time.mktime(time.strptime(text, '%Y-%m-%d %H:%M:%S')))
    except (ValueError, OverflowError):
        return None


def parse_xfrm_stat(text):
    """/proc/net/xfrm_stat -> {counter name: int}, such as {'XfrmInNoStates': 5}."""
    counters = {}
    for line in (text or '').splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters
