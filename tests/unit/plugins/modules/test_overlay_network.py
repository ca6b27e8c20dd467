# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.overlay_network against an engine made of outputs recorded on the lab.

FakeAPIClient stands in for docker.APIClient: it answers inspect and list calls with the
recordings under tests/unit/fixtures/docker/docker-VERSION/ and records every call that would change
something. The tests run on each recorded Docker version (recordings.py).
"""

from __future__ import annotations

import copy
import json

import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils.common import docker as common_docker
from ansible_collections.ironclad.swarm.plugins.modules import overlay_network
from module_harness import run_main
from recordings import versions

RECORDINGS = versions('docker')
VXLANID = 'com.docker.network.driver.overlay.vxlanid_list'


class APIError(common_docker.APIError):
    """What the SDK raises for an engine error, with the engine's words as explanation."""

    def __init__(self, explanation):
        super().__init__(explanation, explanation=explanation)


class FakeAPIClient:
    """The lab manager as recorded; mutations are applied to a copy and logged in .calls."""

    def __init__(self, rec, networks=(), services=(), tasks=(), info=None):
        self.rec = rec
        self.calls = []
        self.info_data = info or rec.json('info.json')
        self.swarm = rec.json('swarm.json')
        self.nets = dict((n['Id'], copy.deepcopy(n)) for n in networks)
        self.svcs = dict((s['ID'], copy.deepcopy(s)) for s in services)
        self.task_list = list(tasks)
        self.nodes = dict((n['ID'], n) for n in rec.json('nodes.json'))
        self.created = 0

    # read
    def info(self):
        return self.info_data

    def inspect_swarm(self):
        if not self.info_data['Swarm'].get('ControlAvailable'):
            raise APIError("This node is not a swarm manager.")
        return self.swarm

    def networks(self, names=None):
        found = [n for n in self.nets.values() if not names or any(name in n['Name'] for name in names)]
        return [dict((k, v) for k, v in n.items() if k not in ('Services', 'Peers')) for n in found]

    def inspect_network(self, net_id, verbose=False):
        if net_id not in self.nets:
            raise common_docker.NotFound('network %s not found' % net_id)
        network = copy.deepcopy(self.nets[net_id])
        if not verbose:
            network.pop('Services', None)
            network.pop('Peers', None)
        return network

    def services(self):
        return copy.deepcopy(list(self.svcs.values()))

    def inspect_service(self, service_id):
        return copy.deepcopy(self.svcs[service_id])

    def tasks(self, filters=None):
        assert filters == {'runtime': 'attachment', 'desired-state': 'running'}
        return self.task_list

    def inspect_node(self, node_id):
        return self.nodes[node_id]

    # write
    def create_network(self, name, **kwargs):
        self.calls.append(('create_network', name, kwargs))
        self.created += 1
        network_id = 'new%022d' % self.created
        options = dict(kwargs.get('options') or {})
        options['com.docker.network.driver.overlay.vxlanid_list'] = str(4200 + self.created)
        ipam = kwargs.get('ipam') or {'Config': [{'Subnet': '10.0.%d.0/24' % (100 + self.created),
                                                 'Gateway': '10.0.%d.1' % (100 + self.created)}]}
        self.nets[network_id] = {
            'Name': name, 'Id': network_id, 'Driver': 'overlay', 'Scope': 'swarm',
            'EnableIPv6': bool(kwargs.get('enable_ipv6')), 'Internal': kwargs['internal'],
            'Attachable': kwargs['attachable'], 'Ingress': bool(kwargs.get('ingress')),
            'IPAM': {'Driver': 'default', 'Options': None, 'Config': ipam['Config']},
            'Options': options, 'Labels': kwargs.get('labels'), 'Containers': None,
        }
        return {'Id': network_id, 'Warning': ''}

    def remove_network(self, net_id):
        self.calls.append(('remove_network', net_id))
        for service in self.svcs.values():
            for entry in service['Spec']['TaskTemplate'].get('Networks') or []:
                if entry['Target'] == net_id:
                    raise APIError('rpc error: code = FailedPrecondition desc = network %s is in use by service %s'
                                   % (net_id, service['ID']))
        del self.nets[net_id]

    def update_service(self, service_id, version, **kwargs):
        self.calls.append(('update_service', service_id, version, kwargs))
        service = self.svcs[service_id]
        assert version == service['Version']['Index'], 'stale version'
        spec = service['Spec']
        spec['TaskTemplate'] = dict(kwargs['task_template'], Networks=kwargs['networks'])
        service['Version']['Index'] += 1
        service['UpdateStatus'] = {'State': 'completed', 'StartedAt': str(service['Version']['Index'])}
        return {}


