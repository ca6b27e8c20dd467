# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""The firewall audit's judgement of one node: its ruleset, already read, against the swarm's flows.

Audit takes the node's evaluated ruleset (every base chain of nft and iptables), its peers, managers and
non-peers, the encrypted networks' VXLAN ids and Docker's rules for them, the fence's table as it is and as it
was applied, and returns findings: each flow of flows.py from peers (accepted) and from non-peers (dropped),
unencrypted VXLAN of an encrypted network (dropped), the table, its boot unit and the cleartext counters.
Pure: inputs in, findings out. Reading those inputs on the node is audit_module.py's part.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


from ansible_collections.ironclad.swarm.plugins.module_utils.audit.findings import check as catalogued
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.evaluate import (
    Packet,
    Ruleset,
    evaluate,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.nftio import table_differences
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import flows
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec import (
    TABLE_FAMILY,
    TABLE_NAME,
)

SEVERITIES = ('low', 'medium', 'high')


def new_cleartext(count, baseline):
    """Packets counted since the baseline; all of them when there is none, or when the rule was made again
    (its counter restarted below the baseline)."""
    before = (baseline or {}).get('%s/%s' % (count['network'], count['direction']), 0)
    return count['packets'] - before if count['packets'] >= before else count['packets']


def _first_host(net):
    return net.network_address if net.prefixlen == net.max_prefixlen else next(net.hosts(), net.network_address)


def _in_any(addr, nets):
    return any(addr in n for n in nets)


class Audit(object):
    """Pure: inputs in, findings out."""

    def __init__(self, node, peers, managers, node_address, manager, data_path_port, non_peers,
                 ruleset, vnis, docker_rules, table_live, table_expected, expect_table, docker_backend=None,
                 docker_tables=(), boot_unit=None):
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
        self.docker_backend = docker_backend
        self.docker_tables = list(docker_tables)
        # (unit name, what `systemctl is-enabled` said) when the fence is persisted, else None.
        self.boot_unit = boot_unit
        self.findings = []
        self.checks = []

    def find(self, fid, severity, reason, rule=None, peers=None, network=None):
        finding = {'id': catalogued(fid, severity), 'severity': severity, 'node': self.node, 'reason': reason}
        if rule:
            finding['rule'] = rule
        if network:
            finding['network'] = network
        if peers:
            finding['peers'] = peers
            if len(peers) == 1:
                finding['peer'] = peers[0]
        self.findings.append(finding)

    def ask(self, label, packet, expected, flow=None, peer=None):
        """Evaluate one imagined packet; the record names the flow and the peer so that reports match on them."""
        verdict = evaluate(self.ruleset, packet)
        record = dict(verdict.as_dict(), check=label, expected=expected, flow=flow, peer=peer)
        self.checks.append(record)
        return verdict

    def daddr_for(self, source):
        if self.node_address is not None and self.node_address.version == source.version:
            return self.node_address
        return None

    def peer_checks(self):
        """Every flow of flows.py from each peer: accepted, or its finding (for the node this one is)."""
        for flow in flows.FLOWS:
            what = flow.peer_label.format(label=flow.label_for(self.port))
            blocked, unsure = [], []
            decided = None
            for net in self.peers:
                source = _first_host(net)
                if source == self.node_address:
                    continue
                packet = Packet(source, self.daddr_for(source), flow.protocol, flow.port_for(self.port), ipsec=flow.ipsec)
                verdict = self.ask('%s from peer %s' % (what, source), packet, 'accept', flow.key, str(source))
                if verdict.accepted is False:
                    blocked.append(str(source))
                    decided = decided or verdict
                elif verdict.accepted is None:
                    unsure.append((str(source), verdict))
            if blocked:
                finding = flow.blocked_finding(self.manager)
                self.find(finding.id, finding.severity, '%s from peer(s) %s is dropped by %s: %s.' % (
                    what, ', '.join(blocked[:10]) + (' and %d more' % (len(blocked) - 10) if len(blocked) > 10 else ''),
                    decided.where, finding.effect), decided.rule_text, peers=blocked)
            for source, verdict in unsure[:1]:
                self.find('undecidable', 'low', '%s from peer %s: cannot tell whether it is accepted; rules that '
                          'could not be evaluated: %s.' % (what, source, '; '.join(verdict.doubts)))

    def non_peer_checks(self):
        """Every flow of flows.py that this node listens on, from each non-peer: dropped, or its finding."""
        exposed = [(flow, flow.exposed_finding(self.manager)) for flow in flows.open_checks_order()]
        families = set(n.version for n in self.peers) or set([4])
        for source in self.non_peers:
            if source.version not in families or _in_any(source, self.peers):
                continue
            for flow, finding in exposed:
                if finding is None:
                    continue
                what = flow.open_label.format(label=flow.label_for(self.port))
                packet = Packet(source, self.daddr_for(source), flow.protocol, flow.port_for(self.port))
                verdict = self.ask('%s from non-peer %s' % (what, source), packet, 'drop')
                if verdict.accepted is True:
                    self.find(finding.id, finding.severity, '%s from non-peer %s is accepted (%s: %s): %s.' % (
                        what, source, verdict.where, verdict.rule_text, finding.effect), verdict.rule_text)
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

    @property
    def nftables_backend(self):
        return bool(self.docker_backend) and self.docker_backend.startswith('nftables')

    def missing_drop_cause(self):
        if self.nftables_backend:
            return ("Docker's firewall backend is nftables, and the audit looked for the drop in iptables, where "
                    'Docker 28.5 still writes the overlay rules')
        return 'are xt_u32 and xt_bpf there?'

    def backend_checks(self):
        if not self.nftables_backend:
            return
        tables = ', '.join(self.docker_tables) or 'none'
        self.find('docker_nftables_backend', 'low', "Docker's firewall backend is %s (DOCKER_FIREWALL_BACKEND, "
                  'experimental in Docker 28; Docker 29 documents it as unavailable in swarm mode). Docker 28.5 '
                  "still writes the overlay networks' rules (the drop of unencrypted VXLAN per encrypted network) with iptables, and "
                  "they were audited there; Docker's nftables tables (%s) were evaluated as nft lists them. Not "
                  'verified: overlay rules that a Docker version keeps in nftables only; such a drop would be '
                  'reported missing.' % (self.docker_backend, tables))

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
                                  '%s is missing (%s) and %s accepts it: cleartext can be injected into the encrypted '
                                  'network.' % (label, self.missing_drop_cause(), source), verdict.rule_text)
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
                              'missing (%s); the fence drops such packets instead.' % (label, self.missing_drop_cause()))

    def cleartext_checks(self, counts, baseline):
        """The fence's cleartext counters ([{network, vni, encrypted, direction, packets}]): an encrypted network's
        count that rose since baseline ({'network/direction': packets}, the agent's last reading) is a finding."""
        for count in counts:
            seen = new_cleartext(count, baseline)
            if count['encrypted'] and seen > 0:
                way = 'reached' if count['direction'] == 'in' else 'tried to leave'
                since = 'since the node agent\'s last run' if baseline else 'since the fence began counting'
                self.find('cleartext_vxlan', 'high', '%d VXLAN packet(s) of encrypted network %s %s this node outside '
                          'IPsec %s; the fence dropped them. Something sends that network\'s traffic unencrypted: check '
                          'the xfrm policies and the kernel (policy_missing, kernel_no_esp) and capture UDP %d to see who '
                          'sends VNI %d.' % (seen, count['network'], way, since, self.port, count['vni']),
                          network=count['network'])

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

    def boot_checks(self):
        if self.boot_unit is None:
            return
        name, state = self.boot_unit
        if state not in ('enabled', 'enabled-runtime', 'static', 'alias', 'indirect', 'generated'):
            self.find('boot_unit_disabled', 'high', 'The fence is persisted, but %s, which loads it at boot, is %s: '
                      'after the next reboot this node comes up unfenced. Run the firewall role (site.yml --tags '
                      'firewall) again, or systemctl enable %s.' % (name, state or 'not installed', name))

    def fence_state(self):
        """The fence in three facts, for the agent's metrics: loaded, as applied, loaded at boot (None: unknown)."""
        matches = None
        if self.table_live is not None and self.table_expected is not None:
            matches = not table_differences(self.table_live, self.table_expected)
        elif self.table_live is None:
            matches = False
        ids = set(f['id'] for f in self.findings)
        return {'table_present': self.table_live is not None, 'table_matches': matches,
                'boot_unit': None if self.boot_unit is None else self.boot_unit[1],
                'boot_unit_enabled': None if self.boot_unit is None else 'boot_unit_disabled' not in ids,
                'vxlan_cleartext_drop': not ids.intersection(('vxlan_drop_missing', 'vxlan_drop_shadowed'))
                if self.vnis else None}

    def run(self):
        self.table_checks()
        self.boot_checks()
        self.backend_checks()
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
