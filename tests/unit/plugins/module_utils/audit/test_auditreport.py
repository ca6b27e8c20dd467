# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit report built in Python (audit/report.py) on what Docker 26.1 programmed on the trixie VM lab
(fixtures/xfrm/trixie: three VMs with real ESP SAs, network vm-enc), with the faults of issue 18 injected into
the recorded SAs: one SA's SPI changed on the receiver (moby#51798), and packets sent that never arrive."""

from __future__ import annotations

import copy
import json
import os
import sys
import time

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.audit import agent as audit_agent
from ansible_collections.ironclad.swarm.plugins.module_utils.audit import report as audit_report
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import xfrm as overlay_xfrm
from ansible_collections.ironclad.swarm.plugins.module_utils.audit import node as audit_node

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'watch'))
import alerts_on  # noqa: E402  pylint: disable=wrong-import-position

XFRM = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'xfrm', 'trixie')
VMS = {'vm1': '192.0.2.11', 'vm2': '192.0.2.12', 'vm3': '192.0.2.13'}
KERNEL = {'esp': True, 'aes_gcm': True, 'probe': 'an ESP SA with rfc4106(gcm(aes)) was accepted', 'modules': {}}


def recorded(name):
    with open(os.path.join(XFRM, name)) as handle:
        return handle.read()


def vm_states(node):
    return overlay_xfrm.parse_xfrm_states(recorded('%s-docker-state-s.txt' % node))


def result(node, states=None):
    """What ipsec_audit returns for one VM (the parts the report reads)."""
    states = vm_states(node) if states is None else states
    policies = overlay_xfrm.parse_xfrm_policies(recorded('%s-docker-policy.txt' % node))
    network = json.loads(recorded('%s-docker-network-vm-enc.json' % node))[0]
    audit = audit_node.IpsecAudit(node, VMS[node], KERNEL, [('vm-enc', network)], policies, states, 4789)
    report, findings = audit.run()
    return {'node': node, 'node_address': VMS[node], 'networks': report, 'findings': findings, 'kernel': KERNEL,
            'xfrm': {'sas': audit.swarm_sas(report)}, 'swarm': {'state': 'active'}}


def build(results):
    return audit_report.report_data(sorted(VMS), results, ['vm1'])


def out_spi(results, sender, receiver):
    (sa,) = [s for s in results[sender]['xfrm']['sas'] if s['direction'] == 'out' and s['dst'] == VMS[receiver]]
    return int(sa['spi'], 16)


@pytest.fixture
def healthy():
    return dict((node, result(node)) for node in VMS)


def test_the_healthy_vm_lab_has_no_pair_finding_and_every_cell_ok(healthy):
    report = build(healthy)
    assert audit_report.pair_findings(sorted(healthy.items())) == []
    assert report['schema_version'] == 1 and report['networks'] == ['vm-enc']
    (matrix,) = report['matrices']
    cells = [c for row in matrix['rows'] for c in row['cells'] if not c.get('self')]
    assert len(cells) == 6 and all(c['ok'] and c['status'] == 'ok' for c in cells)


def test_an_spi_the_receiver_does_not_know_is_a_mismatch_on_that_pair_only(healthy):
    """The fault tried on the VM lab: vm2's inbound SA from vm3 replaced by the same key under another SPI."""
    spi = out_spi(healthy, 'vm3', 'vm2')
    states = [dict(s, spi=0x0badf00d) if (s['src'], s['dst'], s['spi']) == (VMS['vm3'], VMS['vm2'], spi) else s
              for s in vm_states('vm2')]
    faulty = dict(healthy, vm2=result('vm2', states))
    assert faulty['vm2']['findings'] == [], 'vm2 alone still has an SA in from vm3: no single node can see this'
    report = build(faulty)
    pairs = [f for f in report['findings'] if f['id'] in ('spi_mismatch', 'esp_black_hole')]
    assert [(f['id'], f['severity'], f['node'], f['peer'], f['network']) for f in pairs] == [
        ('spi_mismatch', 'high', 'vm3', 'vm2', 'vm-enc')]
    assert pairs[0]['peer_address'] == VMS['vm2'] and '0x%08x' % spi in pairs[0]['reason']
    assert 'moby#51798' in pairs[0]['reason']
    rows = dict((r['node'], dict((c['peer'], c) for c in r['cells'])) for r in report['matrices'][0]['rows'])
    assert rows['vm3']['vm2']['ok'] is False and 'unknown to the peer' in rows['vm3']['vm2']['status']
    assert rows['vm2']['vm3']['ok'] is True and rows['vm1']['vm2']['ok'] is True
    # The HTML legend comes from the catalogue, for the ids the report holds.
    assert report['legend']['spi_mismatch']['part'] == 'pair' and 'moby#51798' in report['legend']['spi_mismatch']['meaning']
    assert set(report['legend']) == set(f['id'] for f in report['findings'])


