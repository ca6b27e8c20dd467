# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the cluster role's filters.

The fixtures are real outputs recorded from the container lab (Docker 20.10.24):
``docker info --format '{{json .Swarm}}'`` per host and ``docker node inspect`` of every node
seen by a manager.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.filter import swarm_cluster as sc

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


# IDs from the recordings.
M1 = '5anym1a1nul5pni2hc7jon539'
M1_NEW = 'yvc90m5p1eaj66kd7p2rkpc2g'
M2 = 'j17l71g4ljf4vp476u3l2j13h'
M3 = '9nwbcjngqiaydjde53y1jn1i1'
W1 = 'wsbu8044pevsvumxdbem7mxc0'
W2_OLD = 'zhm96ff49evh99t5k1pellp3u'
M3_AS_WORKER = '2g125mglnzmk6zn2mgqp4ehsk'


def swarm_with(node_id, manager=False, cluster_id=''):
    """A docker info Swarm section derived from a recording, with another NodeID."""
    info = copy.deepcopy(load('info_swarm_manager.json' if manager else 'info_swarm_worker.json'))
    info['NodeID'] = node_id
    if manager and cluster_id:
        info['Cluster']['ID'] = cluster_id
    return info


# ---------------------------------------------------------------- swarm_pool_errors

@pytest.mark.parametrize('pools, size', [
    ([], 24),
    (['10.20.0.0/16'], 24),
    (['10.20.0.0/16', '10.30.0.0/16'], 29),
    (['10.20.0.0/16'], 16),
    (['fd00::/16'], 24),
])
def test_pool_ok(pools, size):
    assert sc.swarm_pool_errors(pools, size) == []


def test_pool_not_a_cidr():
    assert sc.swarm_pool_errors(['10.20.0.0'], 24) == [
        "cluster_default_addr_pool entry '10.20.0.0' is not a CIDR: write it as network/prefix, for example 10.20.0.0/16"]
    assert 'is not a CIDR' in sc.swarm_pool_errors(['10.20.0.0/33'], 24)[0]
    assert 'is not a CIDR' in sc.swarm_pool_errors(['eth0/16'], 24)[0]


def test_pool_host_bits_set():
    # Docker itself accepts this (measured) and silently uses 10.20.0.0/16.
    assert sc.swarm_pool_errors(['10.20.1.0/16'], 24) == [
        "cluster_default_addr_pool entry '10.20.1.0/16' has host bits set: did you mean 10.20.0.0/16?"]


def test_pool_subnet_does_not_fit():
    # Docker: 'invalid CIDR: "10.20.0.0/16". Subnet size is too small for pool: 8'
    assert sc.swarm_pool_errors(['10.20.0.0/16'], 8) == [
        'cluster_subnet_size 8 does not fit in pool 10.20.0.0/16: it must be at least 16 (the pool prefix), '
        'or use a larger pool']


def test_pool_subnet_out_of_docker_range():
    # Docker: "subnet size is out of range: 30"
    assert sc.swarm_pool_errors(['10.20.0.0/16'], 30) == [
        'cluster_subnet_size 30 is out of range: Docker accepts 1 to 29']


def test_pool_overlap_and_bad_size_type():
    assert sc.swarm_pool_errors(['10.0.0.0/8', '10.20.0.0/16'], 24) == [
        'cluster_default_addr_pool entries 10.0.0.0/8 and 10.20.0.0/16 overlap: list each range once']
    assert sc.swarm_pool_errors(['10.0.0.0/8'], 'big') == ["cluster_subnet_size must be an integer, got 'big'"]
    assert sc.swarm_pool_errors(['10.0.0.0/8'], True) == ['cluster_subnet_size must be an integer, got True']
    with pytest.raises(AnsibleFilterError):
        sc.swarm_pool_errors('10.0.0.0/8', 24)


# ---------------------------------------------------------------- swarm_addr_errors

OWN = ['172.18.0.2', '172.17.0.1', 'fe80::42:acff:fe12:2%eth0', '2001:db8::5']


