# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node agent (audit/agent.py) on what the audit core read on the container lab (fixtures/agent/lab-*-result.json:
NodeAudit.collect() on a trixie lab's manager and worker, Docker 26.1, kernel 6.18 without ESP)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.ironclad.swarm.plugins.module_utils.audit import agent as audit_agent
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import cleartext as fence_cleartext
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import nftio as fence_nftio

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'agent')
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..'))


def recorded(node):
    with open(os.path.join(FIXTURES, 'lab-%s-result.json' % node)) as handle:
        return json.load(handle)


def config(tmp_path, **over):
    path = tmp_path / 'agent.json'
    path.write_text(json.dumps(dict({'textfile_dir': str(tmp_path), 'state_file': str(tmp_path / 'state.json')},
                                    **over)))
    return audit_agent.load_config(str(path))


def samples(metrics, tmp_path):
    audit_agent.write_metrics(str(tmp_path), metrics)
    text = (tmp_path / audit_agent.METRICS_FILE).read_text()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_the_agent_imports_nothing_from_ansible():
    """The agent runs on nodes with no Ansible: importing it with `ansible` unimportable must work."""
    code = ('import sys\n'
            'class Block:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name == "ansible" or name.startswith("ansible."):\n'
            '            raise ImportError("blocked: " + name)\n'
            'sys.meta_path.insert(0, Block())\n'
            'from ansible_collections.ironclad.swarm.plugins.module_utils.audit import agent, node\n'
            'print(sorted(m for m in sys.modules if m == "ansible" or m.startswith("ansible.")))\n')
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, '.build', 'collections'))
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'


@pytest.mark.parametrize('given, words', [
    ('{"interval": 0}', 'interval must be a positive whole number'),
    ('{"interval": "60"}', 'interval must be a positive whole number'),
    ('{"data_path_port": true}', 'data_path_port must be a positive whole number'),
    ('{"intervall": 60}', 'unknown setting(s) intervall'),
    ('[1]', 'expected a JSON object'),
    ('{', 'cannot read the settings file'),
])
def test_bad_settings_name_the_field(tmp_path, given, words):
    path = tmp_path / 'agent.json'
    path.write_text(given)
    with pytest.raises(audit_agent.AgentError) as caught:
        audit_agent.load_config(str(path))
    assert words in str(caught.value)


def test_settings_fill_in_defaults(tmp_path):
    loaded = config(tmp_path, firewall={'expect_table': False})
    assert loaded['interval'] == 60 and loaded['probe_interval'] == 3600
    assert loaded['firewall'] == {'expect_table': False, 'persist_file': '/etc/ironclad-swarm/firewall.json',
                                  'boot_unit': 'ironclad-swarm-firewall.service'}


def test_probe_at_boot_then_at_most_hourly():
    assert audit_agent.probe_due({}, 1000, 3600, 'boot-a') is True
    earlier = {'boot_id': 'boot-a', 'probe': {'time': 1000}}
    assert audit_agent.probe_due(earlier, 1000 + 3599, 3600, 'boot-a') is False
    assert audit_agent.probe_due(earlier, 1000 + 3600, 3600, 'boot-a') is True
    assert audit_agent.probe_due(earlier, 1001, 3600, 'boot-b') is True, 'a reboot probes again'


def test_manager_judges_the_swarm_as_the_audit_does(tmp_path):
    result = recorded('manager-1')
    findings, swarm = audit_agent.judge(config(tmp_path, manager=True), result)
    ids = sorted(f['id'] for f in findings)
    # One manager, no autolock, one interface, kernel without ESP or IPVS: what audit.yml says of this lab.
    assert ids == ['autolock_off', 'data_path_shared', 'kernel_no_aes_gcm', 'kernel_no_esp', 'kernel_no_ip_vs',
                   'managers_single']
    assert 'node_not_in_inventory' not in ids, 'the swarm stands in for the inventory: no member is a stranger'
    assert swarm['quorum'] == {'managers': 1, 'reachable': 1, 'majority': 1, 'holds': True, 'tolerates': 0}


def test_accepted_findings_are_left_out(tmp_path):
    findings, dummy = audit_agent.judge(config(tmp_path, settings={'accept': ['kernel_no_ip_vs']}), recorded('worker-1'))
    assert 'kernel_no_ip_vs' not in [f['id'] for f in findings]
    findings, dummy = audit_agent.judge(config(tmp_path), recorded('worker-1'))
    assert 'kernel_no_ip_vs' in [f['id'] for f in findings]


