#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: firewall_audit
short_description: Check that a node's firewall admits the swarm's peers and refuses everyone else
version_added: 0.1.0
description:
  - Reads the node's whole firewall, C(nft -j list ruleset) and, where Docker's rules live,
    C(iptables-save) and C(ip6tables-save) (nft cannot show the u32, bpf and policy matches Docker
    uses), and answers for each swarm port and protocol two questions, by walking every base
    chain on the prerouting and input hooks as the kernel would - "is a new packet from peer P
    accepted?" and "is one from a non-peer address accepted?".
  - Reports findings, each with an id, a severity, the node and a reason in plain words - ESP,
    7946, the data-path port or 2377 blocked between peers; the data-path port, 2377 or 7946 open
    to non-peers; Docker's drop of unencrypted VXLAN missing for an encrypted network or shadowed
    by an earlier accept; the C(inet ironclad_swarm) table missing or edited by hand.
  - Changes nothing. Findings are returned as data; O(fail_on) makes the task fail on them.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  peers:
    description:
      - Addresses (or CIDR networks) of the swarm's nodes. Empty means the peers in the
        C(inet ironclad_swarm) table, or, when it is missing, in O(persist_file).
    type: list
    elements: str
    default: []
  managers:
    description: Addresses of the swarm's managers. Empty means those in the table (or O(persist_file)).
    type: list
    elements: str
    default: []
  node_address:
    description:
      - The address peers reach this node at (its advertise address), the destination of the
        imagined packets. Empty means the first of the node's own addresses that is a peer.
    type: str
    default: ''
  manager:
    description:
      - Whether this node is a manager, so that TCP 2377 must be open to peers. Unset means
        O(node_address) is one of O(managers).
    type: bool
  data_path_port:
    description: UDP port of the swarm's data path (VXLAN).
    type: int
    default: 4789
  non_peer_addresses:
    description: Source addresses that stand for "anyone else" (defaults are documentation addresses).
    type: list
    elements: str
    default: [203.0.113.254, "2001:db8:ffff::1"]
  encrypted_vnis:
    description:
      - VXLAN network ids of the encrypted overlay networks on this node, whose unencrypted packets
        Docker must drop. Unset means ask Docker (C(docker network inspect)) for every encrypted overlay
        network this node and at least one other node are peers of.
    type: list
    elements: int
  expect_table:
    description: Report a missing C(inet ironclad_swarm) table (as high).
    type: bool
    default: true
  persist_file:
    description:
      - The file M(ironclad.swarm.swarm_firewall) persists the applied table to; the live table is
        compared with it to spot hand edits. A missing file skips that check.
    type: path
    default: /etc/ironclad-swarm/firewall.json
  fail_on:
    description:
      - Fail when a finding of this severity or higher exists. V(none) never fails.
    type: str
    choices: [none, low, medium, high]
    default: none
notes:
  - The packets the audit imagines are new flows (not established) arriving on a non-loopback
    interface. A rule it cannot evaluate (an xt match without its iptables-save text, an interface
    wildcard) is listed under C(doubts) and turns the answer into V(null) instead of a guess.
requirements:
  - C(nft) (Debian package C(nftables)); C(iptables-save) when Docker's rules are to be read; the
    C(docker) CLI when O(encrypted_vnis) is not given.
attributes:
  check_mode:
    support: full
    description: Read-only; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
  platform:
    support: full
    platforms: posix
    description: Linux with nftables.
seealso:
  - module: ironclad.swarm.swarm_firewall
"""

EXAMPLES = r"""
- name: Audit the fence with the peers the table holds
  ironclad.swarm.firewall_audit:
  register: fence