def test_addr_ok_including_ipv6_spelling():
    assert sc.swarm_addr_errors('172.18.0.2', 'cluster_advertise_addr', OWN) == []
    assert sc.swarm_addr_errors('2001:DB8:0::5', 'cluster_advertise_addr', OWN) == []


def test_addr_not_on_host():
    assert sc.swarm_addr_errors('203.0.113.7', 'cluster_advertise_addr', OWN) == [
        'cluster_advertise_addr 203.0.113.7 is not an address of this host: use one of 172.18.0.2, 172.17.0.1, '
        'fe80::42:acff:fe12:2, 2001:db8::5, or configure the address first']


def test_addr_not_an_ip_and_empty():
    assert sc.swarm_addr_errors('eth0', 'cluster_data_path_addr', ['10.0.0.1']) == [
        "cluster_data_path_addr 'eth0' is not an IP address: set it to one of this host's addresses: 10.0.0.1"]
    assert sc.swarm_addr_errors('', 'cluster_advertise_addr', []) == [
        "cluster_advertise_addr is empty (no default IPv4 route found): set it to one of this host's addresses: "
        "none found in the gathered facts"]
    assert sc.swarm_addr_errors('', 'cluster_data_path_addr', ['10.0.0.1'], required=False) == []


# ---------------------------------------------------------------- swarm_inventory

def test_inventory_order_and_missing_hosts():
    reports = [
        {'name': 'w1', 'hostname': 'cluster-dev-w1', 'swarm': load('info_swarm_worker.json')},
        {'name': 'm1', 'hostname': 'cluster-dev-m1', 'swarm': load('info_swarm_manager.json')},
        {'name': 'other', 'swarm': {}},
    ]
    inv = sc.swarm_inventory(reports, ['m1', 'm2'], ['w1'])
    assert [(h['name'], h['want']) for h in inv] == [('m1', 'manager'), ('m2', 'manager'), ('w1', 'worker')]
    assert inv[1]['swarm'] is None
    assert inv[0]['hostname'] == 'cluster-dev-m1'


# ---------------------------------------------------------------- swarm_anchor

def test_anchor_none_on_fresh_hosts():
    inactive = load('info_swarm_inactive.json')
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': inactive},
             {'name': 'w1', 'want': 'worker', 'swarm': inactive}]
    assert sc.swarm_anchor(hosts) == {'host': '', 'cluster_id': '', 'clusters': {}}


def test_anchor_first_manager_outside_joins_existing_swarm():
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': load('info_swarm_inactive.json')},
             {'name': 'm2', 'want': 'manager', 'swarm': swarm_with(M2, manager=True, cluster_id='C1')},
             {'name': 'm3', 'want': 'manager', 'swarm': swarm_with(M3, manager=True, cluster_id='C1')}]
    assert sc.swarm_anchor(hosts)['host'] == 'm2'


def test_anchor_majority_beats_inventory_order():
    # m1 ran `docker swarm init --force-new-cluster` elsewhere: one manager against two.
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': load('info_swarm_foreign_manager.json')},
             {'name': 'm2', 'want': 'manager', 'swarm': swarm_with(M2, manager=True, cluster_id='C1')},
             {'name': 'm3', 'want': 'manager', 'swarm': swarm_with(M3, manager=True, cluster_id='C1')}]
    anchor = sc.swarm_anchor(hosts)
    assert anchor['host'] == 'm2'
    assert anchor['cluster_id'] == 'C1'


def test_anchor_never_a_host_listed_as_worker():
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': load('info_swarm_inactive.json')},
             {'name': 'w1', 'want': 'worker', 'swarm': load('info_swarm_manager.json')}]
    assert sc.swarm_anchor(hosts)['host'] == ''


# ---------------------------------------------------------------- swarm_plan

def fresh_hosts():
    inactive = load('info_swarm_inactive.json')
    return [{'name': 'm1', 'want': 'manager', 'swarm': inactive},
            {'name': 'm2', 'want': 'manager', 'swarm': inactive},
            {'name': 'w1', 'want': 'worker', 'swarm': inactive}]


def test_plan_fresh_cluster():
    plan = sc.swarm_plan(fresh_hosts(), [], '')
    assert plan['init_host'] == 'm1'
    assert plan['join_managers'] == ['m2']
    assert plan['join_workers'] == ['w1']
    assert plan['fatal'] == [] and plan['stale'] == [] and plan['leave'] == []