def test_metrics_of_a_healthy_worker(tmp_path):
    conf = config(tmp_path)
    result = recorded('worker-1')
    findings, swarm = audit_agent.judge(conf, result)
    found = samples(audit_agent.build_metrics(conf, result, findings, swarm, 100.0, 100.5, 100.5, 90.0), tmp_path)
    assert found['ironclad_swarm_fence_table_present'] == [({}, 1.0)]
    assert found['ironclad_swarm_fence_table_matches'] == [({}, 1.0)]
    assert found['ironclad_swarm_fence_boot_unit_enabled'] == [({}, 1.0)]
    assert found['ironclad_swarm_kernel_esp'] == [({}, 0.0)]
    assert found['ironclad_swarm_engine_up'] == [({}, 1.0)]
    assert found['ironclad_swarm_agent_run_duration_seconds'] == [({}, 0.5)]
    assert dict((k['severity'], v) for k, v in found['ironclad_swarm_findings']) == {'high': 0, 'medium': 3, 'low': 0}
    assert ({'counter': 'XfrmInNoStates'}, 0.0) in found['ironclad_swarm_xfrm_stat_total']
    (info,) = found['ironclad_swarm_node_info']
    assert info[0]['role'] == 'worker' and info[0]['address'] == result['node_address']
    assert 'ironclad_swarm_quorum' not in found, 'a worker does not read the swarm'


def test_faults_flip_their_metrics(tmp_path):
    conf = config(tmp_path, manager=True)
    result = copy.deepcopy(recorded('manager-1'))
    result['firewall']['fence'].update(table_present=False, table_matches=False, boot_unit='disabled',
                                       boot_unit_enabled=False)
    result['swarm_view']['view']['nodes'][1]['state'] = 'down'
    result['engine_error'] = 'Cannot connect to the Docker daemon'
    findings, swarm = audit_agent.judge(conf, result)
    found = samples(audit_agent.build_metrics(conf, result, findings, swarm, 1.0, 2.0, 2.0, None), tmp_path)
    assert found['ironclad_swarm_fence_table_present'] == [({}, 0.0)]
    assert found['ironclad_swarm_fence_table_matches'] == [({}, 0.0)]
    assert found['ironclad_swarm_fence_boot_unit_enabled'] == [({}, 0.0)]
    assert found['ironclad_swarm_engine_up'] == [({}, 0.0)]
    assert found['ironclad_swarm_nodes_down'] == [({}, 1.0)]
    assert ({'id': 'node_down', 'severity': 'high', 'network': '', 'peer': ''}, 1.0) in found['ironclad_swarm_finding']


def test_esp_sa_counters_carry_the_pair_as_src_and_dst(tmp_path):
    conf = config(tmp_path)
    result = copy.deepcopy(recorded('worker-1'))
    me, peer = result['node_address'], '172.18.0.2'
    result['xfrm']['sas'] = [
        {'src': me, 'dst': peer, 'spi': '0x0000a001', 'direction': 'out', 'bytes': 1200, 'packets': 10},
        {'src': peer, 'dst': me, 'spi': '0x0000b001', 'direction': 'in', 'bytes': 600, 'packets': 5}]
    found = samples(audit_agent.build_metrics(conf, result, [], None, 1.0, 2.0, 2.0, None), tmp_path)
    assert sorted(found['ironclad_swarm_esp_sa_packets_total'], key=lambda s: s[0]['direction']) == [
        ({'src': peer, 'dst': me, 'spi': '0x0000b001', 'direction': 'in'}, 5.0),
        ({'src': me, 'dst': peer, 'spi': '0x0000a001', 'direction': 'out'}, 10.0)]


def test_journal_says_what_appeared_and_cleared_and_nothing_else():
    a = {'id': 'table_missing', 'severity': 'high', 'node': 'w1', 'network': None, 'peer': None, 'reason': 'gone'}
    b = {'id': 'sa_in_missing', 'severity': 'high', 'node': 'w1', 'network': 'db', 'peer': '10.0.0.2', 'reason': 'x'}
    assert audit_agent.journal([a], [a]) == []
    lines = audit_agent.journal([a], [b])
    assert lines == ['<4>finding appeared: [high] sa_in_missing network=db peer=10.0.0.2: x',
                     '<5>finding cleared: [high] table_missing']
    assert audit_agent.journal(None, []) == []


def test_a_failed_run_keeps_the_last_success_and_says_why(tmp_path, monkeypatch):
    conf = config(tmp_path)
    (tmp_path / 'state.json').write_text(json.dumps({'last_success': 42.0, 'findings': [], 'boot_id': None,
                                                     'probe': {'time': 40.0}}))

    def refuse(self):
        raise audit_agent.AgentError('nft not found on the host: install nftables.')
    monkeypatch.setattr(audit_agent.NodeAudit, 'collect', refuse)
    ticks = iter([50.0, 51.0])
    state, metrics, lines = audit_agent.run_once(conf, now=lambda: next(ticks))
    assert state['error'] == 'nft not found on the host: install nftables.' and state['schema_version'] == 1
    assert state['last_success'] == 42.0 and lines == ['<3>run failed: nft not found on the host: install nftables.']
    found = samples(metrics, tmp_path)
    assert found['ironclad_swarm_agent_last_success_timestamp_seconds'] == [({}, 42.0)]
    assert found['ironclad_swarm_agent_last_run_timestamp_seconds'] == [({}, 51.0)]


