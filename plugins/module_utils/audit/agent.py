# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
"""The node agent: one run of the audit core (audit/node.py) on this node, outside Ansible.

The watch role copies plugins/module_utils to the node and starts this from a systemd timer:

    PYTHONPATH=/usr/local/lib/ironclad-swarm \\
        python3 -m ansible_collections.ironclad.swarm.plugins.module_utils.audit.agent --config /etc/ironclad-swarm/agent.json

Each run reads what ipsec_audit reads (the same code), on a manager judges the swarm as the audit role
does (SwarmJudge of audit/rules.py, with the swarm's own node list standing in for the inventory), then writes
node_exporter's textfile (atomically), a JSON state file and one journal line per finding that appears
or clears. It writes nothing else: no xfrm, nft or Docker change. The kernel probe (a throwaway SA in a
network namespace) runs at the first run after boot and then at most every probe_interval seconds.
Needs only Debian's python3, python3-docker and python3-prometheus-client; nothing from Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ansible_collections.ironclad.swarm.plugins.module_utils.audit.rules import SEVERITIES, SwarmJudge
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.report import node_findings
from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import read_json
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.audit_module import FIREWALL_ARGUMENT_SPEC, cleartext_baseline
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.node import NodeAudit

SCHEMA_VERSION = 1
PREFIX = 'ironclad_swarm_'
METRICS_FILE = 'ironclad_swarm.prom'
BOOT_ID = '/proc/sys/kernel/random/boot_id'
DEFAULTS = {
    'interval': 60,
    'probe_interval': 3600,
    'textfile_dir': '/var/lib/prometheus/node-exporter',
    'state_file': '/var/lib/ironclad-swarm/agent-state.json',
    'data_path_port': 4789,
    'firewall': {'expect_table': True, 'persist_file': '/etc/ironclad-swarm/firewall.json',
                 'boot_unit': 'ironclad-swarm-firewall.service'},
    'manager': False,
    'declared_networks': [],
    'settings': {},
    'docker_host': 'unix:///var/run/docker.sock',
    'timeout': 30,
}


class AgentError(Exception):
    """What the audit core would have failed the module with."""


class LocalHost(object):
    """What the audit core needs of an AnsibleModule, on the node itself: run tools, find them, warn, fail."""

    check_mode = True  # the agent changes nothing; the core asks only to be sure

    def __init__(self, params):
        self.params = params
        self.warnings = []

    def get_bin_path(self, name, opt_dirs=None, required=False):
        path = os.pathsep.join([os.environ.get('PATH', '/usr/bin:/bin')] + list(opt_dirs or []))
        return shutil.which(name, path=path)

    def run_command(self, argv, **kwargs):
        try:
            # There is no AnsibleModule on the node: this is the agent's own run_command.
            data = kwargs.get('data')
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,  # pylint: disable=ansible-bad-function
                                  check=False, input=data.encode('utf-8') if data is not None else None)
        except (OSError, subprocess.TimeoutExpired) as error:
            return 127, '', str(error)
        return done.returncode, done.stdout.decode('utf-8', 'replace'), done.stderr.decode('utf-8', 'replace')

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **kwargs):
        raise AgentError(kwargs.get('msg', 'failed'))


def load_config(path):
    """The settings file merged over DEFAULTS; AgentError naming the field when a value is wrong."""
    try:
        with open(path) as handle:
            given = json.load(handle)
    except (IOError, OSError, ValueError) as error:
        raise AgentError('cannot read the settings file %s: %s' % (path, error))
    if not isinstance(given, dict):
        raise AgentError('%s: expected a JSON object' % path)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise AgentError('%s: unknown setting(s) %s; known: %s' % (path, ', '.join(unknown), ', '.join(sorted(DEFAULTS))))
    config = dict(DEFAULTS, **given)
    config['firewall'] = dict(DEFAULTS['firewall'], **(given.get('firewall') or {}))
    for key in ('interval', 'probe_interval', 'data_path_port', 'timeout'):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise AgentError('%s: %s must be a positive whole number, not %r' % (path, key, config[key]))
    return config


def write_json(path, data):
    """Replace path with data through a temporary file in the same directory (a reader never sees half)."""
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.agent-state.')
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write('\n')
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def boot_id():
    try:
        with open(BOOT_ID) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def probe_due(previous, now, interval, this_boot):
    """The kernel probe runs at the first run after boot, then at most every interval seconds."""
    probe = (previous or {}).get('probe') or {}
    if not probe.get('time') or (previous or {}).get('boot_id') != this_boot:
        return True
    return now - probe['time'] >= interval


def finding_key(finding):
    return '|'.join('%s' % (finding.get(k) or '') for k in ('id', 'node', 'network', 'peer', 'service'))


def swarm_hosts(node, result):
    """The audit role's host list, for a judge run on one node: the swarm's own members stand in for the
    inventory (the agent knows no inventory), and only this node has a result."""
    view = ((result.get('swarm_view') or {}).get('view') or {})
    me = (result.get('swarm') or {}).get('node_id')
    hosts = []
    for member in view.get('nodes') or []:
        own = member.get('id') == me
        hosts.append({'host': node if own else member.get('hostname'), 'role': member.get('role') or 'worker',
                      'names': [member.get('hostname'), member.get('address')], 'result': result if own else None})
    if not any(h['result'] is not None for h in hosts):
        hosts.append({'host': node, 'role': 'manager', 'names': [node, result.get('node_address')], 'result': result})
    return hosts


def judge(config, result):
    """Every finding of this run: the node's own and its firewall's, and on a manager the swarm's."""
    node = result['node']
    own = node_findings(node, result)
    settings = dict(config['settings'])
    if not config['manager']:
        me = [{'host': node, 'role': 'worker', 'names': [node, result.get('node_address')], 'result': result}]
        return SwarmJudge(me, None, node, None, config['declared_networks'], settings).run_host(own)['findings'], None
    swarm = result.get('swarm_view') or {}
    judged = SwarmJudge(swarm_hosts(node, result), swarm.get('view'), node, swarm.get('error'),
                        config['declared_networks'], settings).run(own)
    return judged['findings'], judged['swarm']


