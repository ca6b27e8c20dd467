# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""nftables' JSON interface (`nft -j`), in and out, for the fence.

In: the batches sent to `nft -j -f -` (replace_batch replaces the table in one transaction,
delete_batch removes it) and the table read back from the persisted batch. Out: `nft -j list`
output parsed, one table picked out, its canonical form (handles and counters dropped, set
elements collapsed) for idempotence, nft-like text for humans, and table_differences, the
plain-words diff of two canonical tables. Pure functions, driven by recorded `nft -j` output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec import (
    INPUT_CHAIN,
    LEARNED_CHAINS,
    TABLE_FAMILY,
    TABLE_NAME,
    minimal_networks,
)


def replace_batch(objects):
    """One transaction: create the table if absent, delete it, add it again with everything.

    `add table` first makes the `delete` valid when the table does not exist yet
    (nft 1.0.6 has no `destroy`), and the kernel applies the batch atomically.
    """
    table = {'family': TABLE_FAMILY, 'name': TABLE_NAME}
    batch = [{'add': {'table': dict(table)}}, {'delete': {'table': dict(table)}}]
    for obj in objects:
        batch.append({'add': obj})
    return {'nftables': batch}


def delete_batch():
    return {'nftables': [{'delete': {'table': {'family': TABLE_FAMILY, 'name': TABLE_NAME}}}]}


def table_objects_from_batch(batch):
    """The table objects a replace_batch() adds (used to read back the persisted file)."""
    objs = []
    for cmd in (batch or {}).get('nftables', []):
        if isinstance(cmd, dict) and 'add' in cmd:
            objs.append(cmd['add'])
    # the first add is the empty placeholder table before the delete
    tables = [i for i, o in enumerate(objs) if 'table' in o]
    if len(tables) > 1:
        objs = objs[tables[-1]:]
    return objs


# ---------------------------------------------------------------------------
# Reading, canonical form, rendering
# ---------------------------------------------------------------------------

def table_absent(err):
    """Whether `nft list table` failed because the table does not exist (nft's words for it)."""
    return 'No such file or directory' in err or 'does not exist' in err


def parse_ruleset(text):
    """`nft -j list ...` output -> list of objects (metainfo dropped)."""
    data = json.loads(text) if isinstance(text, str) else text
    return [obj for obj in data.get('nftables', []) if 'metainfo' not in obj]


def table_objects(objects, family=TABLE_FAMILY, name=TABLE_NAME):
    """The objects of one table, in listing order; None when the table is absent."""
    result = []
    found = False
    for obj in objects:
        kind = next(iter(obj))
        body = obj[kind]
        if kind == 'table':
            if body.get('family') == family and body.get('name') == name:
                found = True
                result.append(obj)
            continue
        if body.get('family') == family and body.get('table') == name:
            result.append(obj)
    return result if found else None


