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
  - Reports findings, each with an id, a severity, the node and a reason in plain words - a swarm flow
    blocked between peers or open to non-peers (the table of flows in docs/firewall.md names each flow's
    findings); Docker's drop of unencrypted VXLAN missing for an encrypted network or shadowed
    by an earlier accept; the C(inet ironclad_swarm) table missing or edited by hand.
  - Reads Docker's per-network rules as Docker 20.10 writes them (C(-m u32)) and as Docker 26 and later write
    them (C(-m bpf --bytecode), a classic-BPF program); both are run over the imagined packet's bytes, so the
    verdict and the network's VXLAN id are derived from the rule, not recognised by its text.
  - Asks the engine for its firewall backend (C(docker info), API 1.49 and later). Docker 28 can run its
    firewall on nftables (C(DOCKER_FIREWALL_BACKEND=nftables), experimental); the audit then says so in a
    finding, evaluates Docker's nftables tables as nft lists them, and still reads the overlay rules from
    iptables, where Docker 28.5 keeps writing them.
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
    description:
      - Addresses of the swarm's managers, used only to tell whether this node is one when O(manager) is unset.
        Empty means those in the table's C(managers4) and C(managers6) sets, which only a fence written before
        TCP 2377 was admitted on every node has.
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
      - Whether this node is a manager, so that TCP 2377 blocked from peers is high (medium on a worker,
        which only a promotion would cut off) and TCP 2377 open to non-peers is checked.
      - Unset means O(node_address) is one of O(managers) when O(managers) (or the table) names any, and
        otherwise what the engine says (C(docker info), C(Swarm.ControlAvailable)).
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
  boot_unit:
    description:
      - The systemd unit that loads O(persist_file) at boot. When O(persist_file) exists and this unit is not
        enabled, the node comes up unfenced after its next reboot, which is reported as C(boot_unit_disabled)
        (high). An empty string skips the check.
    type: str
    default: ironclad-swarm-firewall.service
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
# On its own, outside the audit role (which makes the same checks through ipsec_audit's firewall option):
# the fence alone, right after a change of the rules, without the IPsec audit and its report.
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

- name: Judge a firewall the collection did not write (no inet ironclad_swarm table expected)
  ironclad.swarm.firewall_audit:
    peers: "{{ (groups['swarm_managers'] + groups['swarm_workers']) | map('extract', hostvars, 'ansible_host') | list }}"
    node_address: "{{ ansible_host }}"
    expect_table: false
    fail_on: high
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
          V(cleartext_vxlan), V(table_missing), V(table_modified), V(boot_unit_disabled), V(not_a_peer), V(no_peers),
          V(docker_nftables_backend) or V(undecidable).
        - The catalogue of findings (docs/audit.md) gives each one's severity and meaning.
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
    flow:
      description:
        - For a check from a peer, the swarm flow asked about, by its name in the table of flows of docs/firewall.md
          (such as V(esp) or V(data_path)); V(null) for the other checks. The audit report matches checks to peers on C(flow) and C(peer).
      type: str
    peer:
      description: For a check from a peer, the peer's address; V(null) for the other checks.
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
docker_firewall_backend:
  description:
    - The firewall backend the Docker Engine reports (V(iptables), V(nftables), with V(+firewalld) when firewalld
      runs), or, when the engine does not say (API before 1.49, no C(docker) CLI), V(nftables) if Docker's
      nftables tables are in the ruleset; V(null) otherwise.
  returned: always
  type: str
  sample: iptables
fence:
  description:
    - The fence in a few facts, as the node agent exports them.
  returned: always
  type: dict
  contains:
    table_present:
      description: The table C(inet ironclad_swarm) is loaded.
      type: bool
    table_matches:
      description: The loaded table is the one in O(persist_file); V(null) when there is no such file.
      type: bool
    boot_unit:
      description: What C(systemctl is-enabled) says of O(boot_unit); V(null) when not checked.
      type: str
    boot_unit_enabled:
      description: The boot unit loads the fence at boot; V(null) when not checked.
      type: bool
    vxlan_cleartext_drop:
      description: Unencrypted VXLAN of the encrypted networks is dropped; V(null) when no encrypted network is joined.
      type: bool
cleartext:
  description:
    - The fence's counters of VXLAN outside IPsec, one per overlay network and direction (its chains
      C(cleartext_in) and C(cleartext_out), whose rules the node agent keeps; empty without them).
    - An encrypted network's count that rose since the node agent's last reading is the finding V(cleartext_vxlan).
  returned: always
  type: list
  elements: dict
  contains:
    network:
      description: The network's name, as the rule's comment gives it.
      type: str
    vni:
      description: Its VXLAN id.
      type: int
    encrypted:
      description: Whether the network is encrypted (its rule drops what it counts).
      type: bool
    direction:
      description: V(in) (arrived outside IPsec) or V(out) (about to leave on a route without IPsec).
      type: str
    packets:
      description: Packets counted since the rule was made.
      type: int
    bytes:
      description: Bytes counted since the rule was made.
      type: int
  sample: [{network: backend, vni: 4097, encrypted: true, direction: in, packets: 0, bytes: 0}]
summary:
  description: Number of findings per severity.
  returned: always
  type: dict
  sample: {high: 1, medium: 0, low: 0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.fence.audit import SEVERITIES
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.audit_module import FIREWALL_ARGUMENT_SPEC, FirewallAuditModule


def main():
    argument_spec = dict(
        FIREWALL_ARGUMENT_SPEC,
        data_path_port=dict(type='int', default=4789),
        fail_on=dict(type='str', choices=['none', 'low', 'medium', 'high'], default='none'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    result = FirewallAuditModule(module).run()
    fail_on = module.params['fail_on']
    if fail_on != 'none':
        bad = [f for f in result['findings'] if SEVERITIES.index(f['severity']) >= SEVERITIES.index(fail_on)]
        if bad:
            result['msg'] = '%d finding(s) at or above %s: %s' % (
                len(bad), fail_on, ' | '.join('[%s] %s' % (f['severity'], f['reason']) for f in bad))
            module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