def test_packets_sent_and_never_received_are_a_black_hole(healthy):
    spi = out_spi(healthy, 'vm1', 'vm3')
    sent = [dict(s, packets=250, bytes=30000) if (s['dst'], s['spi']) == (VMS['vm3'], spi) else s
            for s in vm_states('vm1')]
    faulty = dict(healthy, vm1=result('vm1', sent))
    pairs = audit_report.pair_findings(sorted(faulty.items()))
    assert [(f['id'], f['node'], f['peer']) for f in pairs] == [('esp_black_hole', 'vm1', VMS['vm3'])]
    assert 'IP protocol 50' in pairs[0]['reason']
    # The same packets counted on arrival: no finding.
    received = [dict(s, packets=250) if (s['src'], s['spi']) == (VMS['vm1'], spi) else s for s in vm_states('vm3')]
    faulty['vm3'] = result('vm3', received)
    assert audit_report.pair_findings(sorted(faulty.items())) == []
    # Below the threshold: a few packets in flight are not a black hole.
    few = [dict(s, packets=audit_report.BLACK_HOLE_PACKETS - 1) if (s['dst'], s['spi']) == (VMS['vm3'], spi) else s
           for s in vm_states('vm1')]
    assert audit_report.pair_findings(sorted(dict(healthy, vm1=result('vm1', few)).items())) == []


def test_a_receiver_whose_sa_is_new_after_a_reboot_is_no_black_hole(healthy):
    """What the VM lab's rolling reboot did: vm2 rebooted, Docker put the same SPIs back on it, so vm2's inbound
    SA from vm1 counts from 0 while vm1's out SA keeps its count from before the reboot."""
    spi = out_spi(healthy, 'vm1', 'vm2')
    (sender,) = [s for s in vm_states('vm1') if (s['dst'], s['spi']) == (VMS['vm2'], spi)]
    sent = [dict(s, packets=4000, bytes=600000) if (s['dst'], s['spi']) == (VMS['vm2'], spi) else s
            for s in vm_states('vm1')]
    reboot = sender['added'] + 900

    def rebooted(offset):
        return [dict(s, added=reboot + offset, packets=0, bytes=0) if s['dst'] == VMS['vm2'] else s
                for s in vm_states('vm2')]

    results = dict(healthy, vm1=result('vm1', sent), vm2=result('vm2', rebooted(0)))
    assert audit_report.pair_findings(sorted(results.items())) == []
    # The same counters when vm2's SA is as old as vm1's (within the minute both ends of a pair are added in):
    # a black hole.
    results['vm2'] = result('vm2', rebooted(-900 + audit_report.COMPARABLE_SECONDS))
    found = audit_report.pair_findings(sorted(results.items()))
    assert [(f['id'], f['node'], f['peer'], f['spi']) for f in found] == [('esp_black_hole', 'vm1', VMS['vm2'], '0x%08x' % spi)]
    # A result without add times (an older ipsec_audit) is judged as before.
    results['vm2'] = result('vm2', [dict(s, added=None) for s in rebooted(0)])
    assert [f['id'] for f in audit_report.pair_findings(sorted(results.items()))] == ['esp_black_hole']
    # The recorded pairs were added up to 19 s apart when the swarm formed: well inside the window.
    gaps = [r['added'] - s['added'] for s in sum((healthy[n]['xfrm']['sas'] for n in VMS), [])
            for r in sum((healthy[n]['xfrm']['sas'] for n in VMS), [])
            if s['direction'] == 'out' and r['direction'] == 'in' and (r['src'], r['dst'], r['spi']) == (s['src'], s['dst'], s['spi'])]
    assert len(gaps) == 6 and max(abs(g) for g in gaps) < audit_report.COMPARABLE_SECONDS, gaps


def test_a_node_not_audited_is_named_and_judges_no_pair(healthy):
    results = dict(healthy, vm2={'msg': 'unreachable'})
    report = build(results)
    assert ('audit_failed', 'vm2') in [(f['id'], f['node']) for f in report['findings']]
    assert not [f for f in report['findings'] if f['id'] in ('spi_mismatch', 'esp_black_hole')]
    assert report['kernels']['vm2'] == {}


