# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# nftables, through its JSON interface (`nft -j`). Three parts, all pure functions
# over Python data so that unit tests can drive them with recorded `nft -j list
# ruleset` output:
#   1. the swarm fence: validated input -> the objects of table inet ironclad_swarm,
#      and one batch that replaces the table in a single transaction;
#   2. canonical form and text rendering of a table, for idempotence and --diff;
#   3. a small evaluator that answers "would this packet be accepted on the input
#      hook?" over every table of a ruleset (ours, Docker's iptables-nft tables,
#      anyone else's), used by firewall_audit.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.options import is_encrypted_overlay, network_vnis

TABLE_FAMILY = 'inet'
TABLE_NAME = 'ironclad_swarm'
INPUT_CHAIN = 'input'
PEER_CHAIN = 'swarm_peer'
SET_PEERS4 = 'peers4'
SET_PEERS6 = 'peers6'
# Sets of the managers' addresses, in tables written before TCP 2377 was admitted on every node (read only by
# the fence audit, to tell a manager of such a table).
SET_MANAGERS4 = 'managers4'
SET_MANAGERS6 = 'managers6'
OUTPUT_CHAIN = 'output'
# One rule per overlay network the node's engine knows, matching its VXLAN id: a packet of an
# encrypted network that arrives or leaves outside IPsec is counted and dropped, a plain network's
# packets are counted only. What these chains hold is learned from Docker (by the node agent, see
# sync_cleartext_batch), not declared: the fence's canonical form, its persisted file and its
# "as applied" check leave their rules out. They are chains of rules and not a set because nft
# 1.0.6 (Debian 12) cannot declare a set keyed by a raw payload (typeof) through its JSON interface.
CLEARTEXT_IN_CHAIN = 'cleartext_in'
CLEARTEXT_OUT_CHAIN = 'cleartext_out'
LEARNED_CHAINS = (CLEARTEXT_IN_CHAIN, CLEARTEXT_OUT_CHAIN)
VNI_PAYLOAD = {'payload': {'base': 'th', 'offset': 96, 'len': 24}}   # VXLAN id: bytes 4-6 after the UDP header
# The output chain runs at filter priority whatever the input chain's priority: only after Docker's mangle
# OUTPUT chain (-150) has marked an encrypted network's VXLAN and the packet was routed again does its route
# carry IPsec (`rt ipsec exists`). Measured on the VM lab: the same drop at -160 dropped every encrypted packet.
OUTPUT_PRIORITY = 0

CONTROL_PORT = 2377
GOSSIP_PORT = 7946
DEFAULT_DATA_PATH_PORT = 4789
DEFAULT_PRIORITY = -10

PROTOCOLS = ('tcp', 'udp')


class FieldError(ValueError):
    """Bad input, with the name of the option (or option path) at fault."""

    def __init__(self, field, message):
        super(FieldError, self).__init__('%s: %s' % (field, message))
        self.field = field


# ---------------------------------------------------------------------------
# 1. Input and the desired table
# ---------------------------------------------------------------------------

def minimal_networks(nets):
    """Sorted, without duplicates and without networks inside another one of the list.

    Neighbours are not merged (10.0.0.2 and 10.0.0.3 stay two hosts, as nft lists
    them); contained ones must go, since an interval set refuses overlaps.
    """
    result = []
    for net in sorted(set(nets), key=lambda n: (n.version, n.network_address, n.prefixlen)):
        if result and result[-1].version == net.version and net.subnet_of(result[-1]):
            continue
        result.append(net)
    return result


def parse_addresses(values, field):
    """Addresses and CIDR networks -> (ipv4 networks, ipv6 networks), minimal and sorted.

    A host address with bits set below the prefix (10.0.0.5/24) is refused: it
    is almost always a typo for the host (/32) or the network.
    """
    nets4, nets6 = [], []
    for index, value in enumerate(values or []):
        where = '%s[%d]' % (field, index)
        if not isinstance(value, str) or not value.strip():
            raise FieldError(where, '%r is not an IP address or CIDR network' % (value,))
        text = value.strip()
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise FieldError(where, "'%s' is not an IP address or CIDR network (such as 203.0.113.10 or 2001:db8::/64)" % text)
            raise FieldError(where, "'%s' has host bits set; write the address alone or the network address of the prefix" % text)
        (nets4 if net.version == 4 else nets6).append(net)
    return minimal_networks(nets4), minimal_networks(nets6)


