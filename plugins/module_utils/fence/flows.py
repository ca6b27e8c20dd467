# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its contents may change at any time.

"""The swarm's flows between its nodes, in one table: every port and protocol the swarm needs.

Everything that names a swarm port reads FLOWS: the fence's nft rules (spec.desired_objects), the firewall
audit's checks from peers and non-peers (audit.Audit), the Hetzner Cloud Firewall rules (the hcloud_cluster
filter), the check that the data-path port is not another swarm port (spec.build_spec, the swarm_ports and
swarm_data_path_port_errors filters of the roles' validation) and docs/firewall.md's table of flows, which is
generated here (`python -m ...fence.flows` prints it; tests/unit/test_flows.py fails when the two disagree).
Adding a flow is one entry below, plus its tests. The functions read FLOWS when called. Imports nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple


# The port of the data path is the swarm's, chosen when it is created (docker swarm init --data-path-port):
# a flow whose port is this marker takes the configured port.
DATA_PATH = 'data_path_port'
DEFAULT_DATA_PATH_PORT = 4789
# The ports Docker accepts for the data path.
DATA_PATH_PORT_RANGE = (1024, 49151)

# Which nodes listen on a flow. The fence admits every flow from peers on every node whatever listens, so
# that a node promoted by hand is reachable at once; the audit checks a flow open to non-peers only where it
# listens, and the Hetzner rules of a managers' flow go to CLUSTER-managers.
EVERY_NODE = 'every node'
MANAGERS = 'managers'
# Who may send: the swarm's peers (every node's addresses), the only senders the fence and the audit know.
PEERS = 'peers'

# A finding of the firewall audit: its id (in audit/findings.py's catalogue), severity and what it breaks.
Finding = namedtuple('Finding', 'id severity effect')


class Flow(object):
    """One flow of the swarm: which packets, who listens, who may send, and what the audit says about it.

    key: the flow's name in the audit's checks (their `flow`). protocol: tcp, udp or esp. port: a number,
    DATA_PATH, or None (ESP has none). listen: EVERY_NODE or MANAGERS. senders: PEERS. ipsec: whether the
    flow travels inside IPsec (ESP itself, and the data path of encrypted overlays): the audit imagines its
    packets from a peer with an IPsec path. label: 'TCP 7946'; '{port}' stands for the port.
    peer_label, open_label: the label in the audit's checks from a peer and from a non-peer ('{label}' is the
    label). purpose: what the flow carries and how it is protected, for the docs. hcloud: the description of
    its Cloud Firewall rule.
    blocked: the Finding when a peer's packets are dropped on a node that listens; blocked_idle: on a node
    that does not (default: blocked). exposed: the Finding when a non-peer's packets are accepted on a node
    that listens (a node that does not listen is not checked).
    accept_rule, drop_rule: the position of the flow's rule among the fence's accept rules (chain swarm_peer)
    and its drop rules (chain input); flows with the same number share one rule (one protocol, their ports in
    one set). hcloud_rule: its position among the Cloud Firewall's rules. None: after the numbered ones, in
    the table's order.
    """

    def __init__(self, key, protocol, port, listen, ipsec, label, purpose, hcloud, blocked, exposed,
                 blocked_idle=None, senders=PEERS, peer_label='{label}', open_label='{label}',
                 accept_rule=None, drop_rule=None, hcloud_rule=None):
        self.key = key
        self.protocol = protocol
        self.port = port
        self.listen = listen
        self.senders = senders
        self.ipsec = ipsec
        self.label = label
        self.peer_label = peer_label
        self.open_label = open_label
        self.purpose = purpose
        self.hcloud = hcloud
        self.blocked = blocked
        self.blocked_idle = blocked_idle or blocked
        self.exposed = exposed
        self.accept_rule = accept_rule
        self.drop_rule = drop_rule
        self.hcloud_rule = hcloud_rule

    def port_for(self, data_path_port):
        """The flow's port with the swarm's data-path port in place of the marker; None for ESP."""
        return data_path_port if self.port == DATA_PATH else self.port

    def label_for(self, data_path_port):
        return self.label.format(port=self.port_for(data_path_port))

    def listens(self, manager):
        """Whether a node (a manager or not) listens on this flow."""
        return self.listen == EVERY_NODE or bool(manager)

    def blocked_finding(self, manager):
        return self.blocked if self.listens(manager) else self.blocked_idle

    def exposed_finding(self, manager):
        """The finding when non-peers get through, or None where nothing listens (nothing to check)."""
        return self.exposed if self.listens(manager) else None


# Gossip's two halves share their findings.
_GOSSIP_BLOCKED = Finding('gossip_blocked', 'high', 'gossip between nodes fails')
_GOSSIP_OPEN = Finding('gossip_open', 'medium', 'anyone can talk to the gossip layer')

# In the order of the audit's checks from peers.
FLOWS = (
    Flow('esp', 'esp', None, EVERY_NODE, True, 'ESP (IP protocol 50)',
         'IPsec transport mode carrying the VXLAN of encrypted overlays (AES-GCM): encrypted and authenticated',
         'ipsec esp of encrypted overlays between the nodes',
         Finding('esp_blocked', 'high', 'encrypted overlay networks carry no traffic between them'),
         Finding('esp_open', 'low', 'the kernel still drops ESP without a matching SA'),
         accept_rule=1, drop_rule=3, hcloud_rule=4),
    Flow('gossip_tcp', 'tcp', 7946, EVERY_NODE, False, 'TCP {port}',
         'gossip: node discovery and overlay network state, encrypted by Docker with keys the managers distribute',
         'swarm gossip (tcp) between the nodes', _GOSSIP_BLOCKED, _GOSSIP_OPEN, accept_rule=3, drop_rule=1, hcloud_rule=1),
    Flow('gossip_udp', 'udp', 7946, EVERY_NODE, False, 'UDP {port}',
         'gossip, its UDP half: swarms break in odd ways when only the TCP half is open',
         'swarm gossip (udp) between the nodes', _GOSSIP_BLOCKED, _GOSSIP_OPEN, accept_rule=2, drop_rule=2, hcloud_rule=2),
    Flow('data_path', 'udp', DATA_PATH, EVERY_NODE, True, 'UDP {port}',
         'VXLAN, the data path of overlay networks: **cleartext** on plain overlays, inside ESP on encrypted ones',
         'overlay data path (vxlan) between the nodes',
         Finding('data_path_blocked', 'high', 'overlay networks carry no traffic between them'),
         Finding('data_path_open', 'high', 'anyone can inject packets into unencrypted overlay networks'),
         peer_label='{label} (VXLAN out of IPsec)', open_label='{label} (VXLAN)',
         accept_rule=2, drop_rule=2, hcloud_rule=3),
    # Checked from peers on every node: a worker does not listen on 2377, but once promoted (by hand, or by
    # site.yml before the fence follows) the other managers must reach it at once, or the swarm loses quorum.
    Flow('control', 'tcp', 2377, MANAGERS, False, 'TCP {port}',
         'cluster management, joins and Raft between managers: mutual TLS with the swarm\'s own CA',
         'swarm control plane from the nodes',
         Finding('control_blocked', 'high', 'nodes cannot join or reach this manager'),
         Finding('control_open', 'high', 'the swarm control API is reachable from the internet (join attempts, '
                 'TLS attacks)'),
         blocked_idle=Finding('control_blocked', 'medium', 'nothing listens there on a worker, but promoting this '
                              'node would cut it off from the other managers and can cost the swarm its quorum'),
         accept_rule=4, drop_rule=1),
)

_SEVERITY_RANK = {'high': 0, 'medium': 1, 'low': 2}


def _ordered(position):
    """The flows in the order of one rule list: numbered ones first, by number, then the rest in table order."""
    indexed = list(enumerate(FLOWS))
    indexed.sort(key=lambda item: (position(item[1]) is None, position(item[1]) or 0, item[0]))
    return [f for dummy, f in indexed]


def nft_rules(kind, data_path_port):
    """The fence's rules of one kind ('accept' from peers, 'drop' from the rest) as [(protocol, [ports])],
    in order; ports is empty for a protocol without ports (ESP)."""
    position = (lambda f: f.accept_rule) if kind == 'accept' else (lambda f: f.drop_rule)
    rules, seen = [], {}
    for item in _ordered(position):
        number = position(item)
        group = (number, item.protocol)
        if number is None or group not in seen:
            seen[group] = (item.protocol, [])
            rules.append(seen[group])
        port = item.port_for(data_path_port)
        if port is not None:
            seen[group][1].append(port)
    return rules


def hcloud_flows(listen):
    """The flows a node that listens like this (EVERY_NODE or MANAGERS) needs, in the Cloud Firewall's order."""
    return [f for f in _ordered(lambda f: f.hcloud_rule) if f.listen == listen]


