#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: ipsec_audit
short_description: Check that a node's encrypted overlay networks really have IPsec towards every peer
version_added: 0.1.0
description:
  - Docker creates an encrypted overlay network without error on a kernel that cannot do ESP,
    schedules tasks on it, and the traffic between nodes then times out silently. This module
    asks the node's kernel and engine what is really there.
  - "Kernel: whether C(esp4), C(xfrm_user), C(vxlan), C(ip_vs) and C(xt_u32) (or C(xt_bpf)) are
    loaded, built in or loadable; and whether ESP with AES-GCM (the kernel's rfc4106(gcm(aes)), the cipher
    Docker uses) is really usable: an SA is added in a network namespace made for the purpose, which is
    deleted again at once. Only the kernel's answer to a real SA is conclusive; C(/proc/crypto)
    lists only the algorithms loaded so far."
  - "Engine and xfrm: for each encrypted overlay network this node takes part in, and each peer
    node the engine lists for it (C(docker network inspect --verbose)), the xfrm policy that sends
    the data-path port to that peer through ESP, and an ESP SA in each direction, with SPIs and
    byte counters. Docker extends a network to a node only when a task or container on the node
    uses it, so a network this node has no task on is reported as C(not joined), never as a
    failure."
  - Findings come with an id, a severity, the node, the peer and network they concern and a reason
    in plain words, such as "kernel lacks ESP - encrypted overlay traffic between nodes is dropped".
  - Changes nothing on the node. The probe's namespace and SA exist for a fraction of a second
    and are always removed. Key material in the SAs is never read into the result.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  networks:
    description:
      - Names of the encrypted overlay networks to audit. Empty means every encrypted overlay
        network the engine on this node knows.
      - A name given here that this node does not know is reported as not joined.
    type: list
    elements: str
    default: []
  data_path_port:
    description: UDP port of the swarm's data path (VXLAN), which Docker's xfrm policies select.
    type: int
    default: 4789
  probe_kernel:
    description:
      - Add a throwaway ESP SA in a new network namespace to learn whether the kernel can really
        do ESP with AES-GCM. With V(false), only the kernel modules' status is used, which cannot
        tell whether an algorithm's module really loads.
    type: bool
    default: true
  node_checks:
    description:
      - Also read what the audit role's node checks need, in RV(node_facts) (the daemon's effective settings
        from C(daemon.json) and dockerd's command line, the API socket's mode, the addresses that listen on
        TCP 2377, the node's swarm certificate and the user of each local swarm task). This module makes no
        finding of them; the C(audit) role does, on the controller, where it knows the whole swarm.
    type: bool
    default: true
  firewall:
    description:
      - Also audit this node's firewall in the same call, as M(ironclad.swarm.firewall_audit) does, and return
        its result as RV(firewall). The audited address is the node's swarm address (RV(node_address)); the
        peers are those of the C(inet ironclad_swarm) table, and whether the node is a manager is the engine's
        word (C(Swarm.ControlAvailable)), whatever the inventory says. Unset skips it.
      - One call in place of two per node is what the C(audit) role uses it for.
    type: dict
    suboptions:
      expect_table:
        description: Report a missing C(inet ironclad_swarm) table (as high).
        type: bool
        default: true
      persist_file:
        description: The file M(ironclad.swarm.swarm_firewall) persists the applied table to.
        type: path
        default: /etc/ironclad-swarm/firewall.json
      boot_unit:
        description: The unit that loads O(firewall.persist_file) at boot; an empty string skips the check.
        type: str
        default: ironclad-swarm-firewall.service
  swarm_view:
    description:
      - Also read the swarm as this manager sees it, as M(ironclad.swarm.swarm_audit) does, and return it as
        RV(swarm_view). Meant for managers; a worker's engine refuses the swarm-wide reads, which is then
        returned as RV(swarm_view.error).
    type: bool
    default: false
  fail_on:
    description: Fail when a finding of this severity or higher exists. V(none) never fails.
    type: str
    choices: [none, low, medium, high]
    default: none
extends_documentation_fragment:
  - ironclad.swarm.engine
requirements:
  - C(ip) from iproute2 (C(ip xfrm), C(ip netns)); run as root.
notes:
  - iproute2 6.1 (Debian 12) accepts C(ip -j xfrm) but prints text all the same, so the module reads
    the text of C(ip xfrm policy) and C(ip -s xfrm state).
  - Docker keys its IPsec by node pair, not by network, so every encrypted network two nodes share
    shows the same policy and SAs for that pair.
attributes:
  check_mode:
    support: full
    description: Read-only; it runs the same in check mode, probe included.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything; RV(ignore:changed) is always V(false).
  platform:
    support: full
    platforms: posix
    description: Linux with XFRM and network namespaces.