def check_port(value, field, low=1, high=65535):
    if isinstance(value, bool):
        raise FieldError(field, '%r is not a port number' % (value,))
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise FieldError(field, '%r is not a port number' % (value,))
    if str(port) != str(value).strip():
        raise FieldError(field, '%r is not a port number' % (value,))
    if not low <= port <= high:
        raise FieldError(field, '%d is out of range: use %d to %d' % (port, low, high))
    return port


def parse_allow(entries, field):
    """Public services to admit under input_policy=drop: [{port, protocol}] -> sorted (proto, port)."""
    result = set()
    for index, entry in enumerate(entries or []):
        where = '%s[%d]' % (field, index)
        if not isinstance(entry, dict):
            raise FieldError(where, 'give a dict with port and protocol, such as {port: 443, protocol: tcp}')
        unknown = sorted(set(entry) - set(['port', 'protocol']))
        if unknown:
            raise FieldError(where, 'unknown key(s) %s; known: port, protocol' % ', '.join(unknown))
        if 'port' not in entry:
            raise FieldError(where + '.port', 'is required')
        port = check_port(entry['port'], where + '.port')
        proto = entry.get('protocol', 'tcp')
        if proto not in PROTOCOLS:
            raise FieldError(where + '.protocol', "'%s' is not a known protocol: use tcp or udp" % (proto,))
        result.add((proto, port))
    return sorted(result)


class FenceSpec(object):
    """The validated desired state of the fence."""

    def __init__(self, peers4, peers6, ssh_ports, data_path_port,
                 drop_unencrypted_vxlan, input_policy, allow, allow_icmp, priority):
        self.peers4 = peers4
        self.peers6 = peers6
        self.ssh_ports = ssh_ports
        self.data_path_port = data_path_port
        self.drop_unencrypted_vxlan = drop_unencrypted_vxlan
        self.input_policy = input_policy
        self.allow = allow
        self.allow_icmp = allow_icmp
        self.priority = priority


def build_spec(params):
    """Check the module parameters and return a FenceSpec; raises FieldError naming the field."""
    peers4, peers6 = parse_addresses(params.get('peers'), 'peers')
    managers4, managers6 = parse_addresses(params.get('managers'), 'managers')
    if not peers4 and not peers6:
        raise FieldError('peers', 'is empty: the fence would drop the swarm ports from every host and cut the '
                                  'cluster apart; list the addresses of every swarm node (this one included)')
    # A manager is always a peer too: it must reach the other nodes' ports.
    peers4 = minimal_networks(peers4 + managers4)
    peers6 = minimal_networks(peers6 + managers6)
    ssh_ports = sorted(set(check_port(p, 'ssh_ports[%d]' % i) for i, p in enumerate(params.get('ssh_ports') or [])))
    data_path_port = check_port(params.get('data_path_port', DEFAULT_DATA_PATH_PORT), 'data_path_port', 1024, 49151)
    if data_path_port in (CONTROL_PORT, GOSSIP_PORT):
        raise FieldError('data_path_port', '%d is a swarm port itself; keep the default 4789' % data_path_port)
    swarm_ports = set([CONTROL_PORT, GOSSIP_PORT, data_path_port])
    for port in ssh_ports:
        if port in swarm_ports:
            raise FieldError('ssh_ports', '%d is a swarm port; SSH must listen on another one' % port)
    policy = params.get('input_policy', 'accept')
    if policy not in ('accept', 'drop'):
        raise FieldError('input_policy', "'%s' is not accept or drop" % (policy,))
    allow = parse_allow(params.get('allow'), 'allow')
    for proto, port in allow:
        if port in swarm_ports:
            raise FieldError('allow', '%s/%d is a swarm port: it is admitted from peers only; remove it from allow' % (proto, port))
    priority = params.get('priority', DEFAULT_PRIORITY)
    try:
        priority = int(priority)
    except (TypeError, ValueError):
        raise FieldError('priority', '%r is not an integer' % (priority,))
    return FenceSpec(peers4, peers6, ssh_ports, data_path_port,
                     bool(params.get('drop_unencrypted_vxlan', False)), policy, allow,
                     bool(params.get('allow_icmp', True)), priority)


