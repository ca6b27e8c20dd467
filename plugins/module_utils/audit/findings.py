# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its contents may change at any time.
"""The catalogue of findings: every id the audit and the node agent can raise, in one place.

Each entry: where it is judged (`part`), the severities it can take and the rule that picks one, a
one-line meaning and the CIS Docker Benchmark reference where there is one. The code that raises a
finding checks its id and severity here (check()), docs/audit.md's table is generated from it
(`python -m ...._findings` prints it) and tests/unit/test_findings_catalogue.py fails when the two
disagree. Imports nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The pair check's two thresholds, named in esp_black_hole's rule below and used by audit/report.py.
# An out SA that has carried at least this many packets while the peer's SA with the same SPI has received
# none is an ESP black hole: the packets leave and never arrive (IP protocol 50 dropped on the way).
BLACK_HOLE_PACKETS = 10
# Counters start at 0 when an SA is added. When the receiver's SA was added more than this many seconds after
# the sender's (the receiver rebooted or its engine restarted, and Docker put the same SPI back), the sender's
# count includes packets sent before the receiver's SA existed, and one reading cannot tell a black hole from a
# fresh start. On the VM lab, a pair's two SAs are added up to 19 s apart when the swarm forms.
COMPARABLE_SECONDS = 60

# part: where the finding is judged.
PARTS = (
    ('kernel', 'the node\'s kernel (ipsec_audit)'),
    ('ipsec', 'the node\'s xfrm policies and SAs (ipsec_audit)'),
    ('pair', 'both ends of a pair of nodes (the audit report, on the controller; the alert rules)'),
    ('fence', 'the node\'s firewall (firewall_audit, ipsec_audit\'s firewall option)'),
    ('swarm', 'the swarm as a manager sees it (judged on the controller, and by the agent on managers)'),
    ('daemon', 'each node\'s Docker daemon'),
    ('service', 'the running services'),
    ('probe', 'the active probe (audit_probe)'),
    ('audit', 'the audit itself'),
)

# id: (part, severities, rule, meaning, cis)
CATALOGUE = {
    'kernel_no_esp': ('kernel', ('high', 'medium'), 'high per joined encrypted network, and when the swarm has or '
                      'declares one; medium on a swarm with none', 'The kernel refused an ESP SA: encrypted overlay '
                      'traffic between nodes is dropped.', None),
    'kernel_no_aes_gcm': ('kernel', ('high', 'medium'), 'as kernel_no_esp', 'The kernel has no rfc4106(gcm(aes)): '
                          'Docker\'s SAs cannot exist.', None),
    'kernel_no_xfrm_user': ('kernel', ('high',), 'high', 'Docker cannot program IPsec at all.', None),
    'kernel_no_vxlan': ('kernel', ('high',), 'high', 'No overlay network carries anything between nodes.', None),
    'kernel_no_u32': ('kernel', ('medium',), 'medium', 'Neither xt_u32 nor xt_bpf: Docker cannot install its drop of '
                      'unencrypted VXLAN; only the fence keeps cleartext out.', None),
    'kernel_no_ip_vs': ('kernel', ('medium',), 'medium', 'Service names that resolve to a virtual IP do not work; use '
                        'endpoint_mode dnsrr or tasks.<service>.', None),
    'probe_failed': ('kernel', ('low',), 'low', 'The kernel probe could not run (no network namespaces?).', None),
    'policy_missing': ('ipsec', ('high',), 'high, per peer and network', 'No xfrm policy sends the data-path port to '
                       'that peer through ESP.', '7.3'),
    'sa_out_missing': ('ipsec', ('high',), 'high, per peer and network; not raised when the kernel lacks ESP or '
                       'AES-GCM, which explains it', 'The policy is there but no SA to the peer: traffic that way is '
                       'dropped.', '7.3'),
    'sa_in_missing': ('ipsec', ('high',), 'as sa_out_missing', 'No SA from the peer: traffic from it is dropped.',
                      '7.3'),
    'xfrm_unreadable': ('ipsec', ('high',), 'high', 'ip xfrm could not be read: the SAs are unknown.', None),
    'engine_unreachable': ('ipsec', ('high',), 'high', 'The Docker Engine did not answer.', None),
    'not_in_swarm': ('ipsec', ('high',), 'high', 'The node is not an active swarm member.', None),
    'manager_locked': ('ipsec', ('high',), 'high', 'An autolocked manager was restarted and is locked; site.yml '
                       'unlocks it with cluster_unlock_key.', '7.5'),
    'spi_mismatch': ('pair', ('high',), 'high, on the sender, per shared encrypted network', 'The sender\'s SPI has no '
                     'inbound SA at the peer (moby#51798): every packet that way is dropped on arrival.', None),
    'esp_black_hole': ('pair', ('high',), 'high, on the sender, when its SA has carried %d packets or more and the '
                       'peer\'s SA with the same SPI, added no more than %d s later, none'
                       % (BLACK_HOLE_PACKETS, COMPARABLE_SECONDS),
                       'ESP leaves and never arrives: IP protocol 50 is dropped on the way.', None),
    'esp_blocked': ('fence', ('high',), 'high', 'ESP from a peer is dropped.', None),
    'gossip_blocked': ('fence', ('high',), 'high', 'TCP or UDP 7946 from a peer is dropped.', None),
    'data_path_blocked': ('fence', ('high',), 'high', 'The data-path port from a peer (out of IPsec) is dropped.',
                          None),
    'control_blocked': ('fence', ('high', 'medium'), 'high; medium on a worker (promoting it would cut it off)',
                        'TCP 2377 from a peer is dropped.', None),
    'data_path_open': ('fence', ('high',), 'high', 'The data-path port is accepted from a non-peer.', None),
    'control_open': ('fence', ('high',), 'high', 'TCP 2377 on this manager is accepted from a non-peer.', '7.2'),
    'gossip_open': ('fence', ('medium',), 'medium', '7946 is accepted from a non-peer.', None),
    'esp_open': ('fence', ('low',), 'low', 'ESP is accepted from a non-peer (the kernel still needs an SA).', None),
    'vxlan_drop_shadowed': ('fence', ('high', 'medium'), 'high; medium when the fence\'s own drop of VXLAN outside '
                            'IPsec still stops it', 'Cleartext VXLAN of an encrypted network is accepted ahead of '
                            'Docker\'s drop.', None),
    'vxlan_drop_missing': ('fence', ('high', 'low'), 'high; low when the fence drops such packets anyway',
                           'Docker\'s drop of cleartext VXLAN for an encrypted network is missing.', None),
    'cleartext_vxlan': ('fence', ('high',), 'high', 'VXLAN of an encrypted network was counted arriving or leaving '
                        'outside IPsec (the fence dropped it).', None),
    'docker_nftables_backend': ('fence', ('low',), 'low', 'Docker runs its firewall on nftables: what was audited '
                                'where.', None),
    'table_missing': ('fence', ('high',), 'high', 'The table inet ironclad_swarm is not loaded.', None),
    'table_modified': ('fence', ('medium',), 'medium', 'The loaded table differs from the persisted one (edited by '
                       'hand).', None),
    'boot_unit_disabled': ('fence', ('high',), 'high, when the fence is persisted', 'The unit that loads the fence at '
                           'boot is not enabled: the next reboot leaves the node unfenced.', None),
    'not_a_peer': ('fence', ('medium',), 'medium', 'None of the node\'s addresses is in the peer set.', None),
    'no_peers': ('fence', ('medium',), 'medium', 'No peer addresses were found: the peer checks were skipped.', None),
    'undecidable': ('fence', ('low',), 'low', 'A rule the audit cannot evaluate may decide; it says which.', None),
    'network_not_encrypted': ('swarm', ('high',), 'high', 'Declared encrypted, live plain (replaced out of band).',
                              '7.3'),
    'network_missing': ('swarm', ('medium',), 'medium', 'Declared, absent from the swarm.', None),
    'network_undeclared': ('swarm', ('high', 'low'), 'high when plain with running tasks on 2 or more nodes, else low',
                           'A live overlay the declaration does not know.', '7.3'),
    'manager_unreachable': ('swarm', ('high',), 'high, per manager', 'A manager the others cannot reach; the reason '
                            'says whether quorum holds.', '7.1'),
    'quorum_lost': ('swarm', ('high',), 'high', 'No manager could read the swarm, or fewer than a majority are '
                    'reachable: the swarm accepts no change.', '7.1'),
    'managers_single': ('swarm', ('medium',), 'medium', 'One manager: no fault tolerance.', '7.1'),
    'managers_even': ('swarm', ('medium',), 'medium', 'An even number of managers tolerates no more failures than one '
                      'fewer.', '7.1'),
    'managers_many': ('swarm', ('low',), 'low', 'More than 7 managers.', '7.1'),
    'node_down': ('swarm', ('high',), 'high', 'The swarm sees the node as down.', None),
    'node_not_in_inventory': ('swarm', ('medium',), 'medium', 'A swarm member no inventory host matches.', None),
    'node_foreign_swarm': ('swarm', ('high',), 'high', 'An inventory host is active in another swarm.', None),
    'engine_version_skew': ('swarm', ('medium',), 'medium, per node off the common version', 'Mixed Docker Engine '
                            'versions.', None),
    'listen_all_interfaces': ('swarm', ('medium',), 'medium, per manager', 'TCP 2377 listens on 0.0.0.0 or ::.',
                              '7.2'),
    'autolock_off': ('swarm', ('low',), 'low', 'Autolock is off: the Raft data on a manager\'s disk is readable.',
                     '7.5'),
    'node_cert_expiry_long': ('swarm', ('low',), 'low', 'Node certificates are issued for more than '
                              'audit_node_cert_max_days.', '7.7'),
    'node_cert_expiring': ('swarm', ('high',), 'high', 'A node\'s certificate expires within 7 days.', '7.7'),
    'ca_old': ('swarm', ('low',), 'low', 'The root CA is older than audit_ca_max_age_days.', '7.8'),
    'data_path_shared': ('swarm', ('low',), 'low, once', 'The data path uses the management address.', '7.9'),
    'daemon_icc': ('daemon', ('low',), 'low', 'icc is on for the default bridge.', '2.2'),
    'daemon_userland_proxy': ('daemon', ('low',), 'low', 'The userland proxy is on.', '2.16'),
    'daemon_no_new_privileges': ('daemon', ('low',), 'low', 'no-new-privileges is off.', None),
    'daemon_log_rotation': ('daemon', ('low',), 'low', 'json-file logs without max-size.', None),
    'daemon_tcp_no_tls': ('daemon', ('high',), 'high', 'dockerd listens on tcp:// without tlsverify.', None),
    'docker_sock_open': ('daemon', ('high',), 'high', '/var/run/docker.sock is readable or writable by every user.',
                         '3.16'),
    'docker_sock_group': ('daemon', ('medium',), 'medium', 'The socket belongs to a group other than docker or root.',
                          '3.15'),
    'daemon_json_invalid': ('daemon', ('medium',), 'medium', 'daemon.json is not valid JSON.', None),
    'ingress_plain_published': ('service', ('medium',), 'medium, per service', 'Ports published in ingress mode while '
                                'the ingress network is plain.', '7.3'),
    'service_plain_cross_node': ('service', ('high', 'low'), 'high; low when the network is declared '
                                 'encrypted: false', 'A service with tasks on 2 or more nodes uses a plain overlay.',
                                 '7.3'),
    'service_env_secret': ('service', ('medium',), 'medium', 'An environment variable whose name looks like a secret.',
                           '7.4'),
    'service_root': ('service', ('low',), 'low', 'A task runs as root.', None),
    'service_image_mutable': ('service', ('medium', 'low'), 'medium for :latest or no tag, low for another tag',
                              'The image is not pinned by digest.', None),
    'probe_unreachable': ('probe', ('high',), 'high, per pair', 'The probe\'s task on one node could not reach the '
                          'one on the other over the encrypted network.', None),
    'probe_no_result': ('probe', ('medium',), 'medium', 'The probe\'s task on a node gave no answer.', None),
    'audit_failed': ('audit', ('high',), 'high', 'The node was not audited (unreachable, or the audit failed on it).',
                     None),
}


class UnknownFinding(ValueError):
    pass


def check(fid, severity):
    """Raise UnknownFinding when fid is not catalogued or cannot take this severity."""
    entry = CATALOGUE.get(fid)
    if entry is None:
        raise UnknownFinding('finding %r is not in the catalogue (plugins/module_utils/audit/findings.py)' % fid)
    if severity not in entry[1]:
        raise UnknownFinding('finding %r cannot be %s: the catalogue says %s' % (fid, severity, ' or '.join(entry[1])))
    return fid


def legend(ids):
    """{id: {part, rule, meaning, cis}} for the given ids, as the report's legend shows them."""
    return dict((fid, dict(zip(('part', 'rule', 'meaning', 'cis'), (CATALOGUE[fid][0],) + CATALOGUE[fid][2:])))
                for fid in sorted(set(ids)) if fid in CATALOGUE)


def markdown_table():
    """The table docs/audit.md carries between its findings markers."""
    lines = ['| Id | Judged on | Severity | Meaning | CIS |', '|----|-----------|----------|---------|-----|']
    order = [p for p, dummy in PARTS]
    for fid in sorted(CATALOGUE, key=lambda f: (order.index(CATALOGUE[f][0]), f)):
        part, dummy, rule, meaning, cis = CATALOGUE[fid]
        lines.append('| `%s` | %s | %s | %s | %s |' % (fid, part, rule, meaning, cis or ''))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    print(markdown_table(), end='')  # pylint: disable=ansible-bad-function  # a command for the docs, not a module