def run_module(monkeypatch, client, args, check_mode=False, diff=False, ip_json=None):
    def run_command(module, argv, **kwargs):
        assert argv == ['ip', '-j', 'address', 'show']
        return 0, json.dumps(ip_json if ip_json is not None else client.rec.json('ip-addr-manager.json')), ''

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(common_docker, 'HAS_DOCKER_SDK', True)
    monkeypatch.setattr(common_docker, 'docker', type('docker', (), {'APIClient': lambda *a, **k: client}))
    monkeypatch.setattr(common_docker.time, 'sleep', lambda seconds: None)
    ok, result = run_main(monkeypatch, overlay_network.main, args, check_mode, diff)
    return ('ok' if ok else 'failed'), result


def changes(client):
    return [call[0] for call in client.calls]


FULL_ARGS = dict(name='fx-full', attachable=True, internal=True, mtu=1400, labels={'team': 'a', 'tier': 'db'},
                 ipam=[{'subnet': '10.50.0.0/24', 'gateway': '10.50.0.1', 'ip_range': '10.50.0.128/25'}])


def full(rec):
    return rec.json('network-full-verbose.json')


def service(rec):
    return rec.json('service-fx-svc.json')


def lab(rec, with_standalone=True, services=None):
    full_network = full(rec)
    networks = [n for n in rec.json('networks.json') if n['Id'] != full_network['Id']] + [full_network]
    tasks = rec.json('tasks-attachment.json') if with_standalone else []
    return FakeAPIClient(rec, networks=networks, services=[service(rec)] if services is None else services, tasks=tasks)


def standalone_host(rec):
    """The node the recorded standalone container on fx-full runs on, as the engine names it."""
    (task,) = [t for t in rec.json('tasks-attachment.json')
               if full(rec)['Id'] in [n['Target'] for n in t['Spec'].get('Networks') or []]]
    (node,) = [n for n in rec.json('nodes.json') if n['ID'] == task['NodeID']]
    return node['Description']['Hostname']


# create and idempotence

@pytest.mark.parametrize('rec', RECORDINGS)
def test_create_in_check_mode_changes_nothing(monkeypatch, rec):
    client = lab(rec)
    status, result = run_module(monkeypatch, client, dict(name='app', ipam=[{'subnet': '172.30.0.0/24'}]),
                                check_mode=True, diff=True)
    assert status == 'ok' and result['changed']
    assert client.calls == []
    assert result['actions'] == ['created network app']
    assert result['network'] == {}
    assert result['encrypted'] is True and result['container_mtu'] == 1424
    assert result['diff']['before'] == {}
    assert result['diff']['after']['ipam'] == [{'subnet': '172.30.0.0/24', 'gateway': None, 'ip_range': None}]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_create_is_encrypted_and_spelt_one_way(monkeypatch, rec):
    client = lab(rec)
    status, result = run_module(monkeypatch, client, dict(name='app', mtu='auto'))
    assert status == 'ok' and result['changed']
    [(call, name, kwargs)] = client.calls
    assert (call, name) == ('create_network', 'app')
    assert kwargs['options'] == {'encrypted': 'true', 'com.docker.network.driver.mtu': '1500'}
    assert kwargs['scope'] == 'swarm' and kwargs['driver'] == 'overlay'
    assert result['network']['Name'] == 'app' and result['encrypted'] is True