def test_a_worker_judges_its_own_daemon_and_the_kernel_against_the_declaration(tmp_path):
    """Without the swarm's view a worker still makes the audit's host checks (the socket, the daemon) and lifts
    the kernel's findings to high when an encrypted network is declared, as audit.yml does."""
    result = copy.deepcopy(recorded('worker-1'))
    result['node_facts']['socket']['mode'] = '0666'
    findings, swarm = audit_agent.judge(config(tmp_path), result)
    assert swarm is None
    assert [f['severity'] for f in findings if f['id'] == 'docker_sock_open'] == ['high']
    assert [f['severity'] for f in findings if f['id'] == 'kernel_no_esp'] == ['medium']
    findings, dummy = audit_agent.judge(config(tmp_path, declared_networks=[{'name': 'db'}]), result)
    assert [f['severity'] for f in findings if f['id'] == 'kernel_no_esp'] == ['high']
    findings, dummy = audit_agent.judge(config(tmp_path, declared_networks=[{'name': 'web', 'encrypted': False}]), result)
    assert [f['severity'] for f in findings if f['id'] == 'kernel_no_esp'] == ['medium']


def test_cleartext_counts_become_one_series_per_network_and_direction(tmp_path):
    conf = config(tmp_path)
    result = copy.deepcopy(recorded('worker-1'))
    with open(os.path.join(FIXTURES, 'lab-fence-counted.json')) as handle:
        counts = fence_cleartext.cleartext_counts(fence_nftio.table_objects(fence_nftio.parse_ruleset(handle.read())))
    result['firewall']['cleartext'] = counts
    found = samples(audit_agent.build_metrics(conf, result, [], None, 1.0, 2.0, 2.0, None), tmp_path)
    series = dict(((labels['network'], labels['direction']), (labels['encrypted'], labels['vni'], value))
                  for labels, value in found['ironclad_swarm_cleartext_vxlan_packets_total'])
    assert series == dict(((c['network'], c['direction']), ('true' if c['encrypted'] else 'false', str(c['vni']),
                                                            float(c['packets']))) for c in counts)
    assert series[('lab-plain', 'in')][0] == 'false' and series[('lab-encrypted', 'out')][0] == 'true'


def test_docs_watch_lists_every_metric_the_agent_writes_and_every_alert(tmp_path):
    """docs/watch.md's metrics table against what build_metrics writes for a manager whose result has every
    reading (cleartext counts, a probe, the swarm), and its alerts table against the shipped rules."""
    import re
    import yaml
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
    with open(os.path.join(root, 'docs', 'watch.md')) as handle:
        doc = handle.read()
    section = doc[doc.index('## Metrics'):]
    section = section[:section.index('\n## ', 3)]
    documented = set()
    for row in re.findall(r'^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|', section, re.M):
        documented.update(name.strip('`') for name in row.split(', '))
    conf = config(tmp_path, manager=True)
    result = copy.deepcopy(recorded('manager-1'))
    with open(os.path.join(FIXTURES, 'lab-fence-counted.json')) as handle:
        result['firewall']['cleartext'] = fence_cleartext.cleartext_counts(fence_nftio.table_objects(fence_nftio.parse_ruleset(handle.read())))
    # The lab's kernel has no ESP: a peer's policy, SAs and Docker's drop as a kernel with ESP shows them.
    peer = '172.18.0.3'
    result['networks'] = [{'name': 'lab-encrypted', 'peers': [
        {'address': peer, 'policy': True, 'spis_out': ['0x0000a001'], 'spis_in': ['0x0000b001']}]}]
    result['xfrm']['sas'] = [
        {'src': result['node_address'], 'dst': peer, 'spi': '0x0000a001', 'direction': 'out', 'bytes': 1, 'packets': 1}]
    result['firewall']['fence']['vxlan_cleartext_drop'] = True
    findings, swarm = audit_agent.judge(conf, result)
    written = samples(audit_agent.build_metrics(conf, result, findings, swarm, 1.0, 2.0, 2.0, 1.5), tmp_path)
    names = set(name[len('ironclad_swarm_'):] for name in written)
    assert names == documented, ('written, not documented: %s; documented, not written: %s'
                                 % (sorted(names - documented), sorted(documented - names)))
    with open(os.path.join(root, 'roles', 'watch', 'files', 'ironclad-swarm-alerts.yml')) as handle:
        alerts = set(rule['alert'] for group in yaml.safe_load(handle)['groups'] for rule in group['rules'])
    listed = set(re.findall(r'^\| `(IroncladSwarm[A-Za-z]+)` \|', doc, re.M))
    assert alerts == listed
