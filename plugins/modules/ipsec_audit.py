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
        peers and managers are those of the C(inet ironclad_swarm) table. Unset skips it.
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
      (C(findings), C(checks), C(summary), C(peers), C(encrypted_vnis), C(docker_firewall_backend)). Its
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
  description: How many xfrm policies and states the kernel holds (all of them, not only Docker's).
  returned: always
  type: dict
  sample: {policies: 2, states: 4}
"""

import os
import socket

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ironclad.swarm.plugins.module_utils._docker import (
    ENGINE_ARGUMENT_SPEC,
    HAS_DOCKER_SDK,
    DOCKER_SDK_IMPORT_ERROR,
    Engine,
    EngineError,
    explain,
)
from ansible_collections.ironclad.swarm.plugins.module_utils._fwaudit import FIREWALL_ARGUMENT_SPEC, FirewallAuditModule
from ansible_collections.ironclad.swarm.plugins.module_utils._nodefacts import gather as gather_node_facts
from ansible_collections.ironclad.swarm.plugins.module_utils._swarmview import read as read_swarm_view
from ansible_collections.ironclad.swarm.plugins.module_utils._kernel import (
    KernelState,
    parse_entry,
    parse_xfrm_policies,
    parse_xfrm_states,
    probe_esp,
    resolve_entries,
)

SEVERITIES = ('low', 'medium', 'high')

# Kernel modules asked about, and what their absence means.
KERNEL_ENTRIES = ('esp4', 'xfrm_user', 'vxlan', 'ip_vs', 'xt_u32|xt_bpf')


def is_encrypted_overlay(network):
    """Docker treats an overlay as encrypted when the option is present at all, even as ''."""
    return network.get('Driver') == 'overlay' and 'encrypted' in (network.get('Options') or {})


def network_vnis(network):
    text = str((network.get('Options') or {}).get('com.docker.network.driver.overlay.vxlanid_list', ''))
    return [int(part) for part in text.split(',') if part.strip().isdigit()]


def _hex(spi):
    return '0x%08x' % spi


def _total(states, key):
    values = [s.get(key) for s in states]
    if not values or any(v is None for v in values):
        return None
    return sum(values)


class IpsecAudit(object):
    """Pure: what the kernel, xfrm and the engine said in, networks and findings out.

    kernel      dict with esp, aes_gcm (True/False/None), probe (str), modules {name: {status, source}}
    networks    list of (name, inspect) where inspect is the engine's verbose inspect or None when unknown here
    policies    parse_xfrm_policies() output, or None when ip xfrm could not be read
    states      parse_xfrm_states() output, or None
    """

    def __init__(self, node, node_address, kernel, networks, policies, states, data_path_port, engine_error=None):
        self.node = node
        self.node_address = node_address
        self.kernel = kernel
        self.networks = networks
        self.policies = policies
        self.states = states
        self.port = data_path_port
        self.engine_error = engine_error
        self.findings = []

    def find(self, fid, severity, reason, network=None, peer=None):
        self.findings.append({'id': fid, 'severity': severity, 'node': self.node, 'peer': peer,
                              'network': network, 'reason': reason})

    def module_status(self, name):
        return (self.kernel.get('modules') or {}).get(name) or {}

    def module_missing(self, *names):
        """True when every one of names is known to be missing."""
        return all(self.module_status(n).get('status') == 'missing' for n in names)

    def esp_verdict(self):
        """(esp, evidence): esp True, False or None."""
        esp = self.kernel.get('esp')
        if esp is not None:
            return esp, self.kernel.get('esp_detail') or self.kernel.get('probe') or ''
        if self.module_missing('esp4'):
            return False, 'esp4: %s' % self.module_status('esp4').get('source')
        if self.module_status('esp4').get('status'):
            return True, 'esp4: %s' % self.module_status('esp4').get('status')
        return None, ''

    # pairs

    def pair(self, peer):
        local = self.node_address
        policy = any(
            p.get('dir') == 'out' and p.get('src') == local and p.get('dst') == peer
            and p.get('proto') == 'udp' and p.get('dport') == self.port
            and any(t.get('proto') == 'esp' for t in p.get('tmpl') or [])
            for p in self.policies or [])
        out = [s for s in self.states or [] if s.get('proto') == 'esp' and s.get('src') == local and s.get('dst') == peer]
        inbound = [s for s in self.states or [] if s.get('proto') == 'esp' and s.get('src') == peer and s.get('dst') == local]
        return {
            'address': peer,
            'policy': policy,
            'sa_out': bool(out),
            'sa_in': bool(inbound),
            'spis_out': [_hex(s['spi']) for s in out if s.get('spi') is not None],
            'spis_in': [_hex(s['spi']) for s in inbound if s.get('spi') is not None],
            'bytes_out': _total(out, 'bytes'),
            'bytes_in': _total(inbound, 'bytes'),
            'status': 'ok',
        }

    def audit_network(self, name, inspect, kernel_cause):
        entry = {'name': name, 'id': None, 'vnis': [], 'joined': False, 'status': 'not joined', 'peers': []}
        if inspect is None:
            return entry
        entry['id'] = inspect.get('Id')
        entry['vnis'] = network_vnis(inspect)
        addresses = [p.get('IP') for p in inspect.get('Peers') or [] if p.get('IP')]
        if not addresses or (self.node_address and self.node_address not in addresses):
            return entry
        entry.update(joined=True, status='joined')
        for peer in sorted(set(addresses) - set([self.node_address])):
            pair = self.pair(peer)
            entry['peers'].append(pair)
            if self.policies is None or self.states is None:
                pair['status'] = 'unknown (ip xfrm unreadable)'
                continue
            missing = []
            if not pair['policy']:
                missing.append('no policy')
                self.find('policy_missing', 'high', 'No xfrm policy sends UDP %d from %s to peer %s through ESP: traffic '
                          'on encrypted network %s towards that node leaves unencrypted or not at all.'
                          % (self.port, self.node_address, peer, name), name, peer)
            absent = [key for key in ('sa_out', 'sa_in') if not pair[key]]
            if absent and kernel_cause:
                missing.append('no SA (%s)' % kernel_cause)
            for key in absent if not kernel_cause else []:
                missing.append('no SA %s' % key[3:])
                self.find(key + '_missing', 'high', 'No ESP SA %s peer %s: encrypted overlay traffic on network %s %s '
                          'that node is dropped.' % ('from this node to' if key == 'sa_out' else 'to this node from',
                                                     peer, name, 'towards' if key == 'sa_out' else 'from'), name, peer)
            if missing:
                pair['status'] = ', '.join(missing)
        return entry

    # kernel

    def kernel_checks(self, joined):
        """Findings about the kernel; returns the cause that explains missing SAs, or None."""
        cause = None
        esp, evidence = self.esp_verdict()
        scope = joined or [None]
        if esp is False:
            cause = 'kernel lacks ESP'
            for network in scope:
                if network:
                    self.find('kernel_no_esp', 'high', 'kernel lacks ESP: encrypted overlay traffic between nodes on '
                              'network %s is dropped (%s).' % (network, evidence), network)
                else:
                    self.find('kernel_no_esp', 'medium', 'kernel lacks ESP: any encrypted overlay network this node '
                              'joins will carry no traffic between nodes (%s).' % evidence)
        if self.kernel.get('aes_gcm') is False:
            cause = cause or 'kernel lacks AES-GCM'
            gcm_evidence = self.kernel.get('aes_gcm_detail') or self.kernel.get('probe')
            for network in scope:
                if network:
                    self.find('kernel_no_aes_gcm', 'high', 'kernel lacks AES-GCM (rfc4106(gcm(aes))), the cipher Docker '
                              'uses: encrypted overlay traffic on network %s is dropped (%s).'
                              % (network, gcm_evidence), network)
                else:
                    self.find('kernel_no_aes_gcm', 'medium', 'kernel lacks AES-GCM (rfc4106(gcm(aes))), the cipher '
                              'Docker uses: encrypted overlay networks will carry no traffic between nodes (%s).'
                              % gcm_evidence)
        if esp is None and self.kernel.get('probe'):
            self.find('probe_failed', 'low', 'Could not learn whether the kernel does ESP with AES-GCM: %s.'
                      % self.kernel.get('probe'))
        if self.module_missing('xfrm_user'):
            cause = cause or 'kernel lacks xfrm_user'
            self.find('kernel_no_xfrm_user', 'high', 'kernel lacks xfrm_user: Docker cannot program IPsec, so '
                      'encrypted overlay networks carry no traffic between nodes (%s).'
                      % self.module_status('xfrm_user').get('source'))
        if self.module_missing('vxlan'):
            self.find('kernel_no_vxlan', 'high', 'kernel lacks vxlan: no overlay network carries traffic between '
                      'nodes (%s).' % self.module_status('vxlan').get('source'))
        if self.module_missing('xt_u32', 'xt_bpf'):
            self.find('kernel_no_u32', 'medium', "kernel lacks xt_u32 and xt_bpf: Docker cannot install its drop of "
                      'unencrypted VXLAN for encrypted networks, so cleartext could be injected into them unless the '
                      'firewall drops VXLAN outside IPsec (%s).' % self.module_status('xt_u32').get('source'))
        if self.module_missing('ip_vs'):
            self.find('kernel_no_ip_vs', 'medium', 'kernel lacks ip_vs: service names that resolve to a virtual IP '
                      'do not work; use endpoint_mode dnsrr or tasks.<service> names (%s).'
                      % self.module_status('ip_vs').get('source'))
        return cause

    def run(self):
        if self.engine_error:
            self.find('engine_unreachable', 'high', 'The Docker Engine could not be asked about networks: %s.'
                      % self.engine_error)
        if self.policies is None or self.states is None:
            self.find('xfrm_unreadable', 'high', 'ip xfrm could not be read, so the IPsec policies and SAs are unknown.')
        joined = []
        for name, inspect in self.networks:
            addresses = [p.get('IP') for p in (inspect or {}).get('Peers') or []]
            if addresses and (not self.node_address or self.node_address in addresses):
                joined.append(name)
        cause = self.kernel_checks(joined)
        report = [self.audit_network(name, inspect, cause) for name, inspect in self.networks]
        self.findings.sort(key=lambda f: -SEVERITIES.index(f['severity']))
        return report, self.findings


class IpsecAuditModule(object):

    def __init__(self, module, kernel_state=None, engine=None):
        self.module = module
        self.params = module.params
        self.kernel_state = kernel_state
        self.engine = engine
        self.swarm_state = {'state': None, 'node_id': None, 'control': False}
        self.node_facts = None
        self.connected = None
        self.ip = module.get_bin_path('ip', opt_dirs=['/usr/sbin', '/sbin'])
        self.modprobe = module.get_bin_path('modprobe', opt_dirs=['/usr/sbin', '/sbin'])

    def run_ip(self, argv):
        if self.ip is None:
            return 127, '', 'ip not found (install iproute2)'
        if argv[:2] == ['netns', 'exec']:
            argv = argv[:3] + [self.ip] + argv[4:]
        return self.module.run_command([self.ip] + argv)

    def modprobe_probe(self, name):
        if self.modprobe is None:
            return False, 'modprobe not found (install kmod)'
        rc, out, err = self.module.run_command([self.modprobe, '--dry-run', '--verbose', name])
        lines = [line.strip() for line in (err or out or '').splitlines() if line.strip()]
        if rc == 0:
            return True, 'modprobe --dry-run found it'
        return False, 'modprobe --dry-run: %s' % (lines[-1] if lines else 'exit code %d' % rc)

    def kernel(self):
        state = self.kernel_state if self.kernel_state is not None else KernelState.from_system()
        results = resolve_entries([parse_entry(e) for e in KERNEL_ENTRIES], state, self.modprobe_probe)
        modules = {}
        for result in results:
            for status in result.statuses:
                modules[status.name] = status.as_dict()
        kernel = {'release': state.release, 'esp': None, 'aes_gcm': None, 'probe': '', 'esp_detail': '',
                  'aes_gcm_detail': '', 'modules': modules}
        if self.params['probe_kernel']:
            probe = probe_esp(self.run_ip, 'ironclad-audit-%d' % os.getpid())
            kernel.update(esp=probe['esp'], aes_gcm=probe['aes_gcm'], probe=probe['detail'],
                          esp_detail=probe['esp_detail'], aes_gcm_detail=probe['aes_gcm_detail'])
        return kernel

    def xfrm(self):
        rc, policy_text, err = self.run_ip(['xfrm', 'policy', 'list'])
        if rc != 0:
            self.module.warn('ip xfrm policy failed: %s' % err.strip())
            return None, None
        rc, state_text, err = self.run_ip(['-s', 'xfrm', 'state', 'list'])
        if rc != 0:
            self.module.warn('ip -s xfrm state failed: %s' % err.strip())
            return parse_xfrm_policies(policy_text), None
        return parse_xfrm_policies(policy_text), parse_xfrm_states(state_text)

    def node_view(self, engine):
        """The node's own facts beyond IPsec (daemon, socket, port 2377, certificate, task users)."""
        info, icc, containers = None, None, []
        try:
            info = engine.api.info()
            bridge = engine.inspect_network('bridge')
            if bridge is not None:
                icc = (bridge.get('Options') or {}).get('com.docker.network.bridge.enable_icc')
            for listed in engine.api.containers(filters={'label': 'com.docker.swarm.service.name'}):
                labels = listed.get('Labels') or {}
                inspect = engine.api.inspect_container(listed['Id'])
                containers.append({'service': labels.get('com.docker.swarm.service.name'),
                                   'task': labels.get('com.docker.swarm.task.name'),
                                   'user': ((inspect.get('Config') or {}).get('User') or '')})
        except Exception as error:  # the SDK raises its own errors and requests' alike
            self.module.warn('could not read the engine for the node checks: %s' % explain(error))
        return gather_node_facts(info, icc, containers)

    def engine_view(self):
        """(node_address, [(name, inspect or None)], error)."""
        if self.engine is None and not HAS_DOCKER_SDK:
            self.module.fail_json(
                msg=missing_required_lib('docker (the Docker SDK for Python; Debian package python3-docker)'),
                exception=DOCKER_SDK_IMPORT_ERROR)
        wanted = self.params['networks']
        try:
            engine = self.engine or Engine(self.params['docker_host'], self.params['timeout'])
            self.connected = engine
            info = engine.api.info()
            swarm = info.get('Swarm') or {}
            self.swarm_state = {'state': swarm.get('LocalNodeState'), 'node_id': swarm.get('NodeID') or None,
                                'control': bool(swarm.get('ControlAvailable'))}
            if self.params['node_checks']:
                self.node_facts = self.node_view(engine)
            address = swarm.get('NodeAddr') or None
            found = {}
            for listed in engine.networks():
                if not is_encrypted_overlay(listed) or (wanted and listed.get('Name') not in wanted):
                    continue
                inspect = engine.inspect_network(listed['Id'], verbose=True)
                if inspect is not None:
                    found[inspect.get('Name')] = inspect
        except EngineError as error:
            return None, [(name, None) for name in wanted], '%s' % error
        except Exception as error:  # the SDK raises its own errors and requests' alike
            return None, [(name, None) for name in wanted], explain(error)
        if swarm.get('LocalNodeState') != 'active':
            return None, [(name, None) for name in wanted], None
        names = list(wanted) or sorted(found)
        return address, [(name, found.get(name)) for name in names], None

    def swarm_view(self, engine_error):
        """What swarm_audit returns: {'view': ..., 'error': ...}."""
        if self.connected is None:
            return {'view': None, 'error': 'The Docker Engine did not answer: %s' % engine_error}
        try:
            view, error = read_swarm_view(self.connected.api)
        except Exception as error:  # the SDK raises its own errors and requests' alike
            return {'view': None, 'error': 'The Docker Engine did not answer: %s' % explain(error)}
        return {'view': view, 'error': error}

    def run(self):
        p = self.params
        if not 1 <= p['data_path_port'] <= 65535:
            self.module.fail_json(msg='data_path_port: %d is not a port number: use 1 to 65535' % p['data_path_port'])
        kernel = self.kernel()
        policies, states = self.xfrm()
        address, networks, error = self.engine_view()
        node = socket.gethostname()
        audit = IpsecAudit(node, address, kernel, networks, policies, states, p['data_path_port'], error)
        report, findings = audit.run()
        if error is None and address is None and self.swarm_state['state'] == 'locked':
            findings.insert(0, {'id': 'manager_locked', 'severity': 'high', 'node': node, 'peer': None, 'network': None,
                                'reason': 'This manager is locked (autolock): its engine cannot take part in the swarm '
                                          'until it is unlocked. Run site.yml with the unlock key as the vault-encrypted '
                                          'variable cluster_unlock_key, or docker swarm unlock on the node.'})
        elif error is None and address is None:
            findings.insert(0, {'id': 'not_in_swarm', 'severity': 'high', 'node': node, 'peer': None, 'network': None,
                                'reason': 'This node is not an active swarm member, so it takes part in no overlay '
                                          'network. Run the cluster role (site.yml).'})
        summary = dict((s, len([f for f in findings if f['severity'] == s])) for s in SEVERITIES)
        result = dict(changed=False, node=node, node_address=address, swarm=self.swarm_state, node_facts=self.node_facts,
                      kernel=kernel, networks=report,
                      findings=findings, summary=summary,
                      xfrm={'policies': len(policies or []), 'states': len(states or [])})
        if p['firewall'] is not None:
            params = dict((name, spec.get('default')) for name, spec in FIREWALL_ARGUMENT_SPEC.items())
            params.update(p['firewall'], data_path_port=p['data_path_port'], node_address=address or '')
            result['firewall'] = FirewallAuditModule(self.module, params).run()
        if p['swarm_view']:
            result['swarm_view'] = self.swarm_view(error)
        if p['fail_on'] != 'none':
            floor = SEVERITIES.index(p['fail_on'])
            bad = [f for f in findings if SEVERITIES.index(f['severity']) >= floor]
            if bad:
                result['msg'] = '%d finding(s) at or above %s: %s' % (
                    len(bad), p['fail_on'], ' | '.join('[%s] %s' % (f['severity'], f['reason']) for f in bad))
                self.module.fail_json(**result)
        self.module.exit_json(**result)


def main():
    argument_spec = dict(
        networks=dict(type='list', elements='str', default=[]),
        data_path_port=dict(type='int', default=4789),
        probe_kernel=dict(type='bool', default=True),
        node_checks=dict(type='bool', default=True),
        firewall=dict(type='dict', options=dict(
            expect_table=FIREWALL_ARGUMENT_SPEC['expect_table'],
            persist_file=FIREWALL_ARGUMENT_SPEC['persist_file'])),
        swarm_view=dict(type='bool', default=False),
        fail_on=dict(type='str', choices=['none', 'low', 'medium', 'high'], default='none'),
    )
    argument_spec.update(ENGINE_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    IpsecAuditModule(module).run()


if __name__ == '__main__':
    main()