def test_plan_refuses_init_when_a_manager_is_unknown():
    hosts = fresh_hosts()
    hosts[1]['swarm'] = None
    plan = sc.swarm_plan(hosts, [], '')
    assert plan['init_host'] == ''
    assert plan['fatal'] == [
        'no reached manager is in a swarm, but m2 could not be identified: refusing to create a swarm that might '
        'be a second one; make every manager reachable and re-run']


def test_plan_first_manager_in_other_swarm_without_reconcile_is_fatal():
    hosts = fresh_hosts()
    hosts[0]['swarm'] = load('info_swarm_worker.json')
    plan = sc.swarm_plan(hosts, [], '')
    assert plan['fatal'] == ['m1 must create the swarm but is in another swarm: set cluster_reconcile=true to '
                             'make it leave, or make it leave by hand']
    plan = sc.swarm_plan(hosts, [], '', reconcile=True)
    assert plan['init_host'] == 'm1' and plan['leave'] == ['m1'] and plan['fatal'] == []


def test_plan_converged_cluster_does_nothing():
    nodes = load('nodes_1m2w.json')
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': load('info_swarm_manager.json')},
             {'name': 'w1', 'want': 'worker', 'swarm': load('info_swarm_worker.json')},
             {'name': 'w2', 'want': 'worker', 'swarm': swarm_with(W2_OLD)}]
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=True)
    assert [plan['hosts'][n]['status'] for n in ('m1', 'w1', 'w2')] == ['member'] * 3
    for key in ('leave', 'join_managers', 'join_workers', 'promote', 'demote', 'stale', 'prune', 'drift', 'fatal'):
        assert plan[key] == [], key


def test_plan_foreign_worker_reported_then_rejoined():
    # w2 left and ran `docker swarm init`: the recording of that host and the old entry in m1's list.
    nodes = load('nodes_1m2w.json')
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': load('info_swarm_manager.json')},
             {'name': 'w1', 'want': 'worker', 'swarm': load('info_swarm_worker.json')},
             {'name': 'w2', 'want': 'worker', 'hostname': 'cluster-dev-w2',
              'swarm': load('info_swarm_foreign_manager.json')}]
    plan = sc.swarm_plan(hosts, nodes, 'm1')
    assert plan['hosts']['w2']['status'] == 'foreign'
    assert plan['hosts']['w2']['action'] == 'none'
    assert plan['join_workers'] == [] and plan['prune'] == []
    assert plan['drift'][0] == ('w2: is in another swarm (iaafju1fjoxjagfhmivuvieb1): set cluster_reconcile=true '
                                'to make it leave and join this swarm')
    assert [row['id'] for row in plan['stale']] == [W2_OLD]
    assert plan['stale'][0]['old_entry_of'] == 'w2'

    # The old entry belongs to an inventory host: only reconcile removes it.
    plan = sc.swarm_plan(hosts, nodes, 'm1', remove_departed=True)
    assert plan['prune'] == []
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=True)
    assert plan['leave'] == ['w2'] and plan['join_workers'] == ['w2']
    assert plan['prune'] == [W2_OLD]


def test_plan_wrong_roles():
    nodes = load('nodes_3m_stale_worker.json')
    # m3 is a worker in the swarm but listed as manager; w1 is a manager but listed as worker.
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': swarm_with(M1_NEW, manager=True, cluster_id='C')},
             {'name': 'm2', 'want': 'manager', 'swarm': swarm_with(M2, manager=True, cluster_id='C')},
             {'name': 'm3', 'want': 'manager', 'swarm': load('info_swarm_stale_worker.json')},
             {'name': 'w1', 'want': 'worker', 'swarm': swarm_with(W1, manager=True, cluster_id='C')}]
    # The groups declare the role: a plain run promotes and demotes, as a reconciling one does.
    for reconcile in (False, True):
        plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=reconcile)
        assert plan['promote'] == ['m3'] and plan['demote'] == ['w1']
        assert 'm3: is a worker but listed as manager: will promote it' in plan['drift']
        assert 'w1: is a manager but listed as worker: will demote it' in plan['drift']
        assert plan['hosts']['m3']['node_id'] == M3_AS_WORKER


