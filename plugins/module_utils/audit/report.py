# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
"""The audit report's data, built on the controller from every node's ipsec_audit result.

What the audit role's template used to work out in Jinja is here, where unit tests see it: the findings
gathered from every node, the node x node matrix of each encrypted network (with the firewall's checks
matched to peers by address, not by label text), the checks that need both ends of a pair (SPI agreement
and ESP counters, which no single node can judge), and the swarm-wide judgement (audit/rules.py). The
templates only render the result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ironclad.swarm.plugins.module_utils.audit.rules import SEVERITIES, SwarmJudge
# The pair check's thresholds live beside the rule that names them.
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.findings import (
    BLACK_HOLE_PACKETS, COMPARABLE_SECONDS, check as catalogued, legend)

SCHEMA_VERSION = 1


def _sas(result):
    """The node's swarm SAs (ipsec_audit's xfrm.sas), or None when the node's xfrm could not be read."""
    xfrm = (result or {}).get('xfrm') or {}
    if 'sas' not in xfrm or (result or {}).get('findings') is None:
        return None
    if any(f.get('id') == 'xfrm_unreadable' for f in result['findings']):
        return None
    return xfrm['sas'] or []


def shared_networks(result, peer_address):
    """Names of the encrypted networks on which this node lists the peer."""
    return sorted(n['name'] for n in (result or {}).get('networks') or []
                  if any(p.get('address') == peer_address for p in n.get('peers') or []))


def comparable(sent, received):
    """True when the receiver's SA has counted for as long as the sender's (give or take COMPARABLE_SECONDS),
    or when either SA's add time is unknown (an older ipsec_audit, ip without -s)."""
    if sent.get('added') is None or received.get('added') is None:
        return True
    return received['added'] - sent['added'] <= COMPARABLE_SECONDS


def pair_findings(nodes):
    """Findings that need both ends of a pair. nodes: [(host, ipsec_audit result)].

    spi_mismatch: a node sends to a peer with an SPI the peer has no inbound SA for (moby#51798: engines
    that compute SPIs differently). esp_black_hole: the SPIs agree, the sender's SA has carried packets and
    the receiver's has received none, over a time both SAs existed (comparable()). Both are reported on the sender,
    once per shared encrypted network.
    """
    by_address = dict(((r or {}).get('node_address'), (h, r)) for h, r in nodes if (r or {}).get('node_address'))
    findings = []
    for host, result in nodes:
        for sa in _sas(result) or []:
            if sa.get('direction') != 'out' or sa.get('dst') not in by_address:
                continue
            peer_host, peer_result = by_address[sa['dst']]
            inbound = [s for s in _sas(peer_result) or [] if s.get('direction') == 'in' and s.get('src') == sa['src']]
            if not inbound:
                continue  # no SA in at all: the peer's own sa_in_missing says so
            same = [s for s in inbound if s.get('spi') == sa.get('spi')]
            if not same:
                fid, reason = catalogued('spi_mismatch', 'high'), (
                    '%s sends to %s with SPI %s, but %s has no inbound SA with that SPI (it has %s): every packet from '
                    '%s to %s on encrypted network %%s is dropped on arrival (XfrmInNoStates rises there). Engines '
                    'that derive SPIs differently do this (moby#51798); run the same Docker Engine version on both, '
                    'then restart the tasks or run site.yml.' % (host, peer_host, sa['spi'], peer_host,
                                                                 ', '.join(sorted(s['spi'] for s in inbound)),
                                                                 host, peer_host))
            elif ((sa.get('packets') or 0) >= BLACK_HOLE_PACKETS and all(not s.get('packets') for s in same)
                  and all(comparable(sa, s) for s in same)):
                fid, reason = catalogued('esp_black_hole', 'high'), (
                    '%s has sent %d ESP packets to %s with SPI %s, and %s has received none with it: encrypted traffic '
                    'on network %%s is lost on the way. Check that IP protocol 50 is admitted between the two (cloud '
                    'firewall, hosting provider, the nodes\' own rules).'
                    % (host, sa['packets'], peer_host, sa['spi'], peer_host))
            else:
                continue
            for network in shared_networks(result, sa['dst']):
                findings.append({'id': fid, 'severity': 'high', 'node': host, 'peer': sa['dst'],
                                 'network': network, 'source': 'ipsec_audit', 'spi': sa['spi'],
                                 'reason': reason % network})
    return findings


def node_findings(host, result):
    """One node's findings as the report lists them: ipsec_audit's, then its firewall audit's, named by host."""
    return ([dict(f, node=host, source='ipsec_audit') for f in result['findings']]
            + [dict(dict({'peer': None, 'network': None}, **f), node=host, source='firewall_audit')
               for f in (result.get('firewall') or {}).get('findings') or []])


def _check(checks, flow, peer):
    """The firewall's verdict for one flow from one peer (True, False, None), or None when not checked."""
    for check in checks or []:
        if check.get('flow') == flow and check.get('peer') == peer:
            return check.get('accepted')
    return None