- name: Audit against the inventory and fail on high findings
  ironclad.swarm.firewall_audit:
    peers: "{{ swarm_addresses }}"
    managers: "{{ swarm_manager_addresses }}"
    node_address: "{{ cluster_advertise_addr }}"
    fail_on: high

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ fence.findings | map(attribute='reason') | list }}"
"""

RETURN = r"""
findings:
  description: What is wrong, most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description:
        - V(esp_blocked), V(gossip_blocked), V(data_path_blocked), V(control_blocked), V(data_path_open),
          V(control_open), V(gossip_open), V(esp_open), V(vxlan_drop_missing), V(vxlan_drop_shadowed),
          V(table_missing), V(table_modified), V(not_a_peer), V(no_peers) or V(undecidable).
      type: str
      sample: vxlan_drop_shadowed
    severity:
      description: V(high), V(medium) or V(low).
      type: str
      sample: high
    node:
      description: The node the finding is about (its host name).
      type: str
      sample: manager-1
    reason:
      description: The finding in plain words.
      type: str
      sample: "Unencrypted VXLAN for encrypted network VNI 4097 is accepted by ip filter INPUT (iptables) before Docker's drop"
    rule:
      description: The rule that decided, when one did.
      type: str
      sample: "-A INPUT -p udp -m udp --dport 4789 -j ACCEPT"
    peers:
      description: The peer addresses a V(*_blocked) finding is about.
      type: list
      elements: str
      returned: when the finding is about traffic from peers
      sample: [203.0.113.12]
    peer:
      description: The one peer address, when a V(*_blocked) finding is about a single peer (as in P(ironclad.swarm.ipsec_audit#module)'s findings).
      type: str
      returned: when the finding is about exactly one peer
      sample: 203.0.113.12
checks:
  description: Every imagined packet and the answer, for the record.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: What was asked, such as V(udp/7946 from peer 203.0.113.11).
      type: str
    expected:
      description: V(accept) or V(drop).
      type: str
    accepted:
      description: V(true), V(false), or V(null) when a rule that cannot be evaluated may decide.
      type: bool
    decided_by:
      description: The rule (or chain policy) that decided.
      type: str
    chain:
      description: Where that rule is.
      type: str
    doubts:
      description: Rules that might have matched but could not be evaluated.
      type: list
      elements: str
peers:
  description: The peer addresses the audit used.
  returned: always
  type: list
  elements: str
  sample: [203.0.113.10, 203.0.113.11]
encrypted_vnis:
  description: The encrypted overlay networks' VXLAN ids checked against Docker's rules.
  returned: always
  type: list
  elements: int
  sample: [4097]
summary:
  description: Number of findings per severity.
  returned: always
  type: dict
  sample: {high: 1, medium: 0, low: 0}
"""

import ipaddress
import json
import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ironclad.swarm.plugins.module_utils._iptables import (
    docker_vxlan_rules,
    merge_into,
    parse_save,
)
from ansible_collections.ironclad.swarm.plugins.module_utils._nft import (
    CONTROL_PORT,
    GOSSIP_PORT,
    SET_MANAGERS4,
    SET_MANAGERS6,
    SET_PEERS4,
    SET_PEERS6,
    TABLE_FAMILY,
    TABLE_NAME,
    FieldError,
    Packet,
    Ruleset,
    canonical_table,
    evaluate,
    parse_addresses,
    parse_ruleset,
    ruleset_from_nft,
    table_differences,
    table_objects,
    table_objects_from_batch,
)

SEVERITIES = ('low', 'medium', 'high')


def encrypted_vnis_from_inspect(networks, own_addresses):
    """`docker network inspect` output -> [(name, vni)] of encrypted overlays this node shares with another node.

    Docker installs its per-network VXLAN rules only when it programs encryption
    towards a remote peer, so a network only this node is on is left out.
    """
    result = []
    own = set(str(a) for a in own_addresses)
    for net in networks or []:
        options = net.get('Options') or {}
        if net.get('Driver') != 'overlay' or 'encrypted' not in options:
            continue
        peers = [p.get('IP') for p in net.get('Peers') or []]
        if not own.intersection(peers) or len(peers) < 2:
            continue
        for vni in str(options.get('com.docker.network.driver.overlay.vxlanid_list', '')).split(','):
            if vni.strip().isdigit():
                result.append((net.get('Name'), int(vni)))
    return sorted(result, key=lambda item: item[1])


def addresses_from_ip_json(data):
    """`ip -j addr show` output -> the addresses on the host (loopback excluded)."""
    found = []
    for link in data or []:
        if link.get('ifname') == 'lo':
            continue
        for info in link.get('addr_info', []):
            if info.get('local'):
                found.append(ipaddress.ip_address(info['local']))
    return found


def _first_host(net):
    return net.network_address if net.prefixlen == net.max_prefixlen else next(net.hosts(), net.network_address)


def _in_any(addr, nets):
    return any(addr in n for n in nets)


class Audit(object):
    """Pure: inputs in, findings out."""

    def __init__(self, node, peers, managers, node_address, manager, data_path_port, non_peers,
                 ruleset, vnis, docker_rules, table_live, table_expected, expect_table):
        self.node = node
        self.peers = peers
        self.managers = managers
        self.node_address = node_address
        self.manager = manager
        self.port = data_path_port
        self.non_peers = non_peers
        self.ruleset = ruleset
        self.vnis = vnis
        self.docker_rules = docker_rules
        self.table_live = table_live
        self.table_expected = table_expected
        self.expect_table = expect_table
        self.findings = []
        self.checks = []

    def find(self, fid, severity, reason, rule=None, peers=None):
        finding = {'id': fid, 'severity': severity, 'node': self.node, 'reason': reason}
        if rule:
            finding['rule'] = rule
        if peers:
            finding['peers'] = peers
            if len(peers) == 1:
                finding['peer'] = peers[0]
        self.findings.append(finding)

    def ask(self, label, packet, expected):
        verdict = evaluate(self.ruleset, packet)
        record = dict(verdict.as_dict(), check=label, expected=expected)
        self.checks.append(record)
        return verdict

    def daddr_for(self, source):
        if self.node_address is not None and self.node_address.version == source.version:
            return self.node_address
        return None

    def peer_checks(self):
        swarm = [
            ('esp_blocked', 'ESP (IP protocol 50)', 'esp', None, True,
             'encrypted overlay networks carry no traffic between them'),
            ('gossip_blocked', 'TCP 7946', 'tcp', GOSSIP_PORT, False, 'gossip between nodes fails'),
            ('gossip_blocked', 'UDP 7946', 'udp', GOSSIP_PORT, False, 'gossip between nodes fails'),
            ('data_path_blocked', 'UDP %d (VXLAN out of IPsec)' % self.port, 'udp', self.port, True,
             'overlay networks carry no traffic between them'),
        ]
        if self.manager:
            swarm.append(('control_blocked', 'TCP 2377', 'tcp', CONTROL_PORT, False,
                          'nodes cannot join or reach this manager'))
        for fid, what, proto, port, ipsec, effect in swarm:
            blocked, unsure = [], []
            decided = None
            for net in self.peers:
                source = _first_host(net)
                if source == self.node_address:
                    continue
                packet = Packet(source, self.daddr_for(source), proto, port, ipsec=ipsec)
                verdict = self.ask('%s from peer %s' % (what, source), packet, 'accept')
                if verdict.accepted is False:
                    blocked.append(str(source))
                    decided = decided or verdict
                elif verdict.accepted is None:
                    unsure.append((str(source), verdict))
            if blocked:
                self.find(fid, 'high', '%s from peer(s) %s is dropped by %s: %s.' % (
                    what, ', '.join(blocked[:10]) + (' and %d more' % (len(blocked) - 10) if len(blocked) > 10 else ''),
                    decided.where, effect), decided.rule_text, peers=blocked)
            for source, verdict in unsure[:1]:
                self.find('undecidable', 'low', '%s from peer %s: cannot tell whether it is accepted; rules that '
                          'could not be evaluated: %s.' % (what, source, '; '.join(verdict.doubts)))

    def non_peer_checks(self):
        exposed = [
            ('data_path_open', 'high', 'UDP %d (VXLAN)' % self.port, 'udp', self.port,
             'anyone can inject packets into unencrypted overlay networks'),
            ('gossip_open', 'medium', 'TCP 7946', 'tcp', GOSSIP_PORT, 'anyone can talk to the gossip layer'),
            ('gossip_open', 'medium', 'UDP 7946', 'udp', GOSSIP_PORT, 'anyone can talk to the gossip layer'),
            ('esp_open', 'low', 'ESP (IP protocol 50)', 'esp', None, 'the kernel still drops ESP without a matching SA'),
        ]
        if self.manager:
            exposed.insert(1, ('control_open', 'high', 'TCP 2377', 'tcp', CONTROL_PORT,
                               'the swarm control API is reachable from the internet (join attempts, TLS attacks)'))
        families = set(n.version for n in self.peers) or set([4])
        for source in self.non_peers:
            if source.version not in families or _in_any(source, self.peers):
                continue
            for fid, severity, what, proto, port, effect in exposed:
                packet = Packet(source, self.daddr_for(source), proto, port)
                verdict = self.ask('%s from non-peer %s' % (what, source), packet, 'drop')
                if verdict.accepted is True:
                    self.find(fid, severity, '%s from non-peer %s is accepted (%s: %s): %s.' % (
                        what, source, verdict.where, verdict.rule_text, effect), verdict.rule_text)
                elif verdict.accepted is None:
                    self.find('undecidable', 'low', '%s from non-peer %s: cannot tell whether it is dropped; rules '
                              'that could not be evaluated: %s.' % (what, source, '; '.join(verdict.doubts)))

    def without_fence(self):
        """The ruleset less our own table: what Docker's and everyone else's rules do alone."""
        rest = Ruleset()
        for key, chain in self.ruleset.chains.items():
            if key[:2] != (TABLE_FAMILY, TABLE_NAME):
                rest.add_chain(chain)
        return rest

    def vxlan_checks(self):
        sources = [_first_host(n) for n in self.peers if n.version == 4][:1] + [s for s in self.non_peers if s.version == 4][:1]
        for name, vni in self.vnis:
            label = '%s (VNI %d)' % (name, vni) if name else 'VNI %d' % vni
            docker = self.docker_rules.get(vni, {})
            for source in sources:
                packet = Packet(source, self.daddr_for(source), 'udp', self.port, ipsec=False, vni=vni)
                verdict = self.ask('unencrypted VXLAN of %s from %s' % (label, source), packet, 'drop')
                if verdict.accepted is True:
                    if 'drop' in docker:
                        self.find('vxlan_drop_shadowed', 'high', 'Unencrypted VXLAN for encrypted network %s from %s is '
                                  "accepted by %s before Docker's drop (%s): cleartext can be injected into the "
                                  'encrypted network (CVE-2023-28840).' % (label, source, verdict.where, verdict.rule_text),
                                  verdict.rule_text)
                    else:
                        self.find('vxlan_drop_missing', 'high', "Docker's drop of unencrypted VXLAN for encrypted network "
                                  '%s is missing (is xt_u32 or xt_bpf loaded?) and %s accepts it: cleartext can be injected into '
                                  'the encrypted network.' % (label, source), verdict.rule_text)
                    break
                if verdict.accepted is False and verdict.where.startswith('%s %s' % (TABLE_FAMILY, TABLE_NAME)):
                    alone = evaluate(self.without_fence(), packet)
                    if alone.accepted is True and 'drop' in docker:
                        self.find('vxlan_drop_shadowed', 'medium', "Docker's drop of unencrypted VXLAN for encrypted "
                                  'network %s is shadowed by an earlier accept in %s (%s); only the fence\'s own drop '
                                  'of VXLAN outside IPsec stops cleartext now.' % (label, alone.where, alone.rule_text),
                                  alone.rule_text)
                        break
            else:
                if 'drop' not in docker:
                    self.find('vxlan_drop_missing', 'low', "Docker's drop of unencrypted VXLAN for encrypted network %s is "
                              'missing (is xt_u32 or xt_bpf loaded?); the fence drops such packets instead.' % label)

    def table_checks(self):
        if self.table_live is None:
            if self.expect_table:
                self.find('table_missing', 'high', 'The table inet ironclad_swarm is missing: the swarm ports are as '
                          'open as the other tables leave them. Run the firewall role (site.yml) again.')
            return
        if self.table_expected is not None:
            diffs = table_differences(self.table_live, self.table_expected)
            if diffs:
                self.find('table_modified', 'medium', 'The table inet ironclad_swarm differs from what was applied '
                          '(edited by hand?): %s. Run the firewall role (site.yml) again to restore it.' % '; '.join(diffs))

    def run(self):
        self.table_checks()
        if not self.peers:
            self.find('no_peers', 'medium', 'No peer addresses: none given and none in the table or the persist file; '
                      'the peer checks were skipped.')
        else:
            if self.node_address is None:
                self.find('not_a_peer', 'medium', 'None of this node\'s addresses is in the peer set, so peers may '
                          'not reach it; set node_address or add the node to the peers.')
            self.peer_checks()
            self.non_peer_checks()
        self.vxlan_checks()
        self.findings.sort(key=lambda f: -SEVERITIES.index(f['severity']))
        return self.findings


class FirewallAuditModule(object):

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def run_tool(self, argv, optional=False):
        binary = self.module.get_bin_path(argv[0], opt_dirs=['/usr/sbin', '/sbin'])
        if binary is None:
            if optional:
                return None
            self.module.fail_json(msg='%s not found on the host: install %s.' % (
                argv[0], 'nftables' if argv[0] == 'nft' else argv[0]))
        rc, out, err = self.module.run_command([binary] + argv[1:])
        if rc != 0:
            if optional:
                return None
            self.module.fail_json(msg='%s failed: %s' % (' '.join(argv), err.strip()), rc=rc)
        return out

    def parse_field(self, values, field):
        try:
            v4, v6 = parse_addresses(values, field)
        except FieldError as exc:
            self.module.fail_json(msg=str(exc), field=exc.field)
        return v4 + v6

    def run(self):
        p = self.params
        peers = self.parse_field(p['peers'], 'peers')
        managers = self.parse_field(p['managers'], 'managers')
        non_peers = [_first_host(n) for n in self.parse_field(p['non_peer_addresses'], 'non_peer_addresses')]
        node_address = None
        if p['node_address']:
            try:
                node_address = ipaddress.ip_address(p['node_address'])
            except ValueError:
                self.module.fail_json(msg="node_address: '%s' is not an IP address" % p['node_address'], field='node_address')
        if not 1024 <= p['data_path_port'] <= 49151:
            self.module.fail_json(msg='data_path_port: %d is out of range: use 1024 to 49151' % p['data_path_port'],
                                  field='data_path_port')

        objects = parse_ruleset(self.run_tool(['nft', '-j', 'list', 'ruleset']))
        live = table_objects(objects)
        expected_objects = None
        if p['persist_file'] and os.path.exists(p['persist_file']):
            try:
                with open(p['persist_file']) as handle:
                    expected_objects = table_objects_from_batch(json.load(handle))
            except (IOError, OSError, ValueError) as exc:
                self.module.warn('Cannot read %s: %s' % (p['persist_file'], to_native(exc)))

        source = live if live is not None else expected_objects
        if not peers and source:
            peers = self._set_nets(source, SET_PEERS4, SET_PEERS6)
        if not managers and source:
            managers = self._set_nets(source, SET_MANAGERS4, SET_MANAGERS6)

        ruleset = ruleset_from_nft(objects)
        saves = {}
        for family, tool in (('ip', 'iptables-save'), ('ip6', 'ip6tables-save')):
            text = self.run_tool([tool], optional=True)
            if text is not None:
                saves[family] = parse_save(text, family)
                merge_into(ruleset, saves[family])
        docker_rules = docker_vxlan_rules(saves['ip'], p['data_path_port']) if 'ip' in saves else {}

        own = None
        if node_address is None:
            out = self.run_tool(['ip', '-j', 'addr', 'show'], optional=True)
            own = addresses_from_ip_json(json.loads(out)) if out else []
            node_address = next((a for a in own if _in_any(a, peers)), None)
        manager = p['manager']
        if manager is None:
            manager = node_address is not None and _in_any(node_address, managers)

        if p['encrypted_vnis'] is not None:
            vnis = [(None, vni) for vni in sorted(set(p['encrypted_vnis']))]
        else:
            vnis = self.docker_vnis(own if own is not None else [node_address])

        audit = Audit(socket.gethostname(), peers, managers, node_address, manager, p['data_path_port'], non_peers,
                      ruleset, vnis, docker_rules, canonical_table(live), canonical_table(expected_objects),
                      p['expect_table'])
        findings = audit.run()
        summary = dict((s, len([f for f in findings if f['severity'] == s])) for s in SEVERITIES)
        result = dict(changed=False, findings=findings, checks=audit.checks, summary=summary,
                      peers=[str(n) if n.prefixlen != n.max_prefixlen else str(n.network_address) for n in peers], encrypted_vnis=[item[1] for item in vnis])
        if p['fail_on'] != 'none':
            floor = SEVERITIES.index(p['fail_on'])
            bad = [f for f in findings if SEVERITIES.index(f['severity']) >= floor]
            if bad:
                result['msg'] = '%d finding(s) at or above %s: %s' % (
                    len(bad), p['fail_on'], ' | '.join('[%s] %s' % (f['severity'], f['reason']) for f in bad))
                self.module.fail_json(**result)
        self.module.exit_json(**result)

    @staticmethod
    def _set_nets(objects, name4, name6):
        nets = []
        for obj in objects:
            body = obj.get('set')
            if body and body.get('name') in (name4, name6):
                for elem in body.get('elem', []):
                    if isinstance(elem, dict) and 'prefix' in elem:
                        nets.append(ipaddress.ip_network('%s/%s' % (elem['prefix']['addr'], elem['prefix']['len'])))
                    elif isinstance(elem, str):
                        nets.append(ipaddress.ip_network(elem))
        return nets

    def docker_vnis(self, own):
        out = self.run_tool(['docker', 'network', 'ls', '--filter', 'driver=overlay', '--format', '{{.ID}}'], optional=True)
        if not out or not out.split():
            return []
        inspect = self.run_tool(['docker', 'network', 'inspect'] + out.split(), optional=True)
        if not inspect:
            return []
        return encrypted_vnis_from_inspect(json.loads(inspect), [a for a in own if a is not None])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            peers=dict(type='list', elements='str', default=[]),
            managers=dict(type='list', elements='str', default=[]),
            node_address=dict(type='str', default=''),
            manager=dict(type='bool'),
            data_path_port=dict(type='int', default=4789),
            non_peer_addresses=dict(type='list', elements='str', default=['203.0.113.254', '2001:db8:ffff::1']),
            encrypted_vnis=dict(type='list', elements='int'),
            expect_table=dict(type='bool', default=True),
            persist_file=dict(type='path', default='/etc/ironclad-swarm/firewall.json'),
            fail_on=dict(type='str', choices=['none', 'low', 'medium', 'high'], default='none'),
        ),
        supports_check_mode=True,
    )
    FirewallAuditModule(module).run()


if __name__ == '__main__':
    main()