def open_checks_order():
    """The flows in the order of the audit's checks from non-peers: the worst exposure first."""
    return sorted(FLOWS, key=lambda f: _SEVERITY_RANK[f.exposed.severity])


def fixed_ports():
    """The swarm's own port numbers, the data path's excepted."""
    return sorted(set(f.port for f in FLOWS if f.port not in (None, DATA_PATH)))


def swarm_ports(data_path_port):
    """Every port the swarm uses, whatever the protocol, with this data-path port."""
    return sorted(set(fixed_ports() + [int(data_path_port)]))


def data_path_port_error(port):
    """Why this data-path port cannot be used, or None: out of Docker's range, or another swarm port."""
    low, high = DATA_PATH_PORT_RANGE
    if isinstance(port, bool) or not str(port).strip().isdigit():
        return '%r is not a port number' % (port,)
    port = int(port)
    if not low <= port <= high:
        return '%d is out of range: use %d to %d' % (port, low, high)
    if port in fixed_ports():
        return '%d is a swarm port itself; keep the default %d' % (port, DEFAULT_DATA_PATH_PORT)
    return None


def _finding_cell(finding, other=None, where=''):
    text = '`%s` %s%s: %s' % (finding.id, finding.severity, where, finding.effect)
    if other is not None and other != finding:
        text += '; %s on a node that does not listen: %s' % (other.severity, other.effect)
    return text


def markdown_table():
    """The table docs/firewall.md carries between its flows markers."""
    lines = ['| Flow | Port / protocol | Listens | Admitted from | Audited as IPsec | Carries | Blocked from a peer '
             '| Open to non-peers |',
             '|------|-----------------|---------|---------------|------------------|---------|---------------------'
             '|-------------------|']
    for item in FLOWS:
        label = item.label.format(port='`data_path_port` (%d by default)' % DEFAULT_DATA_PATH_PORT
                                  if item.port == DATA_PATH else item.port)
        on = '' if item.listen == EVERY_NODE else ' (checked where it listens)'
        lines.append('| `%s` | %s | %s | %s | %s | %s | %s | %s |' % (
            item.key, label, item.listen, '%s, on every node' % item.senders,
            'yes' if item.ipsec else 'no', item.purpose, _finding_cell(item.blocked, item.blocked_idle),
            _finding_cell(item.exposed, where=on)))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    print(markdown_table(), end='')  # pylint: disable=ansible-bad-function  # a command for the docs, not a module