seealso:
  - module: ironclad.swarm.firewall_audit
  - module: ironclad.swarm.swarm_audit
  - module: ironclad.swarm.kernel_modules
  - module: ironclad.swarm.overlay_network
"""

EXAMPLES = r"""
- name: Audit IPsec on this node
  ironclad.swarm.ipsec_audit:
  register: ipsec

- name: Audit IPsec and the firewall, and on a manager the swarm, in one call
  ironclad.swarm.ipsec_audit:
    firewall: {}
    swarm_view: "{{ inventory_hostname in groups['swarm_managers'] }}"
  register: node_audit

- name: Audit two networks and fail on high findings
  ironclad.swarm.ipsec_audit:
    networks: [backend, db]
    fail_on: high

- name: Show the findings
  ansible.builtin.debug:
    msg: "{{ ipsec.findings | map(attribute='reason') | list }}"
"""

RETURN = r"""
firewall:
  description:
    - The result of the firewall audit (O(firewall)), with the keys M(ironclad.swarm.firewall_audit) returns
      (C(findings), C(checks), C(summary), C(peers), C(encrypted_vnis), C(docker_firewall_backend), C(fence),
      C(cleartext)). Its
      findings are not merged into RV(findings).
  returned: when O(firewall) is set
  type: dict
swarm_view:
  description:
    - What M(ironclad.swarm.swarm_audit) returns, under the same keys C(view) and C(error).
  returned: when O(swarm_view=true)
  type: dict
  contains:
    view:
      description: The swarm as this manager sees it; V(null) when it could not be read.
      type: dict
    error:
      description: Why the view is missing or partial, in the engine's words; V(null) when all went well.
      type: str
node:
  description: This node's host name.
  returned: always
  type: str
  sample: manager-1
node_address:
  description: The address this node's engine uses for the swarm's data path (its advertise address), or V(null).
  returned: always
  type: str
  sample: 203.0.113.10
swarm:
  description: This node's swarm membership as its engine sees it.
  returned: always
  type: dict
  contains:
    state:
      description: C(LocalNodeState) (V(active), V(inactive), V(pending), V(locked), V(error)), or V(null) when the engine did not answer.
      type: str
    node_id:
      description: This node's id in the swarm it is in, or V(null).
      type: str
    control:
      description: V(true) on a manager.
      type: bool