@pytest.mark.parametrize('rec', RECORDINGS)
def test_the_recorded_network_declared_as_it_is_is_unchanged(monkeypatch, rec):
    for check_mode in (False, True):
        client = lab(rec)
        status, result = run_module(monkeypatch, client, FULL_ARGS, check_mode=check_mode)
        assert status == 'ok' and not result['changed'], result
        assert client.calls == [] and result['actions'] == [] and result['differences'] == []
        assert result['network']['Id'] == full(rec)['Id']
        assert result['container_mtu'] == 1324


# refusals before any change

@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_typo_fails_before_the_engine_is_asked(monkeypatch, rec):
    client = lab(rec)
    status, result = run_module(monkeypatch, client, dict(name='app', driver_options={'encrytped': 'true'}))
    assert status == 'failed'
    assert result['msg'] == ("driver_options.encrytped is not an option of Docker's overlay driver, which would "
                             "ignore it silently; did you mean 'encrypted'? Use the encrypted option of this module.")
    assert client.calls == [] and not result['changed']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_every_declaration_error_is_reported_at_once(monkeypatch, rec):
    status, result = run_module(monkeypatch, lab(rec), dict(
        name='app', driver_options={'encrypted': ''}, mtu='big', ipam=[{'subnet': '10.20.0.1/24'}]))
    assert status == 'failed'
    assert result['msg'] == (
        "driver_options.encrypted: set it with the encrypted option of this module, not in driver_options (Docker "
        "encrypts whenever the key 'encrypted' is present, whatever its value). mtu: 'big' is neither an integer nor "
        "'auto'. ipam[0].subnet: '10.20.0.1/24' is not a network address (host bits are set); did you mean "
        "'10.20.0.0/24'?")


@pytest.mark.parametrize('rec', RECORDINGS)
def test_overlap_fails_naming_both(monkeypatch, rec):
    client = lab(rec)
    status, result = run_module(monkeypatch, client, dict(name='app', ipam=[{'subnet': '10.50.0.0/25'}]))
    assert status == 'failed' and client.calls == []
    assert result['msg'] == ("ipam[0].subnet 10.50.0.0/25 overlaps 10.50.0.0/24 of the swarm-scoped network "
                             "'fx-full'. ipam[0].subnet 10.50.0.0/25 overlaps the swarm's default address pool "
                             "10.0.0.0/8, from which Docker gives subnets to networks declared without one; choose "
                             "a subnet outside it.")


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_name_taken_by_a_bridge_fails(monkeypatch, rec):
    bridge = rec.json('network-bridge.json')
    client = FakeAPIClient(rec, networks=[bridge])
    status, result = run_module(monkeypatch, client, dict(name='fx-bridge'))
    assert status == 'failed' and client.calls == []
    assert result['msg'] == ("The name 'fx-bridge' is taken by a bridge network of scope local (%s), not a swarm "
                             "overlay network. Choose another name, or remove that network first." % bridge['Id'][:12])


# drift

@pytest.mark.parametrize('rec', RECORDINGS)
def test_drift_with_recreate_never_lists_every_difference(monkeypatch, rec):
    client = lab(rec)
    args = dict(FULL_ARGS, encrypted=False, ipam=[{'subnet': '172.30.5.0/24'}])
    for check_mode in (True, False):
        status, result = run_module(monkeypatch, client, args, check_mode=check_mode)
        assert status == 'failed' and client.calls == [] and not result['changed']
        assert result['msg'] == (
            "Network 'fx-full' differs from its declaration in what Docker cannot change in place: encrypted is true, "
            "declared false; ipam is 10.50.0.0/24 (gateway 10.50.0.1, ip_range 10.50.0.128/25), declared "
            "172.30.5.0/24. Set recreate to safe to recreate it (attached services are detached and attached again "
            "with the same aliases), or change the declaration to match.")
        assert [d['field'] for d in result['differences']] == ['encrypted', 'ipam']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_recreate_safe_refuses_with_a_standalone_container_named(monkeypatch, rec):
    client = lab(rec, with_standalone=True)
    status, result = run_module(monkeypatch, client, dict(FULL_ARGS, ipam=[{'subnet': '172.30.5.0/24'}],
                                                          recreate='safe'))
    assert status == 'failed' and client.calls == []
    assert result['msg'] == (
        "recreate=safe refuses to recreate network 'fx-full': standalone containers are attached and Docker cannot "
        "re-attach them for you: fx-standalone (on node %s). Stop them or disconnect them (docker network "
        "disconnect fx-full CONTAINER), then run again." % standalone_host(rec))