def build_matrices(hosts, results, probe, pairs):
    """Per encrypted network, one row per host, one cell per other host."""
    names = []
    for host in hosts:
        for net in (results.get(host) or {}).get('networks') or []:
            if net['name'] not in names:
                names.append(net['name'])
    broken = dict(((f['node'], f['peer'], f['network']), f) for f in pairs)
    matrices = []
    for name in sorted(names):
        rows = []
        for row in hosts:
            rv = results.get(row) or {}
            rnet = next((n for n in rv.get('networks') or [] if n['name'] == name), {})
            checks = (rv.get('firewall') or {}).get('checks')
            cells = []
            for col in hosts:
                cv = results.get(col) or {}
                cnet = next((n for n in cv.get('networks') or [] if n['name'] == name), {})
                addr = cv.get('node_address')
                if row == col:
                    cells.append({'peer': col, 'self': True})
                    continue
                if not rnet.get('joined') or not cnet.get('joined'):
                    cells.append({'peer': col, 'status': 'not joined', 'ok': None})
                    continue
                pair = next((p for p in rnet.get('peers') or [] if p.get('address') == addr), None)
                fw_esp = None if checks is None else _check(checks, 'esp', addr)
                fw_data = None if checks is None else _check(checks, 'data_path', addr)
                reached = ((probe or {}).get(name) or {}).get(row, {}).get(col)
                if pair is None:
                    cells.append({'peer': col, 'status': 'peer not listed by the engine', 'ok': False, 'fw_esp': fw_esp,
                                  'fw_data': fw_data, 'probe': reached})
                    continue
                fault = broken.get((row, addr, name))
                status = pair['status']
                if fault is not None:
                    status = {'spi_mismatch': 'SPI %s unknown to the peer', 'esp_black_hole': 'SPI %s: sent, never '
                              'received'}[fault['id']] % fault['spi'] + ('' if status == 'ok' else '; ' + status)
                ok = (pair['policy'] and pair['sa_out'] and pair['sa_in'] and fw_esp is not False
                      and fw_data is not False and reached is not False and fault is None)
                cells.append({'peer': col, 'status': status, 'ok': ok, 'policy': pair['policy'],
                              'sa_out': pair['sa_out'], 'sa_in': pair['sa_in'], 'spis_out': pair['spis_out'],
                              'spis_in': pair['spis_in'], 'bytes_out': pair['bytes_out'], 'bytes_in': pair['bytes_in'],
                              'fw_esp': fw_esp, 'fw_data': fw_data, 'probe': reached})
            rows.append({'node': row, 'address': rv.get('node_address'), 'status': rnet.get('status', 'not joined'),
                         'cells': cells})
        matrices.append({'network': name, 'rows': rows, 'live': None})
    return matrices


def report_data(hosts, results, managers, names=None, probe=None, probe_findings=None, probe_status='not run',
                declared=None, settings=None):
    """The audit report (docs/audit.md, "The JSON report").

    hosts: the audited inventory hosts in order; results: {host: its ipsec_audit result ({} or a failed
    result without findings when it did not run)}; managers: the hosts of the managers group; names:
    {host: [other names and addresses]}; probe: {network: {row: {col: bool}}} from the active probe.
    """
    names = names or {}
    address_of = dict((h, (results.get(h) or {}).get('node_address')) for h in hosts)
    host_at = dict((a, h) for h, a in address_of.items() if a)
    findings = []
    for host in hosts:
        result = results.get(host) or {}
        if result.get('findings') is None:
            findings.append({'id': catalogued('audit_failed', 'high'), 'severity': 'high', 'node': host, 'peer': None, 'network': None,
                             'source': 'ipsec_audit', 'reason': 'The IPsec audit did not run on this host: %s'
                             % (result.get('msg') or 'host unreachable or failed earlier')})
            continue
        findings += node_findings(host, result)
    pairs = pair_findings([(h, results.get(h)) for h in hosts])
    findings += pairs
    matrices = build_matrices(hosts, results, probe, pairs)
    findings += list(probe_findings or [])

    entries, reader = [], None
    for host in hosts:
        result = results.get(host) or {}
        entries.append({'host': host, 'role': 'manager' if host in managers else 'worker',
                        'names': [host] + list(names.get(host) or []),
                        'result': result if result.get('findings') is not None else None})
        swarm = result.get('swarm_view') or {}
        if reader is None and swarm.get('view') and swarm['view'].get('control') and not swarm.get('error'):
            reader = (host, swarm['view'], None)
    if reader is None:
        reader = next(((h, (results[h].get('swarm_view') or {}).get('view'), (results[h].get('swarm_view') or {}).get('error'))
                       for h in hosts if 'view' in ((results.get(h) or {}).get('swarm_view') or {})), (None, None, None))
    judged = SwarmJudge(entries, reader[1] or None, reader[0], reader[2] or None, declared or [], settings or {}).run(findings)

    named = []
    for f in judged['findings']:
        if f.get('peer') is not None and f['peer'] in host_at:
            f = dict(f, peer=host_at[f['peer']], peer_address=f['peer'])
        elif f.get('peer') is not None:
            f = dict(f, peer_address=address_of.get(f['peer']))
        named.append(f)
    ordered = [f for severity in reversed(SEVERITIES) for f in named if f['severity'] == severity]
    live = dict((n['name'], n['live']) for n in judged['networks'])
    for matrix in matrices:
        matrix['live'] = live.get(matrix['network'], 'absent')
    return {
        'schema_version': SCHEMA_VERSION,
        'hosts': hosts,
        'networks': [m['network'] for m in matrices],
        'matrices': matrices,
        'findings': ordered,
        'network_table': judged['networks'],
        'accepted': judged['accepted'],
        'services': judged['services'],
        'swarm': judged['swarm'],
        'summary': dict((s, len([f for f in ordered if f['severity'] == s])) for s in SEVERITIES),
        'probe': probe_status,
        'legend': legend(f['id'] for f in ordered + judged['accepted']),
        'kernels': dict((h, (results.get(h) or {}).get('kernel') or {}) for h in hosts),
    }