def _strip(value):
    """Drop handles and zero counters, recursively."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == 'handle':
                continue
            if key == 'counter' and isinstance(item, dict):
                out[key] = None
                continue
            out[key] = _strip(item)
        return out
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _canon_elem(elem):
    if isinstance(elem, dict) and 'elem' in elem:
        elem = elem['elem'].get('val', elem['elem'])
    if isinstance(elem, dict) and 'prefix' in elem:
        return ipaddress.ip_network('%s/%s' % (elem['prefix']['addr'], elem['prefix']['len']), strict=False)
    if isinstance(elem, dict) and 'range' in elem:
        low, high = [ipaddress.ip_address(v) for v in elem['range']]
        return list(ipaddress.summarize_address_range(low, high))
    if isinstance(elem, str):
        try:
            return ipaddress.ip_network(elem, strict=False)
        except ValueError:
            return elem
    return elem


def canonical_set_elements(elems):
    nets, other = [], []
    for elem in elems or []:
        value = _canon_elem(elem)
        if isinstance(value, list):
            nets.extend(value)
        elif isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            nets.append(value)
        else:
            other.append(json.dumps(value, sort_keys=True))
    return [str(n) if n.prefixlen != n.max_prefixlen else str(n.network_address)
            for n in minimal_networks(nets)] + sorted(other)


def canonical_table(objects):
    """A table's objects -> a plain, comparable dict; None for an absent table.

    Handles and counter values are dropped, set elements collapsed and sorted, so
    that what `nft` lists back compares equal to what was sent.
    """
    if objects is None:
        return None
    canon = {'sets': {}, 'chains': {}}
    order = []
    for obj in objects:
        kind = next(iter(obj))
        body = obj[kind]
        if kind == 'set':
            canon['sets'][body['name']] = {
                'type': body.get('type'),
                'flags': sorted(body.get('flags', [])),
                'elem': canonical_set_elements(body.get('elem')),
            }
        elif kind == 'chain':
            chain = {'rules': []}
            for key in ('type', 'hook', 'prio', 'policy'):
                if key in body:
                    chain[key] = body[key]
            canon['chains'][body['name']] = chain
            order.append(body['name'])
        elif kind == 'rule':
            if body.get('chain') in LEARNED_CHAINS:
                continue    # learned from Docker, not declared: see learned_rules()
            entry = {'expr': _strip(body.get('expr', []))}
            if body.get('comment'):
                entry['comment'] = body['comment']
            canon['chains'].setdefault(body['chain'], {'rules': []})['rules'].append(entry)
        elif kind in ('map', 'flowtable', 'counter', 'quota', 'ct helper', 'limit', 'ct timeout', 'ct expectation', 'secmark', 'synproxy'):
            canon.setdefault('other', []).append(json.dumps(_strip(obj), sort_keys=True))
    return canon


# Rendering: nft-like text for humans (diffs, findings). Not fed back to nft.

def _render_value(value):
    if isinstance(value, bool):
        return 'exists' if value else 'missing'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        bare = value.startswith('@') or value.replace('-', '').replace('.', '').replace(':', '').replace('_', '').isalnum()
        return value if bare else '"%s"' % value
    if isinstance(value, list):
        return ','.join(_render_value(v) for v in value)
    if isinstance(value, dict):
        if 'set' in value:
            items = value['set'] if isinstance(value['set'], list) else [value['set']]
            return '{ %s }' % ', '.join(_render_value(v) for v in items)
        if 'prefix' in value:
            return '%s/%s' % (value['prefix']['addr'], value['prefix']['len'])
        if 'range' in value:
            return '%s-%s' % tuple(_render_value(v) for v in value['range'])
    return json.dumps(value, sort_keys=True)


def _render_left(left):
    if 'payload' in left:
        pay = left['payload']
        if 'protocol' in pay:
            return '%s %s' % (pay['protocol'], pay['field'])
        if 'base' in pay:
            return '@%s,%s,%s' % (pay['base'], pay.get('offset'), pay.get('len'))
        return 'payload %s' % json.dumps(pay, sort_keys=True)
    if 'meta' in left:
        return 'meta %s' % left['meta']['key']
    if 'ct' in left:
        return 'ct %s' % left['ct']['key']
    if 'rt' in left:
        return 'rt %s' % left['rt']['key']
    return json.dumps(left, sort_keys=True)


def render_expr(expr):
    kind = next(iter(expr))
    body = expr[kind]
    if kind == 'match':
        op = body.get('op', '==')
        left = _render_left(body['left'])
        right = _render_value(body['right'])
        if op in ('==', 'in'):
            return '%s %s' % (left, right)
        return '%s %s %s' % (left, op, right)
    if kind in ('accept', 'drop', 'continue', 'return'):
        return kind
    if kind in ('jump', 'goto'):
        return '%s %s' % (kind, body['target'])
    if kind == 'counter':
        return 'counter'
    if kind == 'xt':
        return 'xt %s "%s"' % (body.get('type', 'match'), body.get('name'))
    if kind == 'reject':
        return 'reject'
    if kind == 'log':
        return 'log'
    return '%s %s' % (kind, json.dumps(body, sort_keys=True))


def render_rule(expr):
    return ' '.join(render_expr(e) for e in expr)


def render_table(canon, family=TABLE_FAMILY, name=TABLE_NAME):
    """Canonical table -> nft-like text ('' for an absent table)."""
    if canon is None:
        return ''
    lines = ['table %s %s {' % (family, name)]
    for set_name in sorted(canon['sets']):
        body = canon['sets'][set_name]
        lines.append('\tset %s {' % set_name)
        lines.append('\t\ttype %s' % body['type'])
        if body['flags']:
            lines.append('\t\tflags %s' % ','.join(body['flags']))
        if body['elem']:
            lines.append('\t\telements = { %s }' % ', '.join(body['elem']))
        lines.append('\t}')
    for chain_name in sorted(canon['chains'], key=lambda n: (n != INPUT_CHAIN, n)):
        chain = canon['chains'][chain_name]
        lines.append('\tchain %s {' % chain_name)
        if 'hook' in chain:
            lines.append('\t\ttype %s hook %s priority %s; policy %s;' % (
                chain.get('type'), chain['hook'], chain.get('prio'), chain.get('policy', 'accept')))
        for rule in chain['rules']:
            text = render_rule(rule['expr'])
            if rule.get('comment'):
                text += ' comment "%s"' % rule['comment']
            lines.append('\t\t' + text)
        lines.append('\t}')
    for other in canon.get('other', []):
        lines.append('\t# ' + other)
    lines.append('}')
    return '\n'.join(lines) + '\n'


def rule_count(canon):
    if canon is None:
        return 0
    return sum(len(chain['rules']) for chain in canon['chains'].values())


def element_count(canon):
    if canon is None:
        return 0
    return sum(len(s['elem']) for s in canon['sets'].values())


def table_differences(before, after):
    """Plain-words differences between two canonical tables (before -> after)."""
    if before is None and after is None:
        return []
    if before is None:
        return ['the table is missing']
    if after is None:
        return ['the table would be removed']
    diffs = []
    for name in sorted(set(before['sets']) | set(after['sets'])):
        b, a = before['sets'].get(name), after['sets'].get(name)
        if b is None:
            diffs.append('set %s is missing' % name)
        elif a is None:
            diffs.append('set %s is not ours' % name)
        else:
            if b['type'] != a['type'] or b['flags'] != a['flags']:
                diffs.append('set %s has type %s flags %s instead of %s flags %s' % (
                    name, b['type'], b['flags'], a['type'], a['flags']))
            missing = [e for e in a['elem'] if e not in b['elem']]
            extra = [e for e in b['elem'] if e not in a['elem']]
            if missing:
                diffs.append('set %s lacks %s' % (name, ', '.join(missing)))
            if extra:
                diffs.append('set %s has extra %s' % (name, ', '.join(extra)))
    for name in sorted(set(before['chains']) | set(after['chains'])):
        b, a = before['chains'].get(name), after['chains'].get(name)
        if b is None:
            diffs.append('chain %s is missing' % name)
            continue
        if a is None:
            diffs.append('chain %s is not ours' % name)
            continue
        for key in ('type', 'hook', 'prio', 'policy'):
            if b.get(key) != a.get(key):
                diffs.append('chain %s has %s %s instead of %s' % (name, key, b.get(key), a.get(key)))
        b_rules = [render_rule(r['expr']) for r in b['rules']]
        a_rules = [render_rule(r['expr']) for r in a['rules']]
        for text in a_rules:
            if text not in b_rules:
                diffs.append('chain %s lacks the rule "%s"' % (name, text))
        for text in b_rules:
            if text not in a_rules:
                diffs.append('chain %s has a rule that is not ours: "%s"' % (name, text))
        if sorted(b_rules) == sorted(a_rules) and b_rules != a_rules:
            diffs.append('chain %s has its rules in another order' % name)
    return diffs