@pytest.mark.parametrize('rec', RECORDINGS)
def test_recreate_safe_detaches_recreates_and_attaches_with_the_same_aliases(monkeypatch, rec):
    args = dict(FULL_ARGS, ipam=[{'subnet': '172.30.5.0/24'}], recreate='safe')
    client = lab(rec, with_standalone=False)
    status, planned = run_module(monkeypatch, client, args, check_mode=True, diff=True)
    assert status == 'ok' and planned['changed'] and client.calls == []
    assert planned['services'] == ['fx-svc']
    assert planned['diff']['before']['ipam'][0]['subnet'] == '10.50.0.0/24'
    assert planned['diff']['after']['ipam'][0]['subnet'] == '172.30.5.0/24'

    status, result = run_module(monkeypatch, client, args)
    assert status == 'ok' and result['changed'], result
    assert changes(client) == ['update_service', 'remove_network', 'create_network', 'update_service']
    assert result['actions'] == planned['actions'] == [
        'detached network fx-full from service fx-svc (aliases: db, db-primary)',
        'removed network fx-full (%s)' % full(rec)['Id'],
        'created network fx-full',
        'attached network fx-full to service fx-svc (aliases: db, db-primary)',
    ]
    new_id = result['network']['Id']
    assert new_id != full(rec)['Id'] and result['network']['IPAM']['Config'][0]['Subnet'] == '172.30.5.0/24'
    recorded = service(rec)
    updated = client.svcs[recorded['ID']]
    assert updated['Spec']['TaskTemplate']['Networks'][-1] == {'Target': new_id, 'Aliases': ['db', 'db-primary']}
    assert updated['Spec']['Mode'] == recorded['Spec']['Mode']
    detach = client.calls[0][3]
    # the service's other network stays attached while fx-full is recreated
    others = [n['Target'] for n in recorded['Spec']['TaskTemplate']['Networks'] if n['Target'] != full(rec)['Id']]
    assert len(others) == 1 and [n['Target'] for n in detach['networks']] == others
    assert detach['mode'] == recorded['Spec']['Mode'] and detach['endpoint_spec'] == recorded['Spec']['EndpointSpec']

    client.calls = []
    status, again = run_module(monkeypatch, client, args)
    assert status == 'ok' and not again['changed'] and client.calls == []


# ingress

@pytest.mark.parametrize('rec', RECORDINGS)
def test_the_ingress_network_needs_ingress_true(monkeypatch, rec):
    client = FakeAPIClient(rec, networks=[rec.json('network-ingress.json')])
    status, result = run_module(monkeypatch, client, dict(name='ingress', encrypted=False))
    assert status == 'failed' and client.calls == []
    assert result['msg'] == "'ingress' is the swarm's ingress network; declare it with ingress: true to manage it."


@pytest.mark.parametrize('rec', versions('docker', only=['20.10']))
def test_a_stale_ingress_copy_is_ignored_with_a_warning(monkeypatch, rec):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda module, msg: warnings.append(msg))
    client = FakeAPIClient(rec, networks=rec.json('networks-stale-ingress.json'))
    status, result = run_module(monkeypatch, client, dict(name='ingress', ingress=True, encrypted=False, mtu=1500))
    assert status == 'ok' and not result['changed'] and client.calls == []
    assert result['network']['Id'].startswith('lcujirwkb3iz')
    assert len(warnings) == 1 and warnings[0].startswith("Network 'ingress' (fy6mj58kw2rh")