def test_firewall_checks_are_matched_to_peers_by_flow_and_address(healthy):
    results = copy.deepcopy(healthy)
    results['vm1']['firewall'] = {'findings': [], 'checks': [
        {'flow': 'esp', 'peer': VMS['vm2'], 'accepted': False, 'check': 'ESP (IP protocol 50) from peer 192.0.2.12'},
        {'flow': 'data_path', 'peer': VMS['vm2'], 'accepted': True, 'check': 'UDP 4789 from peer 192.0.2.12'},
        {'flow': 'esp', 'peer': VMS['vm3'], 'accepted': True, 'check': 'ESP (IP protocol 50) from peer 192.0.2.13'}]}
    rows = dict((r['node'], dict((c['peer'], c) for c in r['cells'])) for r in build(results)['matrices'][0]['rows'])
    assert (rows['vm1']['vm2']['fw_esp'], rows['vm1']['vm2']['fw_data'], rows['vm1']['vm2']['ok']) == (False, True, False)
    assert (rows['vm1']['vm3']['fw_esp'], rows['vm1']['vm3']['fw_data'], rows['vm1']['vm3']['ok']) == (True, None, True)
    assert rows['vm2']['vm1']['fw_esp'] is None, 'vm2 has no firewall result: not checked'


def agent_texts(results, tmp_path):
    """The metrics file each VM's agent writes for these readings (as audit_agent.run_once builds it)."""
    (tmp_path / 'agent.json').write_text(json.dumps({'textfile_dir': str(tmp_path), 'state_file': str(tmp_path / 's')}))
    config = audit_agent.load_config(str(tmp_path / 'agent.json'))
    texts = {}
    for node, res in sorted(results.items()):
        now = time.time()
        audit_agent.write_metrics(str(tmp_path), audit_agent.build_metrics(config, res, res['findings'], None, now - 1, now, now,
                                                                           None))
        texts[node] = (tmp_path / audit_agent.METRICS_FILE).read_text()
    return texts


def test_the_alert_rules_on_the_agents_metrics_name_the_spi_mismatch_and_nothing_else(healthy, tmp_path, promtool):
    """Where both nodes' series meet (Prometheus), the SPI mismatch that no single node can see is an alert; the
    healthy VM lab raises none. promtool (Debian's prometheus) evaluates the shipped rules on the metrics the agent
    writes for the recorded SAs."""
    ok, said = alerts_on.expect_firing(agent_texts(healthy, tmp_path), [], promtool=promtool)
    assert ok, said
    spi = out_spi(healthy, 'vm3', 'vm2')
    states = [dict(s, spi=0x0badf00d) if (s['src'], s['dst'], s['spi']) == (VMS['vm3'], VMS['vm2'], spi) else s
              for s in vm_states('vm2')]
    ok, said = alerts_on.expect_firing(agent_texts(dict(healthy, vm2=result('vm2', states)), tmp_path),
                                       ['IroncladSwarmSpiMismatch'])
    assert ok, said


def test_the_black_hole_alert_needs_the_senders_counter_to_rise_and_the_receivers_to_stand_still(healthy, tmp_path,
                                                                                                 promtool):
    """Two readings of each VM's agent, a minute's worth of traffic apart (alerts_on ramps each counter from its
    first reading to its second): when vm1's out SA to vm3 gains 600 packets and vm3's matching in SA the same,
    nothing fires; when vm3's stands still, IroncladSwarmEspBlackHole does, and only it."""
    spi = out_spi(healthy, 'vm1', 'vm3')

    def plus(node, key, more):
        return result(node, [dict(s, packets=(s.get('packets') or 0) + more) if (s['src'], s['dst'], s['spi']) == key
                             else s for s in vm_states(node)])
    key = (VMS['vm1'], VMS['vm3'], spi)
    before = agent_texts(healthy, tmp_path)
    sent = agent_texts(dict(healthy, vm1=plus('vm1', key, 600)), tmp_path)
    both = agent_texts(dict(healthy, vm1=plus('vm1', key, 600), vm3=plus('vm3', key, 600)), tmp_path)
    ok, said = alerts_on.expect_firing(dict((n, (before[n], both[n])) for n in VMS), [])
    assert ok, said
    ok, said = alerts_on.expect_firing(dict((n, (before[n], sent[n])) for n in VMS), ['IroncladSwarmEspBlackHole'])
    assert ok, said
    # What the VM scenario reads on live agents: the set of alerts that fire.
    assert alerts_on.firing(dict((n, (before[n], sent[n])) for n in VMS)) == {'IroncladSwarmEspBlackHole'}
    assert alerts_on.firing(dict((n, (before[n], both[n])) for n in VMS)) == set()