class Metrics(object):
    """The run's metrics as prometheus_client families (written with write_to_textfile)."""

    def __init__(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        self.gauge_type = GaugeMetricFamily
        self.counter_type = CounterMetricFamily
        self.families = {}

    def gauge(self, name, doc, labels=()):
        key = PREFIX + name
        if key not in self.families:
            self.families[key] = self.gauge_type(key, doc, labels=list(labels))
        return self.families[key]

    def counter(self, name, doc, labels=()):
        key = PREFIX + name
        if key not in self.families:
            self.families[key] = self.counter_type(key, doc, labels=list(labels))
        return self.families[key]

    def collect(self):
        return list(self.families.values())


def build_metrics(config, result, findings, swarm, started, ended, success, probe_time):
    m = Metrics()
    m.gauge('agent_last_run_timestamp_seconds', 'When the agent\'s last run ended.').add_metric([], ended)
    if success is not None:
        m.gauge('agent_last_success_timestamp_seconds', 'When the agent\'s last complete run ended.').add_metric(
            [], success)
    m.gauge('agent_interval_seconds', 'How often the agent runs.').add_metric([], config['interval'])
    m.gauge('agent_run_duration_seconds', 'Wall time of the agent\'s last run.').add_metric([], ended - started)
    if result is None:
        return m
    node_facts = result.get('node_facts') or {}
    m.gauge('node_info', 'This node: its swarm data-path address, role, engine and kernel.',
            ('node', 'address', 'role', 'engine_version', 'kernel')).add_metric(
        [result['node'], result.get('node_address') or '', 'manager' if config['manager'] else 'worker',
         '%s' % ((node_facts.get('daemon') or {}).get('server_version') or ''),
         '%s' % ((result.get('kernel') or {}).get('release') or '')], 1)
    m.gauge('engine_up', 'The Docker Engine answered.').add_metric([], 0 if result.get('engine_error') else 1)
    family = m.gauge('finding', 'A finding of this node\'s run (ids: docs/audit.md).',
                     ('id', 'severity', 'network', 'peer'))
    seen = set()
    for f in findings:
        labels = (f['id'], f['severity'], f.get('network') or '', f.get('peer') or '')
        if labels not in seen:
            seen.add(labels)
            family.add_metric(list(labels), 1)
    counts = m.gauge('findings', 'Findings of this node\'s run, per severity.', ('severity',))
    for severity in SEVERITIES:
        counts.add_metric([severity], len([f for f in findings if f['severity'] == severity]))
    policy = m.gauge('ipsec_policy', 'An out policy sends the data path to the peer through ESP.', ('network', 'peer'))
    sa = m.gauge('ipsec_sa', 'ESP SAs between this node and the peer, per direction.', ('network', 'peer', 'direction'))
    for net in result.get('networks') or []:
        for peer in net.get('peers') or []:
            policy.add_metric([net['name'], peer['address']], 1 if peer.get('policy') else 0)
            sa.add_metric([net['name'], peer['address'], 'out'], len(peer.get('spis_out') or []))
            sa.add_metric([net['name'], peer['address'], 'in'], len(peer.get('spis_in') or []))
    xfrm = result.get('xfrm') or {}
    sa_bytes = m.counter('esp_sa_bytes', 'Bytes through an ESP SA of the swarm.', ('src', 'dst', 'spi', 'direction'))
    sa_packets = m.counter('esp_sa_packets', 'Packets through an ESP SA of the swarm.', ('src', 'dst', 'spi', 'direction'))
    for item in xfrm.get('sas') or []:
        labels = [item['src'], item['dst'], item['spi'], item['direction']]
        sa_bytes.add_metric(labels, item.get('bytes') or 0)
        sa_packets.add_metric(labels, item.get('packets') or 0)
    if xfrm.get('stat') is not None:
        stat = m.counter('xfrm_stat', 'The kernel\'s xfrm counters (/proc/net/xfrm_stat).', ('counter',))
        for name, value in sorted(xfrm['stat'].items()):
            stat.add_metric([name], value)
    fence = (result.get('firewall') or {}).get('fence')
    if fence:
        for key, name, doc in (('table_present', 'fence_table_present', 'Table inet ironclad_swarm is loaded.'),
                               ('table_matches', 'fence_table_matches', 'The loaded fence is the one persisted.'),
                               ('boot_unit_enabled', 'fence_boot_unit_enabled', 'The fence is loaded at boot.'),
                               ('vxlan_cleartext_drop', 'vxlan_cleartext_drop',
                                'Cleartext VXLAN of the encrypted networks is dropped.')):
            if fence.get(key) is not None:
                m.gauge(name, doc).add_metric([], 1 if fence[key] else 0)
    cleartext = (result.get('firewall') or {}).get('cleartext')
    if cleartext is not None:
        family = m.counter('cleartext_vxlan_packets', 'VXLAN packets of an overlay network that arrived (in) or tried '
                           'to leave (out) outside IPsec; the fence drops them on an encrypted network.',
                           ('network', 'vni', 'direction', 'encrypted'))
        for count in cleartext:
            family.add_metric([count['network'], str(count['vni']), count['direction'],
                               'true' if count['encrypted'] else 'false'], count['packets'])
    kernel = result.get('kernel') or {}
    if kernel.get('esp') is not None or kernel.get('aes_gcm') is not None:
        m.gauge('kernel_esp', 'The kernel does ESP with AES-GCM (the last probe\'s verdict).').add_metric(
            [], 1 if kernel.get('esp') and kernel.get('aes_gcm') else 0)
    if probe_time:
        m.gauge('kernel_probe_timestamp_seconds', 'When the kernel probe last ran.').add_metric([], probe_time)
    quorum = (swarm or {}).get('quorum')
    if quorum:
        managers = m.gauge('managers', 'Managers in the Raft membership, and how many are reachable.', ('state',))
        managers.add_metric(['total'], quorum['managers'])
        managers.add_metric(['reachable'], quorum['reachable'])
        m.gauge('quorum', 'A majority of the managers is reachable.').add_metric([], 1 if quorum['holds'] else 0)
    elif config['manager'] and swarm is not None:
        m.gauge('quorum', 'A majority of the managers is reachable.').add_metric([], 0)
    if swarm is not None and swarm.get('nodes') is not None:
        m.gauge('nodes_down', 'Swarm nodes whose state is down.').add_metric(
            [], len([n for n in swarm['nodes'] if n.get('state') == 'down']))
    return m


def write_metrics(directory, metrics):
    from prometheus_client import CollectorRegistry, write_to_textfile

    class _Run(object):
        def collect(self):
            return metrics.collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Run())
    write_to_textfile(os.path.join(directory, METRICS_FILE), registry)