@pytest.mark.parametrize('rec', RECORDINGS)
def test_recreating_the_ingress_unpublishes_and_republishes_ports(monkeypatch, rec):
    published = copy.deepcopy(service(rec))
    published['Spec']['TaskTemplate']['Networks'] = []
    published['Spec']['EndpointSpec'] = {'Mode': 'vip', 'Ports': [
        {'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 8080, 'PublishMode': 'ingress'}]}
    ingress = rec.json('network-ingress.json')
    client = FakeAPIClient(rec, networks=[ingress], services=[published])
    status, result = run_module(monkeypatch, client, dict(name='ingress', ingress=True, mtu=1450, recreate='safe',
                                                          ipam=[{'subnet': '172.27.0.0/24'}]))
    assert status == 'ok' and result['changed'], result
    assert result['actions'] == [
        'unpublished the routing-mesh ports of service fx-svc',
        'removed network ingress (%s)' % ingress['Id'],
        'created network ingress',
        'published the ports of service fx-svc again',
    ]
    [create] = [call for call in client.calls if call[0] == 'create_network']
    assert create[2]['ingress'] is True and create[2]['check_duplicate'] is False
    assert create[2]['options']['encrypted'] == 'true'
    unpublish, republish = [call[3] for call in client.calls if call[0] == 'update_service']
    assert unpublish['endpoint_spec']['Ports'] == []
    assert republish['endpoint_spec'] == published['Spec']['EndpointSpec']


# absent

@pytest.mark.parametrize('rec', RECORDINGS)
def test_absent_refuses_while_in_use(monkeypatch, rec):
    client = lab(rec, with_standalone=True)
    status, result = run_module(monkeypatch, client, dict(name='fx-full', state='absent'))
    assert status == 'failed' and client.calls == []
    assert result['msg'] == ("Network 'fx-full' is still in use, remove it from these first: service fx-svc, "
                             "fx-standalone (on node %s)." % standalone_host(rec))


@pytest.mark.parametrize('rec', RECORDINGS)
def test_absent_removes_once(monkeypatch, rec):
    client = lab(rec, with_standalone=False, services=())
    status, result = run_module(monkeypatch, client, dict(name='fx-full', state='absent'), check_mode=True, diff=True)
    assert status == 'ok' and result['changed'] and client.calls == []
    assert result['diff']['after'] == {} and result['diff']['before']['name'] == 'fx-full'
    status, result = run_module(monkeypatch, client, dict(name='fx-full', state='absent'))
    assert status == 'ok' and result['changed'] and changes(client) == ['remove_network']
    status, result = run_module(monkeypatch, client, dict(name='fx-full', state='absent'))
    assert status == 'ok' and not result['changed']


# engine errors

@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_worker_is_refused(monkeypatch, rec):
    info = dict(rec.json('info.json'), Swarm=rec.json('info-swarm-worker.json'))
    client = FakeAPIClient(rec, info=info)
    status, result = run_module(monkeypatch, client, dict(name='app'))
    assert status == 'failed'
    assert result['msg'] == (
        'This node (%s) is a swarm worker; networks can only be managed on a manager. Run the task on a host '
        'of the managers group (the networks role uses the first host of networks_managers_group).'
        % rec.json('info-swarm-worker.json')['NodeAddr'])


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_node_outside_any_swarm_is_refused(monkeypatch, rec):
    info = dict(rec.json('info.json'), Swarm={'LocalNodeState': 'inactive', 'ControlAvailable': False})
    status, result = run_module(monkeypatch, FakeAPIClient(rec, info=info), dict(name='app'))
    assert status == 'failed'
    assert result['msg'] == ('This node is not an active swarm member (LocalNodeState: inactive). Run the '
                             'ironclad.swarm.cluster role first, and run this module on a swarm manager.')


def test_an_unreachable_engine_says_where_it_looked(monkeypatch):
    def refuse(*args, **kwargs):
        raise common_docker.DockerException('Error while fetching server API version: connection refused')

    monkeypatch.setattr(common_docker, 'HAS_DOCKER_SDK', True)
    monkeypatch.setattr(common_docker, 'docker', type('docker', (), {'APIClient': staticmethod(refuse)}))
    ok, result = run_main(monkeypatch, overlay_network.main, dict(name='app', docker_host='unix:///run/nothing.sock'))
    assert not ok
    assert result['msg'] == (
        'Cannot reach the Docker Engine at unix:///run/nothing.sock: Error while fetching server API version: '
        'connection refused. Is dockerd running on this host, and may this user use its socket (run as root or with '
        'become)?')


def test_a_missing_sdk_is_reported_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(common_docker, 'HAS_DOCKER_SDK', False)
    ok, result = run_main(monkeypatch, overlay_network.main, dict(name='app'))
    assert not ok
    assert result['msg'].startswith(
        'Failed to import the required Python library (docker (the Docker SDK for Python; Debian package '
        'python3-docker))')


# a network the swarm does not allocate (Docker 28.5 with an IPv6 subnet)

class UnallocatingAPIClient(FakeAPIClient):
    """Docker 28.5's answer to an overlay network with an IPv6 subnet: the create succeeds, the swarm allocator
    fails ("cannot find address pool for poolID:fd00:51::/64/invalid Prefix"), and the engine keeps the network
    as recorded in fixtures/docker/docker-28.5/network-ipv6.json: no driver, no subnet, no options."""

    def create_network(self, name, **kwargs):
        self.calls.append(('create_network', name, kwargs))
        left = copy.deepcopy(self.rec.json('network-ipv6.json'))
        left.update(Name=name, Id='unallocated%014d' % len(self.calls))
        self.nets[left['Id']] = left
        return {'Id': left['Id'], 'Warning': ''}


IPV6_ARGS = dict(name='app6', timeout=1, ipam=[{'subnet': '172.30.6.0/24'}, {'subnet': 'fd00:6::/64'}])


@pytest.mark.parametrize('rec', versions('docker', only=['20.10', '26.1']))
def test_an_ipv6_subnet_is_allocated_before_docker_28(monkeypatch, rec):
    # 20.10 and 26.1 allocated the recorded IPv6 network: both subnets and two VXLAN ids
    recorded = rec.json('network-ipv6.json')
    assert len(recorded['IPAM']['Config']) == 2 and len(recorded['Options'][VXLANID].split(',')) == 2
    client = lab(rec)
    status, result = run_module(monkeypatch, client, IPV6_ARGS)
    assert status == 'ok' and result['changed'] and result['encrypted'] is True
    assert changes(client) == ['create_network']


@pytest.mark.parametrize('rec', versions('docker', only=['28.5']))
def test_a_network_the_swarm_did_not_allocate_is_removed_and_the_run_fails(monkeypatch, rec):
    recorded = rec.json('network-ipv6.json')
    assert recorded['Driver'] == '' and recorded['IPAM']['Config'] is None and recorded['Options'] is None
    client = UnallocatingAPIClient(rec, networks=rec.json('networks.json'))
    status, result = run_module(monkeypatch, client, IPV6_ARGS)
    assert status == 'failed'
    assert changes(client) == ['create_network', 'remove_network']
    assert 'app6' not in [n['Name'] for n in client.nets.values()]
    new_id = client.calls[1][1]
    assert result['msg'] == (
        "Docker created network 'app6' (%s), but the swarm did not allocate it within 1 seconds: no driver, subnet or "
        "VXLAN id, so no task could use it (the manager's log says why: 'Failed allocation for network %s'). It was "
        "removed again. Docker 28.5 (seen on this collection's lab) and later versions cannot allocate IPv6 subnets "
        "for swarm overlay networks (moby/moby#52469): declare IPv4 subnets only." % (new_id, new_id))


@pytest.mark.parametrize('rec', versions('docker', only=['28.5']))
def test_an_unallocated_network_left_by_docker_is_named_and_can_be_removed(monkeypatch, rec):
    left = rec.json('network-ipv6.json')
    client = FakeAPIClient(rec, networks=[left])
    status, result = run_module(monkeypatch, client, dict(name=left['Name'], ipam=[{'subnet': '172.30.6.0/24'}]))
    assert status == 'failed' and client.calls == []
    assert result['msg'].startswith("Network '%s' (%s) exists but the swarm never allocated it: it has no driver, "
                                    "subnet or VXLAN id" % (left['Name'], left['Id']))
    assert result['msg'].endswith('declare IPv4 subnets only.')
    status, result = run_module(monkeypatch, client, dict(name=left['Name'], state='absent'))
    assert status == 'ok' and result['changed'] and changes(client) == ['remove_network']