node_facts:
  description: What O(node_checks) read, or V(null) with O(node_checks=false) or when the engine did not answer.
  returned: always
  type: dict
  contains:
    daemon:
      description: C(effective) (daemon.json merged with dockerd's flags, with C(hosts)), C(config_error), C(cmdline_read),
        C(live_restore), C(logging_driver), C(server_version) and C(bridge_icc) (the default bridge's icc option).
      type: dict
    socket:
      description: C(path), C(mode), C(owner) and C(group) of C(/var/run/docker.sock), or V(null) when it does not exist.
      type: dict
    management_listeners:
      description: Local addresses listening on TCP 2377.
      type: list
      elements: str
      sample: [203.0.113.10]
    node_cert:
      description: The node's swarm certificate (PEM, public), or V(null).
      type: str
    task_containers:
      description:
        - One item per local container of a swarm task, with C(service), C(task) and C(user).
        - C(user) is what the container runs as; empty means the image's default, which is root unless the image says otherwise.
      type: list
      elements: dict
kernel:
  description: What the kernel offers for encrypted overlays.
  returned: always
  type: dict
  contains:
    release:
      description: The running kernel's release.
      type: str
      sample: 6.1.0-27-amd64
    esp:
      description: V(true) when the kernel does ESP, V(false) when not, V(null) when unknown.
      type: bool
    aes_gcm:
      description: V(true) when an ESP SA with the kernel's rfc4106(gcm(aes)) was accepted, V(false) when the algorithm is missing, V(null) when unknown.
      type: bool
    probe:
      description: The kernel's answers to the probe, in words; empty when O(probe_kernel=false).
      type: str
      sample: "ESP SA with rfc4106(gcm(aes)) refused: Error: Requested AEAD algorithm not found."
    esp_detail:
      description: The answer that settled RV(kernel.esp); empty when the probe did not settle it.
      type: str
      sample: "ESP SA with cipher_null refused: Error: Requested type not found."
    aes_gcm_detail:
      description: The answer that settled RV(kernel.aes_gcm); empty when the probe did not settle it.
      type: str
      sample: "ESP SA with rfc4106(gcm(aes)) refused: Error: Requested AEAD algorithm not found."
    modules:
      description: Each kernel module asked about, with C(status) (V(loaded), V(builtin), V(loadable), V(missing)) and C(source).
      type: dict
      sample: {esp4: {status: missing, source: CONFIG_INET_ESP is not set in /proc/config.gz}}
networks:
  description: Every encrypted overlay network audited, with this node's view of each peer.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The network's name.
      type: str
    id:
      description: The network's id, or V(null) when this node does not know the network.
      type: str
    vnis:
      description: The network's VXLAN ids.
      type: list
      elements: int
    joined:
      description: V(true) when the engine has extended the network to this node (a task or container here uses it).
      type: bool
    status:
      description: V(joined) or V(not joined).
      type: str
    peers:
      description: One item per other node on the network.
      type: list
      elements: dict
      contains:
        address:
          description: The peer's data-path address.
          type: str
        policy:
          description: V(true) when an C(out) policy sends the data-path port to the peer through ESP.
          type: bool
        sa_out:
          description: V(true) when an ESP SA from this node to the peer exists.
          type: bool
        sa_in:
          description: V(true) when an ESP SA from the peer to this node exists.
          type: bool
        spis_out:
          description: SPIs of the outbound SAs, as hex strings.
          type: list
          elements: str
        spis_in:
          description: SPIs of the inbound SAs, as hex strings.
          type: list
          elements: str
        bytes_out:
          description: Bytes through the outbound SAs, or V(null) when the kernel did not say.
          type: int
        bytes_in:
          description: Bytes through the inbound SAs, or V(null) when the kernel did not say.
          type: int
        packets_out:
          description: Packets through the outbound SAs, or V(null) when the kernel did not say.
          type: int
        packets_in:
          description: Packets through the inbound SAs, or V(null) when the kernel did not say.
          type: int
        status:
          description: V(ok), or what is missing in words, such as V(no SA (kernel lacks ESP)).
          type: str
findings:
  description: What is wrong, most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description:
        - V(kernel_no_esp), V(kernel_no_aes_gcm), V(kernel_no_xfrm_user), V(kernel_no_vxlan), V(kernel_no_u32),
          V(kernel_no_ip_vs), V(probe_failed), V(policy_missing), V(sa_out_missing), V(sa_in_missing),
          V(xfrm_unreadable), V(engine_unreachable), V(manager_locked) or V(not_in_swarm).
      type: str
      sample: kernel_no_esp
    severity:
      description: V(high), V(medium) or V(low).
      type: str
      sample: high
    node:
      description: The node the finding is about.
      type: str
      sample: worker-1
    peer:
      description: The peer's address, when the finding is about a pair of nodes.
      type: str
    network:
      description: The network's name, when the finding is about one network.
      type: str
    reason:
      description: The finding in plain words.
      type: str
      sample: "kernel lacks ESP: encrypted overlay traffic between nodes on network backend is dropped"
summary:
  description: Number of findings per severity.
  returned: always
  type: dict
  sample: {high: 1, medium: 1, low: 0}
xfrm:
  description: What the kernel's xfrm layer holds.
  returned: always
  type: dict
  contains:
    policies:
      description: How many xfrm policies the kernel holds (all of them, not only Docker's).
      type: int
    states:
      description: How many xfrm states (SAs) the kernel holds.
      type: int
    sas:
      description:
        - Each ESP SA between this node and a swarm peer, once (Docker keys them by node pair), with C(src), C(dst),
          C(spi) (hex), C(direction) (V(out) or V(in), seen from this node), C(bytes), C(packets) and C(added)
          (when the SA was put in the kernel, epoch seconds; null when unknown). The audit role compares them
          across each pair (SPI agreement, counters that rise on one side only, over the time both SAs existed).
      type: list
      elements: dict
    stat:
      description: The counters of C(/proc/net/xfrm_stat), such as C(XfrmInNoStates); V(null) where the kernel keeps none.
      type: dict
  sample: {policies: 2, states: 4, sas: [], stat: {XfrmInNoStates: 0}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.common.docker import ENGINE_ARGUMENT_SPEC
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.audit_module import FIREWALL_ARGUMENT_SPEC
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.node import NodeAudit


def main():
    argument_spec = dict(
        networks=dict(type='list', elements='str', default=[]),
        data_path_port=dict(type='int', default=4789),
        probe_kernel=dict(type='bool', default=True),
        node_checks=dict(type='bool', default=True),
        firewall=dict(type='dict', options=dict(
            expect_table=FIREWALL_ARGUMENT_SPEC['expect_table'],
            persist_file=FIREWALL_ARGUMENT_SPEC['persist_file'],
            boot_unit=FIREWALL_ARGUMENT_SPEC['boot_unit'])),
        swarm_view=dict(type='bool', default=False),
        fail_on=dict(type='str', choices=['none', 'low', 'medium', 'high'], default='none'),
    )
    argument_spec.update(ENGINE_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    NodeAudit(module).run()


if __name__ == '__main__':
    main()