def journal(previous, findings):
    """Lines for the journal: a finding that appeared (warning) or cleared (notice); none when nothing changed."""
    before = dict((finding_key(f), f) for f in previous or [])
    now = dict((finding_key(f), f) for f in findings)
    lines = []
    for key in sorted(set(now) - set(before)):
        f = now[key]
        lines.append('<4>finding appeared: [%s] %s%s%s: %s' % (
            f['severity'], f['id'], ' network=%s' % f['network'] if f.get('network') else '',
            ' peer=%s' % f['peer'] if f.get('peer') else '', f.get('reason', '')))
    for key in sorted(set(before) - set(now)):
        f = before[key]
        lines.append('<5>finding cleared: [%s] %s%s%s' % (
            f['severity'], f['id'], ' network=%s' % f['network'] if f.get('network') else '',
            ' peer=%s' % f['peer'] if f.get('peer') else ''))
    return lines


def run_once(config, now=time.time, engine=None, kernel_state=None):
    """One run: returns (state, metrics, journal lines). Raises nothing for what the audit can report."""
    started = now()
    previous = read_json(config['state_file']) or {}
    this_boot = boot_id()
    probing = probe_due(previous, started, config['probe_interval'], this_boot)
    firewall = dict((k, config['firewall'].get(k, FIREWALL_ARGUMENT_SPEC[k].get('default')))
                    for k in ('expect_table', 'persist_file', 'boot_unit'))
    # Cleartext counted before this run is not news: only what the counters gained since is a finding.
    firewall['cleartext_baseline'] = cleartext_baseline(previous) or {}
    params = {'networks': [], 'data_path_port': config['data_path_port'], 'probe_kernel': probing,
              'node_checks': True, 'swarm_view': bool(config['manager']), 'fail_on': 'none',
              'docker_host': config['docker_host'], 'timeout': config['timeout'], 'firewall': firewall,
              'keep_cleartext_rules': True}
    host = LocalHost(params)
    probe = previous.get('probe') if not probing else None
    error = None
    result = findings = swarm = None
    try:
        audit = NodeAudit(host, kernel_state=kernel_state, engine=engine, probe=probe)
        result = audit.collect()
        findings, swarm = judge(config, result)
    except AgentError as failure:
        error = '%s' % failure
    ended = now()
    if probing and result is not None:
        kernel = result['kernel']
        probe = {'time': ended, 'esp': kernel.get('esp'), 'aes_gcm': kernel.get('aes_gcm'),
                 'detail': kernel.get('probe'), 'esp_detail': kernel.get('esp_detail'),
                 'aes_gcm_detail': kernel.get('aes_gcm_detail')}
    success = ended if error is None else previous.get('last_success')
    state = {
        'schema_version': SCHEMA_VERSION,
        'time': ended,
        'boot_id': this_boot,
        'last_success': success,
        'error': error,
        'warnings': host.warnings,
        'node': result and result['node'],
        'node_address': result and result.get('node_address'),
        'role': 'manager' if config['manager'] else 'worker',
        'probe': probe,
        'findings': findings if findings is not None else previous.get('findings') or [],
        'summary': dict((s, len([f for f in findings or [] if f['severity'] == s])) for s in SEVERITIES),
        'readings': None if result is None else {
            'engine_error': result.get('engine_error'), 'swarm': result.get('swarm'), 'kernel': result.get('kernel'),
            'networks': result.get('networks'), 'xfrm': result.get('xfrm'),
            'fence': (result.get('firewall') or {}).get('fence'), 'quorum': (swarm or {}).get('quorum'),
            'cleartext': (result.get('firewall') or {}).get('cleartext'),
            'cleartext_rules': result.get('cleartext_rules')},
    }
    metrics = build_metrics(config, result, findings or [], swarm, started, ended, success, (probe or {}).get('time'))
    lines = journal(previous.get('findings'), findings) if findings is not None else []
    if error:
        lines.append('<3>run failed: %s' % error)
    return state, metrics, lines


def main(argv=None):
    parser = argparse.ArgumentParser(description='ironclad.swarm node agent: one audit run, metrics and state out.')
    parser.add_argument('--config', default='/etc/ironclad-swarm/agent.json')
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except AgentError as error:
        print('<3>%s' % error)  # pylint: disable=ansible-bad-function  # the journal, through systemd
        return 2
    state, metrics, lines = run_once(config)
    for line in lines:
        print(line)  # pylint: disable=ansible-bad-function  # the journal, through systemd
    write_metrics(config['textfile_dir'], metrics)
    write_json(config['state_file'], state)
    return 1 if state['error'] else 0


if __name__ == '__main__':
    sys.exit(main())  # pylint: disable=ansible-bad-function  # the exit code of the systemd service