def _elem(net):
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {'prefix': {'addr': str(net.network_address), 'len': net.prefixlen}}


def _set_obj(name, settype, nets):
    obj = {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'name': name, 'type': settype, 'flags': ['interval']}
    if nets:
        obj['elem'] = [_elem(n) for n in nets]
    return {'set': obj}


def _match(left, right, op='=='):
    return {'match': {'op': op, 'left': left, 'right': right}}


def _payload(protocol, field):
    return {'payload': {'protocol': protocol, 'field': field}}


def _meta(key):
    return {'meta': {'key': key}}


def _ports(ports):
    ports = sorted(set(ports))
    return ports[0] if len(ports) == 1 else {'set': ports}


COUNTER = {'counter': {'packets': 0, 'bytes': 0}}
ACCEPT = {'accept': None}
DROP = {'drop': None}


def _rule(chain, exprs, comment=None):
    rule = {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'chain': chain, 'expr': exprs}
    if comment:
        rule['comment'] = comment
    return {'rule': rule}


def desired_objects(spec):
    """The table as `nft -j list table inet ironclad_swarm` lists it (less handles)."""
    dport = spec.data_path_port
    objs = [{'table': {'family': TABLE_FAMILY, 'name': TABLE_NAME}}]
    objs.append(_set_obj(SET_PEERS4, 'ipv4_addr', spec.peers4))
    objs.append(_set_obj(SET_PEERS6, 'ipv6_addr', spec.peers6))
    objs.append({'chain': {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'name': INPUT_CHAIN, 'type': 'filter',
                           'hook': 'input', 'prio': spec.priority, 'policy': spec.input_policy}})
    objs.append({'chain': {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'name': PEER_CHAIN}})
    objs.append({'chain': {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'name': OUTPUT_CHAIN, 'type': 'filter',
                           'hook': 'output', 'prio': OUTPUT_PRIORITY, 'policy': 'accept'}})
    for name in LEARNED_CHAINS:
        objs.append({'chain': {'family': TABLE_FAMILY, 'table': TABLE_NAME, 'name': name}})

    rules = []
    # VXLAN outside IPsec goes through the per-network rules first: counted, and dropped for an
    # encrypted network (docs/watch.md: which hook sees what, measured on the VM lab).
    rules.append(_rule(INPUT_CHAIN, [_match(_payload('udp', 'dport'), dport), _match(_meta('ipsec'), False),
                                     {'jump': {'target': CLEARTEXT_IN_CHAIN}}]))
    rules.append(_rule(OUTPUT_CHAIN, [_match(_payload('udp', 'dport'), dport), _match({'rt': {'key': 'ipsec'}}, False),
                                      {'jump': {'target': CLEARTEXT_OUT_CHAIN}}]))
    if spec.drop_unencrypted_vxlan:
        # Decrypted ESP comes through the hook again with a secpath; plain VXLAN has none.
        rules.append(_rule(INPUT_CHAIN, [_match(_payload('udp', 'dport'), dport), _match(_meta('ipsec'), False),
                                         COUNTER, DROP]))
    rules.append(_rule(INPUT_CHAIN, [_match(_meta('iif'), 'lo'), ACCEPT]))
    rules.append(_rule(INPUT_CHAIN, [_match({'ct': {'key': 'state'}}, ['established', 'related'], op='in'), ACCEPT]))
    if spec.ssh_ports:
        rules.append(_rule(INPUT_CHAIN, [_match(_payload('tcp', 'dport'), _ports(spec.ssh_ports)), ACCEPT]))
    rules.append(_rule(INPUT_CHAIN, [_match(_payload('ip', 'saddr'), '@' + SET_PEERS4), {'jump': {'target': PEER_CHAIN}}]))
    rules.append(_rule(INPUT_CHAIN, [_match(_payload('ip6', 'saddr'), '@' + SET_PEERS6), {'jump': {'target': PEER_CHAIN}}]))
    rules.append(_rule(INPUT_CHAIN, [_match(_payload('tcp', 'dport'), _ports([CONTROL_PORT, GOSSIP_PORT])), COUNTER, DROP]))
    rules.append(_rule(INPUT_CHAIN, [_match(_payload('udp', 'dport'), _ports([GOSSIP_PORT, dport])), COUNTER, DROP]))
    rules.append(_rule(INPUT_CHAIN, [_match(_meta('l4proto'), 'esp'), COUNTER, DROP]))
    if spec.input_policy == 'drop':
        if spec.allow_icmp:
            rules.append(_rule(INPUT_CHAIN, [_match(_meta('l4proto'), {'set': ['icmp', 'ipv6-icmp']}), ACCEPT]))
        for proto in PROTOCOLS:
            ports = [port for p, port in spec.allow if p == proto]
            if ports:
                rules.append(_rule(INPUT_CHAIN, [_match(_payload(proto, 'dport'), _ports(ports)), ACCEPT]))
        if not spec.allow_icmp:
            # IPv6 stops working without neighbour discovery: always admit it.
            rules.append(_rule(INPUT_CHAIN, [_match(_payload('icmpv6', 'type'), {'set': [
                'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert']}), ACCEPT]))

    rules.append(_rule(PEER_CHAIN, [_match(_meta('l4proto'), 'esp'), COUNTER, ACCEPT]))
    rules.append(_rule(PEER_CHAIN, [_match(_payload('udp', 'dport'), _ports([GOSSIP_PORT, dport])), COUNTER, ACCEPT]))
    rules.append(_rule(PEER_CHAIN, [_match(_payload('tcp', 'dport'), GOSSIP_PORT), COUNTER, ACCEPT]))
    # The control port from peers on every node, not only on the managers of the inventory: only a manager
    # listens on it, and a node promoted by hand (docker node promote) must be reachable by the other managers
    # before anything re-runs this module, or the swarm loses quorum (docs/firewall.md, "TCP 2377").
    rules.append(_rule(PEER_CHAIN, [_match(_payload('tcp', 'dport'), CONTROL_PORT), COUNTER, ACCEPT]))
    return objs + rules


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


