# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""The fence itself: table inet ironclad_swarm as the swarm_firewall module declares it.

Validated input (FenceSpec, from build_spec, raising FieldError naming the option at fault) and the
objects of the table as `nft -j list table inet ironclad_swarm` lists them (desired_objects), with
the names and priorities the other fence helpers share; the swarm's ports come from flows.py's table. Pure
functions over Python data.
The rest of the fence: nftio.py (nft's JSON in and out, the canonical form and the diff),
cleartext.py (the per-network rules learned from Docker), boot_unit.py (the unit that loads the
table at boot) and evaluate.py (would a packet be accepted?).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import flows

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

DEFAULT_PRIORITY = -10

PROTOCOLS = ('tcp', 'udp')


class FieldError(ValueError):
    """Bad input, with the name of the option (or option path) at fault."""

    def __init__(self, field, message):
        super(FieldError, self).__init__('%s: %s' % (field, message))
        self.field = field


# ---------------------------------------------------------------------------
# Input and the desired table
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
    data_path_port = check_port(params.get('data_path_port', flows.DEFAULT_DATA_PATH_PORT), 'data_path_port',
                                *flows.DATA_PATH_PORT_RANGE)
    problem = flows.data_path_port_error(data_path_port)
    if problem:
        raise FieldError('data_path_port', problem)
    swarm_ports = set(flows.swarm_ports(data_path_port))
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


def _flow_match(protocol, ports):
    """The match of one of flows.nft_rules' rules: the destination ports, or the protocol alone (ESP)."""
    if not ports:
        return _match(_meta('l4proto'), protocol)
    return _match(_payload(protocol, 'dport'), _ports(ports))


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
    # Whoever is not a peer: every swarm flow dropped (flows.py).
    for protocol, ports in flows.nft_rules('drop', dport):
        rules.append(_rule(INPUT_CHAIN, [_flow_match(protocol, ports), COUNTER, DROP]))
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

    # A peer: every swarm flow admitted on every node, the control port included (flows.py): only a manager
    # listens on it, and a node promoted by hand (docker node promote) must be reachable by the other managers
    # before anything re-runs this module, or the swarm loses quorum (docs/firewall.md, "TCP 2377").
    for protocol, ports in flows.nft_rules('accept', dport):
        rules.append(_rule(PEER_CHAIN, [_flow_match(protocol, ports), COUNTER, ACCEPT]))
    return objs + rules
