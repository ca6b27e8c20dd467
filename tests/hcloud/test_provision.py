# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/hcloud.yml and hcloud_destroy.yml against the stand-in API: the real hetzner.hcloud modules and
inventory plugin, no swarm (hcloud_build_swarm: false). The tests run in order on one stand-in: each starts
from the state the one before left."""

import ipaddress

from conftest import module_calls, writes

from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud import Client
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud.firewalls import (
    FirewallResource,
    FirewallResourceLabelSelector,
    FirewallRule,
)

CLUSTER = 'acme'
ADMIN = ['198.51.100.7/32', '192.0.2.0/28']
BASE = {'hcloud_cluster_name': CLUSTER, 'hcloud_managers': 3, 'hcloud_workers': 2, 'hcloud_admin_cidrs': ADMIN,
        'hcloud_build_swarm': False}
SELECTOR = 'ironclad.swarm/cluster=%s' % CLUSTER


def decl(**kw):
    out = dict(BASE)
    out.update(kw)
    return out


def servers(api):
    return {s['name']: s for s in api.state()['servers']}


def firewall(api, name):
    return [f for f in api.state()['firewalls'] if f['name'] == '%s-%s' % (CLUSTER, name)][0]


def sorted_cidrs(api):
    nets = [ipaddress.ip_network(s['public_net']['ipv4']['ip'] + '/32') for s in api.state()['servers']]
    return [str(n) for n in sorted(nets)]


def swarm_rules(fw):
    return [r for r in fw['rules'] if r['port'] != '22']


def test_missing_token_stops_before_any_call(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(), token='')
    assert result.rc != 0
    assert 'No Hetzner Cloud API token' in result.out
    assert module_calls(api.requests()) == []


def test_bad_token_fails_clearly_and_creates_nothing(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(), token='not-the-token')
    assert result.rc != 0
    assert 'The Hetzner Cloud API rejected the token' in result.out
    assert 'Nothing was created or changed' in result.out
    assert 'not-the-token' not in result.out
    assert writes(api.requests()) == []
    assert api.state()['servers'] == [] and api.state()['firewalls'] == []


def test_a_read_only_token_is_refused_with_the_fix_and_nothing_is_made(api, run):
    api.add_read_only_token('read-only-token')
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(), token='read-only-token')
    assert result.rc != 0
    assert 'The Hetzner Cloud API token is read-only' in result.out
    assert 'Nothing was created or changed' in result.out and 'Read & Write permission' in result.out
    assert 'read-only-token' not in result.out
    refused = [r for r in api.requests() if r['method'] != 'GET']
    assert refused and all(r['status'] == 403 for r in refused), refused
    state = api.state()
    assert state['servers'] == [] and state['firewalls'] == [] and state['placement_groups'] == []


def test_limit_breach_is_refused_before_any_call(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(hcloud_workers=497))
    assert result.rc != 0
    assert 'hcloud_managers and hcloud_workers declare 500 servers, but this declaration admits at most 499' in result.out
    assert module_calls(api.requests()) == []


def test_empty_admin_list_and_bad_names_are_refused_before_any_call(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(hcloud_admin_cidrs=[], hcloud_managers=11, hcloud_cluster_name='Acme_1'))
    assert result.rc != 0
    for fragment in ('hcloud_admin_cidrs is empty', 'spread placement group holds at most 10', "hcloud_cluster_name 'Acme_1'"):
        assert fragment in result.out
    assert module_calls(api.requests()) == []


def test_unknown_server_type_is_refused_before_anything_is_created(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(hcloud_server_type='cx999', hcloud_ssh_keys=['nobody'], hcloud_extra_firewalls=['nofw']))
    assert result.rc != 0
    assert "server_type 'cx999' does not exist in this project" in result.out
    assert 'hcloud_ssh_keys: no SSH key named nobody in the project' in result.out
    assert 'hcloud_extra_firewalls: no Cloud Firewall named nofw in the project' in result.out
    assert writes(api.requests()) == []


def test_check_mode_creates_nothing(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(), args=['--check'])
    assert result.rc == 0, result.out[-3000:]
    assert writes(api.requests()) == []
    assert api.state()['servers'] == []


def test_provision_three_managers_and_two_workers(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl())
    assert result.rc == 0, result.out[-4000:]
    live = servers(api)
    assert sorted(live) == ['acme-manager-1', 'acme-manager-2', 'acme-manager-3', 'acme-worker-1', 'acme-worker-2']
    requests = api.requests()
    made = [r for r in requests if (r['method'], r['path']) == ('POST', '/v1/servers')]
    fw_made = [i for i, r in enumerate(requests) if (r['method'], r['path']) == ('POST', '/v1/firewalls')]
    # both firewalls exist before the first server, and every server, workers too, is created with both: TCP 2377 is
    # open on a worker from the start, so a promotion by hand keeps quorum
    assert len(fw_made) == 2 and max(fw_made) < requests.index(made[0])
    ids = {f['name']: f['id'] for f in api.state()['firewalls']}
    for body in (r['body'] for r in made):
        assert sorted(f['firewall'] for f in body['firewalls']) == sorted([ids['acme-nodes'], ids['acme-managers']]), body
        assert body['labels']['ironclad.swarm/cluster'] == CLUSTER
        assert live[body['name']]['image']['name'] == 'debian-13'
        assert ('placement_group' in body and body['placement_group']) == ('-manager-' in body['name'])
    # the firewalls' swarm rules: exactly the sorted /32s, ESP with no port
    cidrs = sorted_cidrs(api)
    set_rules = [r for r in requests if r['path'].endswith('/actions/set_rules')]
    assert set_rules, 'the swarm rules were never set'
    nodes = firewall(api, 'nodes')
    assert [(r['protocol'], r['port']) for r in nodes['rules']] == [
        ('tcp', '22'), ('tcp', '7946'), ('udp', '7946'), ('udp', '4789'), ('esp', None)]
    assert nodes['rules'][0]['source_ips'] == ['192.0.2.0/28', '198.51.100.7/32']
    assert all(r['source_ips'] == cidrs for r in swarm_rules(nodes))
    last_nodes_rules = [r for r in set_rules if r['path'] == '/v1/firewalls/%d/actions/set_rules' % ids['acme-nodes']][-1]
    esp = [r for r in last_nodes_rules['body']['rules'] if r['protocol'] == 'esp'][0]
    assert 'port' not in esp or esp['port'] is None
    assert esp['source_ips'] == cidrs
    managers = firewall(api, 'managers')
    assert [(r['protocol'], r['port'], r['source_ips']) for r in managers['rules']] == [('tcp', '2377', cidrs)]
    # the label selectors: the cluster's, on both firewalls
    applied = [r for r in requests if r['path'].endswith('/actions/apply_to_resources')]
    selectors = sorted(a['label_selector']['selector'] for r in applied for a in r['body']['apply_to'] if a['type'] == 'label_selector')
    assert selectors == [SELECTOR, SELECTOR]
    assert not [r for r in requests if r['path'].endswith('/actions/remove_from_resources')]
    # what applies to each server: both firewalls, on workers as on managers
    assert {n.split('-')[1] for n in servers(api)} == {'manager', 'worker'}
    for name, server in servers(api).items():
        got = sorted(f['id'] for f in server['public_net']['firewalls'])
        assert got == sorted([ids['acme-nodes'], ids['acme-managers']]), name
        assert 'datacenter' not in server
    group = api.state()['placement_groups'][0]
    assert group['type'] == 'spread'
    assert sorted(group['servers']) == sorted(live[n]['id'] for n in live if '-manager-' in n)


def test_second_run_changes_nothing(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(), args=['-vvv'])
    assert result.rc == 0, result.out[-3000:]
    assert result.recap()['changed'] == 0
    assert api.token not in result.out, 'the API token was printed'
    assert writes(api.requests()) == []


def client(api):
    return Client(token=api.token, api_endpoint=api.url, poll_interval=0.01)


def by_selector(selector):
    return FirewallResource(type='label_selector', label_selector=FirewallResourceLabelSelector(selector=selector))


def selectors_of(fw):
    return sorted(a['label_selector']['selector'] for a in fw['applied_to'] if a['type'] == 'label_selector')


OLD_SELECTOR = SELECTOR + ',ironclad.swarm/role=manager'
FOREIGN_SELECTOR = SELECTOR + ',team=web'


def test_an_old_cluster_gets_2377_on_its_workers_and_a_foreign_selector_stays(api, run):
    """A cluster made before TCP 2377 was admitted on every server: acme-managers applied to the managers at their
    creation and by the selector ...,ironclad.swarm/role=manager, and not to the workers. Someone also applied it by a
    selector of their own. One run applies it by the cluster's selector, then takes off the old selector and only that
    one; the next test's run (other people's firewalls and labels) is the re-run after it, and changes nothing."""
    hc = client(api)
    fw = hc.firewalls.get_by_name('acme-managers')
    live = servers(api)
    workers = [FirewallResource(type='server', server=hc.servers.get_by_id(live[n]['id'])) for n in live if '-worker-' in n]
    hc.firewalls.remove_from_resources(fw, [by_selector(SELECTOR)] + workers)
    hc.firewalls.apply_to_resources(fw, [by_selector(OLD_SELECTOR), by_selector(FOREIGN_SELECTOR)])
    for name, server in servers(api).items():
        assert (fw.id in [f['id'] for f in server['public_net']['firewalls']]) == ('-manager-' in name), name
    api.clear_requests()
    result = run('hcloud_provision.yml', decl())
    assert result.rc == 0, result.out[-4000:]
    requests = [r for r in api.requests() if r['method'] != 'GET']
    assert [(r['method'], r['path']) for r in requests] == [
        ('POST', '/v1/firewalls/%d/actions/apply_to_resources' % fw.id),
        ('POST', '/v1/firewalls/%d/actions/remove_from_resources' % fw.id),
    ]
    assert requests[0]['body']['apply_to'] == [{'type': 'label_selector', 'label_selector': {'selector': SELECTOR}}]
    assert requests[1]['body']['remove_from'] == [{'type': 'label_selector', 'label_selector': {'selector': OLD_SELECTOR}}]
    assert selectors_of(firewall(api, 'managers')) == sorted([SELECTOR, FOREIGN_SELECTOR])
    for name, server in servers(api).items():
        assert fw.id in [f['id'] for f in server['public_net']['firewalls']], name


def test_firewalls_and_labels_of_others_are_left_alone(api, run):
    """What a user adds by hand: a firewall applied by label selector, one applied to a server, labels on a server,
    on a firewall and on the placement group. The role detaches none, removes none, and reports no change."""
    hc = client(api)
    live = servers(api)
    worker = hc.servers.get_by_id(live['acme-worker-1']['id'])
    rule = FirewallRule(direction='in', protocol='icmp', source_ips=['0.0.0.0/0', '::/0'])
    hc.firewalls.create(name='ops-by-selector', rules=[rule], resources=[FirewallResource(
        type='label_selector', label_selector=FirewallResourceLabelSelector(selector=SELECTOR))])
    hc.firewalls.create(name='ops-direct', rules=[rule], resources=[FirewallResource(type='server', server=worker)])
    hc.servers.update(worker, labels=dict(worker.labels, team='web'))
    nodes = hc.firewalls.get_by_name('acme-nodes')
    hc.firewalls.update(nodes, labels=dict(nodes.labels, owner='ops'))
    group = hc.placement_groups.get_by_name('acme-managers')
    hc.placement_groups.update(group, labels=dict(group.labels, owner='ops'))
    before = {s['name']: sorted(f['id'] for f in s['public_net']['firewalls']) for s in api.state()['servers']}
    api.clear_requests()
    result = run('hcloud_provision.yml', decl())
    assert result.rc == 0, result.out[-4000:]
    assert result.recap()['changed'] == 0
    assert writes(api.requests()) == []
    after = {s['name']: sorted(f['id'] for f in s['public_net']['firewalls']) for s in api.state()['servers']}
    assert after == before
    # acme-nodes, acme-managers, ops-by-selector and (worker-1) ops-direct
    assert len(after['acme-worker-1']) == 4 and len(after['acme-manager-1']) == 3
    # the migrated cluster (the test before) stays migrated, and the foreign selector on acme-managers stays
    assert selectors_of(firewall(api, 'managers')) == sorted([SELECTOR, FOREIGN_SELECTOR])
    assert servers(api)['acme-worker-1']['labels']['team'] == 'web'
    assert firewall(api, 'nodes')['labels']['owner'] == 'ops'
    assert api.state()['placement_groups'][0]['labels']['owner'] == 'ops'


def test_the_role_corrects_only_its_own_labels_and_names_what_failed(api, run):
    hc = client(api)
    worker = hc.servers.get_by_name('acme-worker-2')
    hc.servers.update(worker, labels={'ironclad.swarm/cluster': CLUSTER, 'ironclad.swarm/role': 'manager', 'team': 'db'})
    api.clear_requests()
    api.add_fault(method='PUT', path='/v1/servers/%d' % worker.id, status=500, code='server_error', message='the update broke')
    result = run('hcloud_provision.yml', decl())
    api.clear_faults()
    assert result.rc != 0
    assert 'Updating the labels of server acme-worker-2 failed' in result.out and 'the update broke' in result.out
    assert 'No server was to be created in this run' in result.out
    assert 'Server creation failed' not in result.out and 'Not created' not in result.out
    api.clear_requests()
    result = run('hcloud_provision.yml', decl())
    assert result.rc == 0, result.out[-3000:]
    assert writes(api.requests()) == [('PUT', '/v1/servers/%d' % worker.id)]
    assert servers(api)['acme-worker-2']['labels'] == {'ironclad.swarm/cluster': CLUSTER, 'ironclad.swarm/role': 'worker',
                                                       'team': 'db'}


def test_inventory_shows_both_groups_and_the_advertise_addresses(api, inventory):
    listed = inventory(CLUSTER)
    assert sorted(listed['swarm_managers']['hosts']) == ['acme-manager-1', 'acme-manager-2', 'acme-manager-3']
    assert sorted(listed['swarm_workers']['hosts']) == ['acme-worker-1', 'acme-worker-2']
    live = servers(api)
    for name, hostvars in listed['_meta']['hostvars'].items():
        ip = live[name]['public_net']['ipv4']['ip']
        assert hostvars['cluster_advertise_addr'] == ip
        assert hostvars['ansible_host'] == ip
    # another cluster's name selects nothing
    other = inventory('other')
    assert 'swarm_managers' not in other or not other['swarm_managers'].get('hosts')


def test_scale_out_adds_the_new_address_to_every_swarm_rule_and_nothing_else(api, run):
    before_nodes, before_managers = firewall(api, 'nodes'), firewall(api, 'managers')
    before = servers(api)
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(hcloud_workers=3))
    assert result.rc == 0, result.out[-3000:]
    assert writes(api.requests()) == [
        ('POST', '/v1/servers'),
        ('POST', '/v1/firewalls/%d/actions/set_rules' % before_nodes['id']),
        ('POST', '/v1/firewalls/%d/actions/set_rules' % before_managers['id']),
    ], writes(api.requests())
    live = servers(api)
    new = live['acme-worker-3']['public_net']['ipv4']['ip'] + '/32'
    nodes, managers = firewall(api, 'nodes'), firewall(api, 'managers')
    for old, now in zip(swarm_rules(before_nodes) + before_managers['rules'], swarm_rules(nodes) + managers['rules']):
        assert now['source_ips'] == sorted(old['source_ips'] + [new], key=ipaddress.ip_network)
        assert {k: v for k, v in now.items() if k != 'source_ips'} == {k: v for k, v in old.items() if k != 'source_ips'}
    assert nodes['rules'][0] == before_nodes['rules'][0]
    assert {n: s['labels'] for n, s in before.items()} == {n: live[n]['labels'] for n in before}


def test_scale_in_keeps_a_departed_server_unless_removal_is_asked_for(api, run):
    api.clear_requests()
    result = run('hcloud_provision.yml', decl())
    assert result.rc == 0, result.out[-3000:]
    assert 'Not declared any more, kept in the swarm and in the firewalls: acme-worker-3' in result.out
    assert writes(api.requests()) == []


def test_scale_in_removes_the_departed_address(api, run, inventory):
    gone = servers(api)['acme-worker-3']
    address = gone['public_net']['ipv4']['ip'] + '/32'
    api.clear_requests()
    result = run('hcloud_provision.yml', decl(hcloud_remove_departed=True))
    assert result.rc == 0, result.out[-3000:]
    sent = writes(api.requests())
    assert ('DELETE', '/v1/servers/%d' % gone['id']) in sent
    assert 'acme-worker-3' not in servers(api)
    for fw in (firewall(api, 'nodes'), firewall(api, 'managers')):
        for rule in swarm_rules(fw):
            assert address not in rule['source_ips']
            assert rule['source_ips'] == sorted_cidrs(api)
    assert 'acme-worker-3' not in inventory(CLUSTER)['_meta']['hostvars']


def test_an_api_error_says_what_was_created_and_what_was_not(api, run, inventory):
    api.clear_requests()
    api.add_fault(method='POST', path='/v1/servers', nth=2, status=403, code='resource_limit_exceeded',
                  message='server limit exceeded')
    result = run('hcloud_provision.yml', decl(hcloud_workers=4))
    api.clear_faults()
    assert result.rc != 0
    assert 'Created in this run and kept: acme-worker-3.' in result.out
    assert 'Not created: acme-worker-4.' in result.out
    assert 'server limit exceeded' in result.out
    live = servers(api)
    assert 'acme-worker-4' not in live
    assert live['acme-worker-3']['labels']['ironclad.swarm/cluster'] == CLUSTER
    assert live['acme-worker-3']['public_net']['firewalls'], 'created without its firewall'
    assert 'acme-worker-3' in inventory(CLUSTER)['swarm_workers']['hosts']
    # a re-run completes it
    result = run('hcloud_provision.yml', decl(hcloud_workers=4))
    assert result.rc == 0, result.out[-3000:]
    assert 'acme-worker-4' in servers(api)
    assert all(r['source_ips'] == sorted_cidrs(api) for r in swarm_rules(firewall(api, 'nodes')))


def test_teardown_needs_the_name_and_then_leaves_nothing(api, run):
    api.clear_requests()
    result = run('hcloud_destroy.yml', {'hcloud_cluster_name': CLUSTER, 'hcloud_confirm_destroy': 'acm'})
    assert result.rc != 0
    assert 'hcloud_confirm_destroy must equal hcloud_cluster_name' in result.out
    assert module_calls(api.requests()) == []
    before = api.state()
    result = run('hcloud_destroy.yml', {'hcloud_cluster_name': CLUSTER, 'hcloud_confirm_destroy': CLUSTER}, token='read-only-token')
    assert result.rc != 0
    assert 'token is read-only' in result.out and 'Nothing was deleted' in result.out
    assert [s['id'] for s in api.state()['servers']] == [s['id'] for s in before['servers']]
    result = run('hcloud_destroy.yml', {'hcloud_cluster_name': CLUSTER, 'hcloud_confirm_destroy': CLUSTER})
    assert result.rc == 0, result.out[-3000:]
    state = api.state()
    assert state['servers'] == [] and state['placement_groups'] == []
    # the user's own firewalls stay
    assert sorted(f['name'] for f in state['firewalls']) == ['ops-by-selector', 'ops-direct']
    result = run('hcloud_destroy.yml', {'hcloud_cluster_name': CLUSTER, 'hcloud_confirm_destroy': CLUSTER})
    assert result.rc == 0 and result.recap()['changed'] == 0
