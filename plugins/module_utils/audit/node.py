# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
"""The audit core of one node: the kernel, xfrm, the engine's networks, the node's own facts, and (with
the firewall option) the fence. One implementation for two callers: the ipsec_audit module (the Ansible
path, audit.yml) and the node agent (audit/agent.py, a systemd timer, no Ansible on the node). Nothing here
imports Ansible; `host` is anything with get_bin_path, run_command, warn and fail_json, which an
AnsibleModule has and audit/agent.py's LocalHost provides.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import time

from ansible_collections.ironclad.swarm.plugins.module_utils.common.docker import (
    HAS_DOCKER_SDK,
    DOCKER_SDK_IMPORT_ERROR,
    Engine,
    EngineError,
    explain,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import read_text
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.findings import check as catalogued
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.audit_module import (
    FIREWALL_ARGUMENT_SPEC,
    FirewallAuditModule,
    keep_cleartext_rules,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.cleartext import overlay_entries
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.options import is_encrypted_overlay, network_vnis
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.nodefacts import gather as gather_node_facts
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.view import read as read_swarm_view
from ansible_collections.ironclad.swarm.plugins.module_utils.engine.kernel_modules import (
    KernelState,
    parse_entry,
    resolve_entries,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.esp_probe import probe_esp
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.xfrm import (
    parse_xfrm_policies,
    parse_xfrm_stat,
    parse_xfrm_states,
)

ENGINE_RETRY_S = 1  # before a failed read of the engine is read again

SEVERITIES = ('low', 'medium', 'high')

# Kernel modules asked about, and what their absence means.
KERNEL_ENTRIES = ('esp4', 'xfrm_user', 'vxlan', 'ip_vs', 'xt_u32|xt_bpf')
XFRM_STAT = '/proc/net/xfrm_stat'


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
        self.findings.append({'id': catalogued(fid, severity), 'severity': severity, 'node': self.node, 'peer': peer,
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
            'packets_out': _total(out, 'packets'),
            'packets_in': _total(inbound, 'packets'),
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

    def swarm_sas(self, report):
        """The ESP SAs between this node and its swarm peers, each once (Docker keys them by pair, not by network):
        [{src, dst, spi (hex), direction (out, in), bytes, packets, added (epoch seconds, None when unknown)}]."""
        peers = set(p['address'] for n in report for p in n['peers'])
        local = self.node_address
        sas = []
        for state in self.states or []:
            if state.get('proto') != 'esp' or state.get('spi') is None:
                continue
            if state.get('src') == local and state.get('dst') in peers:
                direction = 'out'
            elif state.get('dst') == local and state.get('src') in peers:
                direction = 'in'
            else:
                continue
            sas.append({'src': state['src'], 'dst': state['dst'], 'spi': _hex(state['spi']), 'direction': direction,
                        'bytes': state.get('bytes'), 'packets': state.get('packets'), 'added': state.get('added')})
        return sorted(sas, key=lambda sa: (sa['direction'], sa['src'], sa['dst'], sa['spi']))

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


class NodeAudit(object):

    def __init__(self, module, kernel_state=None, engine=None, probe=None):
        """probe: an earlier probe's verdict (esp, aes_gcm, detail, esp_detail, aes_gcm_detail), used when
        probe_kernel is false: the agent probes at boot and hourly, not on every run."""
        self.module = module
        self.earlier_probe = probe
        self.params = module.params
        self.kernel_state = kernel_state
        self.engine = engine
        self.swarm_state = {'state': None, 'node_id': None, 'control': False}
        self.node_facts = None
        self.connected = None
        self.overlays = None    # [(vni, name, encrypted)] of the engine's overlay networks, once listed
        self.engine_facts = None  # what the fence audit would otherwise ask the docker CLI (every network read)
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
        probe = self.earlier_probe
        if self.params['probe_kernel']:
            probe = probe_esp(self.run_ip, 'ironclad-audit-%d' % os.getpid())
        if probe:
            kernel.update(esp=probe.get('esp'), aes_gcm=probe.get('aes_gcm'), probe=probe.get('detail') or '',
                          esp_detail=probe.get('esp_detail') or '', aes_gcm_detail=probe.get('aes_gcm_detail') or '')
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
            from ansible.module_utils.basic import missing_required_lib  # only the module path gets here without the SDK
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
            listing = engine.networks()
            self.overlays = overlay_entries(listing)
            for listed in listing:
                if not is_encrypted_overlay(listed) or (wanted and listed.get('Name') not in wanted):
                    continue
                try:
                    inspect = engine.inspect_network(listed['Id'], verbose=True)
                except EngineError as error:
                    # One network that cannot be inspected (removed while listed, a peer joining) is not the
                    # engine down: it is left out of this run, and said.
                    self.module.warn('%s' % error)
                    continue
                if inspect is not None:
                    found[inspect.get('Name')] = inspect
        except EngineError as error:
            return None, [(name, None) for name in wanted], '%s' % error
        except Exception as error:  # the SDK raises its own errors and requests' alike
            return None, [(name, None) for name in wanted], explain(error)
        if not wanted:
            self.engine_facts = {'networks': [found[name] for name in sorted(found)],
                                 'firewall_backend': info.get('FirewallBackend'),
                                 'control_available': bool(swarm.get('ControlAvailable'))}
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

    def xfrm_stat(self):
        """The kernel's xfrm counters ({name: int}), or None where the kernel keeps none."""
        text = read_text(XFRM_STAT)
        return parse_xfrm_stat(text) if text is not None else None

    def collect(self):
        """Every reading and finding of this node, as ipsec_audit returns them (without changed and msg)."""
        p = self.params
        if not 1 <= p['data_path_port'] <= 65535:
            self.module.fail_json(msg='data_path_port: %d is not a port number: use 1 to 65535' % p['data_path_port'])
        kernel = self.kernel()
        policies, states = self.xfrm()
        address, networks, error = self.engine_view()
        if error is not None and self.connected is not None:
            # The engine answered once (its client connected): one failed call is read again before it is called
            # unreachable. Under service churn the list of networks can fail while one is being removed, and the
            # node agent, which asks every minute, must not raise engine_unreachable for that.
            time.sleep(ENGINE_RETRY_S)
            address, networks, error = self.engine_view()
        node = socket.gethostname()
        audit = IpsecAudit(node, address, kernel, networks, policies, states, p['data_path_port'], error)
        report, findings = audit.run()
        if error is None and address is None and self.swarm_state['state'] == 'locked':
            findings.insert(0, {'id': catalogued('manager_locked', 'high'), 'severity': 'high', 'node': node, 'peer': None, 'network': None,
                                'reason': 'This manager is locked (autolock): its engine cannot take part in the swarm '
                                          'until it is unlocked. Run site.yml with the unlock key as the vault-encrypted '
                                          'variable cluster_unlock_key, or docker swarm unlock on the node.'})
        elif error is None and address is None:
            findings.insert(0, {'id': catalogued('not_in_swarm', 'high'), 'severity': 'high', 'node': node, 'peer': None, 'network': None,
                                'reason': 'This node is not an active swarm member, so it takes part in no overlay '
                                          'network. Run the cluster role (site.yml).'})
        summary = dict((s, len([f for f in findings if f['severity'] == s])) for s in SEVERITIES)
        result = dict(node=node, node_address=address, swarm=self.swarm_state, node_facts=self.node_facts,
                      kernel=kernel, networks=report, findings=findings, summary=summary,
                      xfrm={'policies': len(policies or []), 'states': len(states or []),
                            'sas': audit.swarm_sas(report), 'stat': self.xfrm_stat()},
                      engine_error=error)
        if p.get('keep_cleartext_rules') and error is None and self.overlays is not None:
            # The node agent keeps the fence's per-network cleartext rules in step with the engine (the one
            # write it makes besides the kernel probe's namespace); the ipsec_audit module never does.
            result['cleartext_rules'] = keep_cleartext_rules(self.module, self.overlays)
        if p['firewall'] is not None:
            params = dict((name, spec.get('default')) for name, spec in FIREWALL_ARGUMENT_SPEC.items())
            params.update(p['firewall'], data_path_port=p['data_path_port'], node_address=address or '')
            if error is None and self.engine_facts is not None:
                params['engine'] = self.engine_facts
            result['firewall'] = FirewallAuditModule(self.module, params).run()
        if p['swarm_view']:
            result['swarm_view'] = self.swarm_view(error)
        return result

    def run(self):
        """The module's run: collect, then fail on findings at or above fail_on, else exit."""
        p = self.params
        result = self.collect()
        result.pop('engine_error')
        result['changed'] = False
        findings = result['findings']
        if p['fail_on'] != 'none':
            floor = SEVERITIES.index(p['fail_on'])
            bad = [f for f in findings if SEVERITIES.index(f['severity']) >= floor]
            if bad:
                result['msg'] = '%d finding(s) at or above %s: %s' % (
                    len(bad), p['fail_on'], ' | '.join('[%s] %s' % (f['severity'], f['reason']) for f in bad))
                self.module.fail_json(**result)
        self.module.exit_json(**result)