BOOT_UNIT_PATH = '/etc/systemd/system/ironclad-swarm-firewall.service'
BOOT_UNIT_WANTED_BY = ('sysinit.target',)   # [Install] WantedBy= of the unit below

_BOOT_UNIT = """\
# Written by the ironclad.swarm.swarm_firewall module (boot_unit=true); edits are overwritten.
# Loads the nftables table inet ironclad_swarm that the swarm_firewall module applied last,
# before the network comes up and before Docker starts, and again whenever nftables.service
# is restarted (Debian's /etc/nftables.conf starts with "flush ruleset").
[Unit]
Description=ironclad.swarm fence for the Docker Swarm ports (nftables table inet ironclad_swarm)
Documentation=https://github.com/ironclad-swarm/ironclad.swarm/blob/main/docs/firewall.md
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target docker.service
After=nftables.service
PartOf=nftables.service
Conflicts=shutdown.target
ConditionPathExists={persist_file}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={nft} -j -f {persist_file}

[Install]
WantedBy=sysinit.target
"""


def boot_unit_text(persist_file, nft='/usr/sbin/nft'):
    """The systemd unit that loads the persisted batch at boot (see docs/firewall.md)."""
    for value, field in ((persist_file, 'persist_file'), (nft, 'nft')):
        if not value.startswith('/') or any(c in value for c in ' \t\n%$\\"\''):
            raise FieldError(field, '%r must be an absolute path without spaces, quotes, %% or $ '
                                    '(systemd would read it differently)' % value)
    return _BOOT_UNIT.format(persist_file=persist_file, nft=nft)


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


# The per-network cleartext rules (learned, not declared)

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


# ---------------------------------------------------------------------------
# 2. Reading, canonical form, rendering
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


# ---------------------------------------------------------------------------
# 3. Evaluation: would a packet be accepted on the input hook?
# ---------------------------------------------------------------------------
#
# Rules of every source (nft JSON, iptables-save) are turned into Rule objects:
# a list of Cond and a verdict. A Cond compares one packet key with a value and
# answers True, False or None (cannot tell, e.g. an xt match nft cannot show).

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
