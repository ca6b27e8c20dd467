# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's swarm-wide judgement on what the container lab recorded (Docker 26.1, trixie).

fixtures/swarm/docker-26.1-manager.json: the engine's raw answers on the lab's manager
(tests/tooling/record_swarm_view.py), environment values redacted. The lab had:
  acc-enc   a plain overlay (the fault "declared encrypted, replaced plain"), global service on-acc-enc (user 1000)
  acc-enc2  an encrypted overlay; db (2 replicas, DB_PASSWORD, API_TOKEN_FILE, LOG_LEVEL, -p 8080:80, root), app (user 1000)
  acc-plain a plain overlay not declared; global service web-plain (root)
fixtures/swarm/docker-26.1-nodes.json: ipsec_audit's result (node_checks on) on each of the three nodes.
"""

from __future__ import annotations

import copy
import datetime
import json
import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.filter.swarm_audit import swarm_audit_judge
from ansible_collections.ironclad.swarm.plugins.module_utils.audit import rules
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm import nodefacts
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.view import condense

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'swarm')
M1, W1, W2 = 'ironclad-lab-manager-1', 'ironclad-lab-worker-1', 'ironclad-lab-worker-2'
ALL = [M1, W1, W2]
DECLARED = [{'name': 'acc-enc'}, {'name': 'acc-enc2', 'encrypted': True}, {'name': 'acc-missing'},
            {'name': 'acc-decl-plain', 'encrypted': False}]
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


@pytest.fixture
def raw():
    return load('docker-26.1-manager.json')


@pytest.fixture
def view(raw):
    return condense(raw['info'], raw['swarm'], raw['nodes'], raw['networks'], raw['services'], raw['tasks'], raw['secrets'])


@pytest.fixture
def nodes():
    return load('docker-26.1-nodes.json')


def hosts_of(nodes, drop=()):
    return [{'host': h, 'role': 'manager' if 'manager' in h else 'worker', 'names': [h], 'result': nodes[h]}
            for h in ALL if h not in drop]


def judge(view, nodes, declared=None, findings=(), drop=(), settings=None, error=None, hosts=None):
    return rules.SwarmJudge(hosts if hosts is not None else hosts_of(nodes, drop), view, M1, error,
                            DECLARED if declared is None else declared,
                            settings or {}, now=NOW).run(list(findings))


def ids(result, **match):
    return sorted((f['id'], f['severity'], f.get('network') or f.get('service') or f['node'])
                  for f in result['findings'] if all(f.get(k) == v for k, v in match.items()))


def test_view_has_every_overlay_and_no_environment_value(raw, view):
    nets = dict((n['name'], n) for n in view['networks'])
    assert sorted(nets) == ['acc-enc', 'acc-enc2', 'acc-plain', 'ingress']
    assert [nets[n]['encrypted'] for n in ('acc-enc', 'acc-enc2', 'acc-plain', 'ingress')] == [False, True, False, False]
    assert sorted(nets['acc-plain']['nodes']) == ALL and nets['acc-plain']['services'] == ['web-plain']
    assert nets['ingress']['ingress'] is True
    db = [s for s in view['services'] if s['name'] == 'db'][0]
    assert db['env_names'] == ['API_TOKEN_FILE', 'DB_PASSWORD', 'LOG_LEVEL']
    assert db['ports'] == [{'published': 8080, 'target': 80, 'protocol': 'tcp', 'mode': 'ingress'}]
    assert sorted(db['nodes']) == [W1, W2] and db['networks'] == ['acc-enc2']
    assert '<redacted>' in json.dumps(raw) and '<redacted>' not in json.dumps(view)
    assert view['node_cert_expiry_s'] == 90 * 86400 and view['autolock'] is False


def test_recorded_lab_verdict(view, nodes):
    result = judge(view, nodes)
    assert ids(result) == sorted([
        ('network_not_encrypted', 'high', 'acc-enc'),
        ('network_missing', 'medium', 'acc-missing'),
        ('network_missing', 'medium', 'acc-decl-plain'),
        ('network_undeclared', 'high', 'acc-plain'),
        ('service_plain_cross_node', 'high', 'acc-enc'),
        ('service_plain_cross_node', 'high', 'acc-plain'),
        ('service_env_secret', 'medium', 'db'),
        ('service_root', 'low', 'db'), ('service_root', 'low', 'web-plain'),
        ('service_image_mutable', 'low', 'app'), ('service_image_mutable', 'low', 'db'),
        ('service_image_mutable', 'low', 'on-acc-enc'), ('service_image_mutable', 'low', 'web-plain'),
        ('ingress_plain_published', 'medium', 'ingress'),
        ('managers_single', 'medium', M1),
        ('autolock_off', 'low', M1),
        ('data_path_shared', 'low', M1),
    ])
    secret = [f for f in result['findings'] if f['id'] == 'service_env_secret'][0]
    assert secret['service'] == 'db' and secret['variables'] == ['DB_PASSWORD']
    root = sorted(f['service'] for f in result['findings'] if f['id'] == 'service_root')
    assert root == ['db', 'web-plain'], 'app and on-acc-enc run as user 1000'
    replaced = [f for f in result['findings'] if f['id'] == 'network_not_encrypted'][0]
    assert sorted(replaced['nodes']) == ALL
    table = dict((n['name'], (n['declared'], n['live'])) for n in result['networks'])
    assert table['acc-enc'] == ('encrypted', 'plain') and table['acc-plain'] == ('not declared', 'plain')
    assert table['acc-decl-plain'] == ('plain', 'absent') and table['acc-enc2'] == ('encrypted', 'encrypted')
    assert result['swarm']['quorum'] == {'managers': 1, 'reachable': 1, 'majority': 1, 'holds': True, 'tolerates': 0}


def test_declared_plain_network_is_low_for_its_service(view, nodes):
    declared = DECLARED[1:] + [{'name': 'acc-enc', 'encrypted': False}, {'name': 'acc-plain', 'encrypted': False}]
    result = judge(view, nodes, declared=declared)
    cross = dict((f['network'], f['severity']) for f in result['findings'] if f['id'] == 'service_plain_cross_node')
    assert cross == {'acc-enc': 'low', 'acc-plain': 'low'}
    assert not [f for f in result['findings'] if f['id'] in ('network_not_encrypted', 'network_undeclared')]


def test_kernel_findings_high_whenever_encryption_is_in_use(view, nodes):
    medium = {'id': 'kernel_no_esp', 'severity': 'medium', 'node': W1, 'peer': None, 'network': None, 'reason': 'x'}
    assert [f['severity'] for f in judge(view, nodes, findings=[medium])['findings'] if f['id'] == 'kernel_no_esp'] == ['high']
    # No encrypted network live or declared: the kernel finding stays medium.
    plain_view = copy.deepcopy(view)
    plain_view['networks'] = [n for n in plain_view['networks'] if not n['encrypted']]
    result = judge(plain_view, nodes, declared=[{'name': 'acc-plain', 'encrypted': False}], findings=[medium])
    assert [f['severity'] for f in result['findings'] if f['id'] == 'kernel_no_esp'] == ['medium']
    # Declared encrypted but not created yet: high again.
    result = judge(plain_view, nodes, declared=[{'name': 'later'}], findings=[medium])
    assert [f['severity'] for f in result['findings'] if f['id'] == 'kernel_no_esp'] == ['high']


def three_managers(view, reach):
    view = copy.deepcopy(view)
    base = [n for n in view['nodes'] if n['role'] == 'manager'][0]
    for i, state in enumerate(reach):
        node = dict(base, id='m%d' % i, hostname='mgr-%d' % i, leader=(i == 0), reachability=state,
                    state='ready' if state == 'reachable' else 'down')
        view['nodes'].append(node)
    view['nodes'] = [n for n in view['nodes'] if n['hostname'] != M1]
    return view


def manager_hosts(nodes, count):
    hosts = hosts_of(nodes, drop=[M1])
    return hosts + [{'host': 'mgr-%d' % i, 'role': 'manager', 'names': ['mgr-%d' % i], 'result': None} for i in range(count)]


def test_one_of_three_managers_lost_quorum_holds(view, nodes):
    result = judge(three_managers(view, ['reachable', 'reachable', 'unreachable']), nodes, hosts=manager_hosts(nodes, 3))
    lost = [f for f in result['findings'] if f['id'] == 'manager_unreachable']
    assert [f['node'] for f in lost] == ['mgr-2']
    assert 'Quorum holds: 2 of 3 managers reachable, 2 needed; one more loss stops every change' in lost[0]['reason']
    assert 'quorum_lost' not in [f['id'] for f in result['findings']]
    assert 'managers_single' not in [f['id'] for f in result['findings']]
    assert result['swarm']['quorum']['holds'] is True


def test_quorum_lost_when_no_manager_can_read(view, nodes):
    result = judge(None, nodes, hosts=manager_hosts(nodes, 3), error=None)
    assert [f['id'] for f in result['findings']] == ['quorum_lost']
    result = judge(view, nodes, error='rpc error: code = Unknown desc = The swarm does not have a leader.')
    lost = [f for f in result['findings'] if f['id'] == 'quorum_lost']
    assert len(lost) == 1 and 'does not have a leader' in lost[0]['reason'] and 'nothing is demoted' in lost[0]['reason']
    # Nothing else is judged from a view the manager could not complete: no network is "missing".
    assert [f['id'] for f in result['findings']] == ['quorum_lost']


def test_managers_are_counted_on_the_raft_membership(view, nodes):
    # Issue 19's lab: a worker promoted while its fence dropped TCP 2377, then made to leave and join again. Its old
    # entry asks for the manager role, is down and is no Raft member; docker info counts 1 manager and writes work.
    view = copy.deepcopy(view)
    base = [n for n in view['nodes'] if n['role'] == 'manager'][0]
    assert base['raft_member'] is True
    view['nodes'].append(dict(base, id='stale', hostname=W2, leader=False, reachability=None, manager_addr=None,
                              raft_member=False, state='down'))
    result = judge(view, nodes)
    assert result['swarm']['quorum'] == {'managers': 1, 'reachable': 1, 'majority': 1, 'holds': True, 'tolerates': 0}
    found = [f['id'] for f in result['findings']]
    assert 'quorum_lost' not in found and 'manager_unreachable' not in found and 'managers_even' not in found
    assert 'node_down' in found  # the entry is down, and says so
    # A view recorded before raft_member was read counts by the role, as it did.
    for node in view['nodes']:
        node.pop('raft_member')
    assert judge(view, nodes)['swarm']['quorum']['managers'] == 2


def test_even_and_many_managers(view, nodes):
    assert 'managers_even' in [f['id'] for f in judge(three_managers(view, ['reachable'] * 2), nodes)['findings']]
    assert 'managers_many' in [f['id'] for f in judge(three_managers(view, ['reachable'] * 9), nodes)['findings']]


def test_membership_faults(view, nodes):
    foreign = copy.deepcopy(nodes)
    foreign[W2]['swarm']['node_id'] = 'someotherswarmnode'
    result = judge(view, foreign)
    assert [f['node'] for f in result['findings'] if f['id'] == 'node_foreign_swarm'] == [W2]

    result = judge(view, nodes, drop=[W2])
    assert [f['node'] for f in result['findings'] if f['id'] == 'node_not_in_inventory'] == [W2]

    skew = copy.deepcopy(view)
    [n for n in skew['nodes'] if n['hostname'] == W1][0]['engine_version'] = '28.5.2'
    assert [(f['id'], f['node']) for f in judge(skew, nodes)['findings'] if f['id'] == 'engine_version_skew'] == \
        [('engine_version_skew', W1)]

    down = copy.deepcopy(view)
    [n for n in down['nodes'] if n['hostname'] == W1][0]['state'] = 'down'
    assert [f['node'] for f in judge(down, nodes)['findings'] if f['id'] == 'node_down'] == [W1]


def test_node_and_daemon_checks(view, nodes):
    bad = copy.deepcopy(nodes)
    bad[M1]['node_facts']['management_listeners'] = ['::']
    bad[W1]['node_facts']['daemon']['effective']['hosts'] = ['fd://', 'tcp://0.0.0.0:2375']
    bad[W1]['node_facts']['daemon']['bridge_icc'] = 'true'
    bad[W2]['node_facts']['socket']['mode'] = '0666'
    bad[W2]['node_facts']['daemon']['effective']['userland-proxy'] = True
    bad[W2]['node_facts']['daemon']['effective'].pop('no-new-privileges')
    bad[W2]['node_facts']['daemon']['effective']['log-opts'] = {}
    found = [(f['id'], f['node']) for f in judge(view, bad)['findings'] if f['id'].startswith(('daemon', 'docker_sock', 'listen'))]
    assert sorted(found) == sorted([('listen_all_interfaces', M1), ('daemon_tcp_no_tls', W1), ('daemon_icc', W1),
                                    ('docker_sock_open', W2), ('daemon_userland_proxy', W2),
                                    ('daemon_no_new_privileges', W2), ('daemon_log_rotation', W2)])
    clean = [f for f in judge(view, nodes)['findings'] if f['id'].startswith(('daemon', 'docker_sock', 'listen'))]
    assert clean == [], 'the lab runs the engine role\'s daemon.json and binds 2377 to its address'


def test_certificates(view, nodes):
    result = judge(view, nodes, settings={'node_cert_max_days': 30, 'ca_max_age_days': 0})
    found = [f['id'] for f in result['findings']]
    assert 'node_cert_expiry_long' in found and 'ca_old' not in found, 'the CA was created the day before NOW'
    later = rules.SwarmJudge(hosts_of(nodes), view, M1, None, DECLARED, {}, now=NOW + datetime.timedelta(days=400))
    found = [(f['id'], f['node']) for f in later.run([])['findings']]
    assert ('ca_old', M1) in found
    assert sorted(n for i, n in found if i == 'node_cert_expiring') == ALL, 'the node certificates last 90 days'


def test_accepted_findings_are_set_apart(view, nodes):
    result = judge(view, nodes, settings={'accept': ['autolock_off', 'service_root@' + M1]})
    assert 'autolock_off' not in [f['id'] for f in result['findings']]
    assert sorted(f['id'] for f in result['accepted']) == ['autolock_off', 'service_root', 'service_root']


def test_secret_names():
    assert [n for n in ('DB_PASSWORD', 'POSTGRES_PASSWORD_FILE', 'API_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'SSH_KEY',
                        'KEYBOARD', 'LOG_LEVEL', 'PASSWD', 'MONKEY', 'REDIS_PASS') if rules.secret_like(n)] == \
        ['DB_PASSWORD', 'API_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'SSH_KEY', 'PASSWD', 'REDIS_PASS']


def test_image_verdicts():
    assert rules.image_verdict('nginx') == ('medium', 'has no tag, so it means :latest')
    assert rules.image_verdict('registry:5000/nginx:latest')[0] == 'medium'
    assert rules.image_verdict('registry:5000/nginx')[0] == 'medium'
    assert rules.image_verdict('nginx:1.27')[0] == 'low'
    assert rules.image_verdict('nginx:1.27@sha256:' + '0' * 64) is None


def test_filter_checks_its_input(view, nodes):
    with pytest.raises(AnsibleFilterError, match='hosts must be a list'):
        swarm_audit_judge([], [{'name': 'x'}], view)
    assert swarm_audit_judge([], hosts_of(nodes), view, M1, None, DECLARED)['swarm']['reader'] == M1


def test_proc_net_tcp_recorded(raw):
    assert nodefacts.parse_proc_net_tcp(raw['proc_net_tcp'], 2377, 4) == ['172.20.0.2']
    assert nodefacts.parse_proc_net_tcp(raw['proc_net_tcp6'], 2377, 6) == []
    line = ('  sl  local_address                         remote_address                        st\n'
            '   0: 00000000000000000000000000000000:0949 00000000000000000000000000000000:0000 0A 0\n'
            '   1: 0000000000000000FFFF00000200A8C0:0949 00000000000000000000000000000000:0000 0A 0\n')
    assert nodefacts.parse_proc_net_tcp(line, 2377, 6) == ['::', '::ffff:c0a8:2']


def test_dockerd_flags_override_daemon_json():
    argv = ['/usr/sbin/dockerd', '-H', 'fd://', '--host=tcp://0.0.0.0:2375', '--icc=false', '--userland-proxy', 'false',
            '--log-opt', 'max-size=5m', '--tlsverify']
    merged = nodefacts.effective_daemon({'icc': True, 'log-opts': {'max-file': '3'}}, argv)
    assert merged['hosts'] == ['fd://', 'tcp://0.0.0.0:2375']
    assert merged['icc'] is False and merged['tlsverify'] is True
    assert merged['log-opts'] == {'max-file': '3', 'max-size': '5m'}


def test_a_network_declared_absent_is_not_a_declaration_that_it_exists(view, nodes):
    """networks_overlay's `state: absent` (the networks role removes it): gone is as declared, and a live one is
    undeclared. The audit passes networks_overlay as it is, the node agent too: the judge decides, once."""
    declared = DECLARED + [{'name': 'acc-removed', 'state': 'absent'}, {'name': 'acc-plain', 'state': 'absent'}]
    result = judge(view, nodes, declared=declared)
    assert not [f for f in result['findings'] if f.get('network') == 'acc-removed']
    assert ('network_undeclared', 'high', 'acc-plain') in ids(result)
    assert 'acc-removed' not in [n['name'] for n in result['networks']]