def test_plan_unknown_host_blocks_pruning():
    nodes = load('nodes_3m_stale_worker.json')
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': swarm_with(M1_NEW, manager=True, cluster_id='C')},
             {'name': 'm2', 'want': 'manager', 'swarm': swarm_with(M2, manager=True, cluster_id='C')},
             {'name': 'w1', 'want': 'manager', 'swarm': swarm_with(W1, manager=True, cluster_id='C')},
             {'name': 'gone', 'want': 'worker', 'swarm': None}]
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=True, remove_departed=True)
    assert [row['id'] for row in plan['stale']] == [M3_AS_WORKER]
    assert plan['prune'] == []
    assert plan['prune_blocked'] == ('not removing 1 node(s) that are not in the inventory, because gone could not '
                                     'be identified and might be one of them')
    hosts[3]['swarm'] = load('info_swarm_inactive.json')
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=True, remove_departed=True)
    assert plan['prune'] == [M3_AS_WORKER] and plan['join_workers'] == ['gone']
    # Removing departed nodes is its own switch, independent of reconcile.
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=False, remove_departed=True)
    assert plan['prune'] == [M3_AS_WORKER]
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=True, remove_departed=False)
    assert plan['prune'] == []
    assert any(line.endswith('set cluster_remove_departed=true to remove it') for line in plan['drift'])


def test_plan_locked_and_error_states():
    nodes = load('nodes_1m2w.json')
    locked = dict(load('info_swarm_inactive.json'), LocalNodeState='locked')
    broken = dict(load('info_swarm_inactive.json'), LocalNodeState='error', Error='rpc error: timeout')
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': load('info_swarm_manager.json')},
             {'name': 'w1', 'want': 'worker', 'swarm': locked},
             {'name': 'w2', 'want': 'worker', 'swarm': broken}]
    plan = sc.swarm_plan(hosts, nodes, 'm1', reconcile=True)
    assert plan['hosts']['w1']['status'] == 'locked' and plan['hosts']['w1']['action'] == 'none'
    assert plan['hosts']['w2']['action'] == 'rejoin'
    assert plan['unidentified'] == ['w1', 'w2'] and plan['prune'] == []
    assert 'w2: swarm state is error (rpc error: timeout): leaving and joining again' in plan['drift']


def test_plan_stale_workers_before_managers():
    nodes = load('nodes_stale_manager.json')
    hosts = [{'name': 'm1', 'want': 'manager', 'swarm': swarm_with(M1_NEW, manager=True, cluster_id='C')},
             {'name': 'm2', 'want': 'manager', 'swarm': swarm_with(M2, manager=True, cluster_id='C')},
             {'name': 'w1', 'want': 'worker', 'swarm': swarm_with(W1)}]
    plan = sc.swarm_plan(hosts, nodes, 'm2', reconcile=True)
    assert [(row['hostname'], row['role']) for row in plan['stale']] == [
        ('cluster-dev-w2', 'worker'), ('cluster-dev-m1', 'manager'), ('cluster-dev-m3', 'manager')]


def test_plan_rejects_empty_node_list_with_anchor():
    with pytest.raises(AnsibleFilterError, match='node list of anchor m1 is empty'):
        sc.swarm_plan(fresh_hosts(), [], 'm1')
    with pytest.raises(AnsibleFilterError, match='every host must be a dict'):
        sc.swarm_plan([{'name': 'x', 'want': 'boss'}], [], '')


# ---------------------------------------------------------------- swarm_quorum

def test_quorum_old_entry_that_docker_still_calls_reachable():
    # Docker reports the old m1 entry (status unknown) as "reachable": it must not count.
    q = sc.swarm_quorum(load('nodes_stale_manager.json'), M1)
    assert q['ok'] is True
    assert (q['managers'], q['reachable'], q['quorum']) == (4, 3, 3)
    assert (q['managers_after'], q['reachable_after'], q['quorum_after']) == (3, 3, 2)


def test_quorum_counts_the_raft_membership_not_the_role_an_entry_asks_for():
    # The lab's state after a worker promoted while its fence dropped TCP 2377 left with --force: its entry still
    # asks for the manager role, is down, and has no ManagerStatus (Docker's 404 "can't find manager in raft
    # memberlist" on a demotion). It is no manager for quorum, and removing it does not touch quorum.
    nodes = load('nodes_1m2w.json')
    stale = [n for n in nodes if n['ID'] == W1][0]
    stale['Spec']['Role'] = 'manager'
    stale['Status']['State'] = 'down'
    stale.pop('ManagerStatus', None)
    q = sc.swarm_quorum(nodes, W1)
    assert q['ok'] is True and q['is_manager'] is False
    assert (q['managers'], q['reachable'], q['quorum']) == (1, 1, 1)
    assert q['msg'] == ('node %s asks for the manager role but is not in the Raft membership: quorum is not affected'
                        % W1)
    rows = dict((r['id'], r) for r in sc.swarm_node_table(nodes))
    assert rows[W1]['role'] == 'manager' and rows[W1]['manager_status'] == ''


def test_quorum_worker_and_missing_node():
    nodes = load('nodes_1m2w.json')
    assert sc.swarm_quorum(nodes, W1)['msg'] == 'node %s is a worker: quorum is not affected' % W1
    missing = sc.swarm_quorum(nodes, 'nope')
    assert missing['ok'] is True and missing['found'] is False


def test_quorum_last_manager():
    q = sc.swarm_quorum(load('nodes_1m2w.json'), M1)
    assert q['ok'] is False
    assert q['msg'] == 'node %s is the last manager: it cannot be demoted or removed' % M1


def test_quorum_refuses_when_demotion_breaks_it():
    # Three managers, one of them down: demoting a healthy one leaves 1 of 2 reachable, quorum 2.
    nodes = load('nodes_3m_stale_worker.json')
    for node in nodes:
        if node['ID'] == W1:
            node['Status']['State'] = 'down'
            node['ManagerStatus']['Reachability'] = 'unreachable'
    q = sc.swarm_quorum(nodes, M2)
    assert q['ok'] is False
    assert q['msg'] == ('demoting %s would leave 1 reachable of 2 managers, below the quorum of 2: bring the '
                        'unreachable managers back or add managers first' % M2)
    # Demoting the unreachable one is what restores a healthy count.
    assert sc.swarm_quorum(nodes, W1)['ok'] is True


def test_quorum_already_lost():
    nodes = load('nodes_3m_stale_worker.json')
    for node in nodes:
        if node['ID'] in (W1, M2):
            node['Status']['State'] = 'down'
            node['ManagerStatus']['Reachability'] = 'unreachable'
    q = sc.swarm_quorum(nodes, W1)
    assert q['ok'] is False
    assert q['msg'].startswith('the swarm has lost quorum already: 1 of 3 managers reachable, 2 needed')


# ---------------------------------------------------------------- swarm_node_table

def test_node_table_rows_and_text():
    rows = sc.swarm_node_table(load('nodes_stale_manager.json'))
    assert [r['hostname'] for r in rows] == ['cluster-dev-m1', 'cluster-dev-m1', 'cluster-dev-m2', 'cluster-dev-m3',
                                             'cluster-dev-w1', 'cluster-dev-w2']
    leader = [r for r in rows if r['manager_status'] == 'leader']
    assert [r['id'] for r in leader] == [M2]
    assert rows[-1]['manager_status'] == '' and rows[-1]['role'] == 'worker'
    text = sc.swarm_node_table(load('nodes_1m2w.json'), as_text=True)
    assert text[0].split() == ['HOSTNAME', 'ID', 'ROLE', 'STATUS', 'AVAILABILITY', 'MANAGER']
    assert text[1].split() == ['cluster-dev-m1', M1, 'manager', 'ready', 'active', 'leader']
    assert len(text) == 4


def test_filter_module_exports():
    names = set(sc.FilterModule().filters())
    assert names == {'swarm_pool_errors', 'swarm_addr_errors', 'swarm_inventory', 'swarm_anchor', 'swarm_plan',
                     'swarm_quorum', 'swarm_node_table'}
