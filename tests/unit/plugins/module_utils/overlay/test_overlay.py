# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""overlay/options.py (validation), network_diff.py (canonical form and differences) and attachments.py,
driven by `docker network inspect` recorded on the lab.

Tests that read recordings run on each Docker version (fixtures/docker/docker-*/, recordings.py).
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import attachments as overlay_attachments
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import network_diff as overlay_diff
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import options as overlay_options
from recordings import versions

RECORDINGS = versions('docker')
VXLANID = overlay_options.VXLANID_KEY


def fixture(rec, name):
    return rec.json(name + '.json')


def declared(**params):
    """A declaration as the module passes it: its defaults, then params."""
    base = dict(encrypted=True, attachable=False, internal=False, ingress=False, ipam=None,
                labels=None, driver_options={})
    base.update(params)
    if base['ipam'] is not None:
        base['ipam'] = overlay_options.parse_ipam(base['ipam'])
    return overlay_diff.canonical_desired(base, base.pop('mtu', None))


# Docker's encrypted option: only its presence counts

@pytest.mark.parametrize('recording, encrypted, stored', [
    ('network-encrypted-opt-empty', True, ''),      # docker network create --opt encrypted
    ('network-encrypted-opt-true', True, 'true'),   # --opt encrypted=true
    ('network-encrypted-opt-false', True, 'false'),  # --opt encrypted=false: still encrypted
    ('network-encrypted-typo', False, None),         # --opt encrytped=true: silently plain
    ('network-plain', False, None),
])
@pytest.mark.parametrize('rec', RECORDINGS)
def test_encryption_is_read_from_the_key_presence(rec, recording, encrypted, stored):
    network = fixture(rec, recording)
    assert network['Options'].get('encrypted') == stored
    assert overlay_options.is_encrypted(network['Options']) is encrypted
    assert overlay_diff.canonical_live(network)['encrypted'] is encrypted


@pytest.mark.parametrize('recording', ['network-encrypted-opt-empty', 'network-encrypted-opt-true',
                                       'network-encrypted-opt-false'])
@pytest.mark.parametrize('rec', RECORDINGS)
def test_every_spelling_of_encrypted_matches_an_encrypted_declaration(rec, recording):
    live = overlay_diff.canonical_live(fixture(rec, recording))
    assert overlay_diff.differences(declared(), live) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_network_made_with_a_typo_is_reported_plain_and_with_the_stray_option(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-encrypted-typo'))
    assert overlay_diff.differences(declared(), live) == [
        ('encrypted', False, True),
        ('driver_options', {'encrytped': 'true'}, {}),
    ]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_encrypted_false_on_an_encrypted_network_is_drift(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-encrypted-opt-true'))
    found = overlay_diff.differences(declared(encrypted=False), live)
    assert found == [('encrypted', True, False)]
    assert overlay_diff.describe_differences(found) == 'encrypted is true, declared false'


# canonical form of a full recording

@pytest.mark.parametrize('rec', RECORDINGS)
def test_canonical_live_of_a_network_with_every_field_set(rec):
    network = fixture(rec, 'network-full-verbose')
    live = overlay_diff.canonical_live(network)
    # the VNI is whatever the swarm allocated in that recording
    vni = network['Options'][VXLANID]
    assert vni.isdigit() and int(vni) > 4097
    assert live == {
        'driver': 'overlay',
        'scope': 'swarm',
        'encrypted': True,
        'attachable': True,
        'internal': True,
        'ingress': False,
        'ipv6': False,
        'ipam': [{'subnet': '10.50.0.0/24', 'gateway': '10.50.0.1', 'ip_range': '10.50.0.128/25'}],
        'mtu': 1400,
        'labels': {'team': 'a', 'tier': 'db'},
        'driver_options': {VXLANID: vni},
    }


@pytest.mark.parametrize('rec', RECORDINGS)
def test_the_same_declaration_twice_has_no_difference(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-full-verbose'))
    wanted = declared(attachable=True, internal=True, mtu=1400, labels={'team': 'a', 'tier': 'db'},
                      ipam=[{'subnet': '10.50.0.0/24', 'gateway': '10.50.0.1', 'ip_range': '10.50.0.128/25'}])
    assert overlay_diff.differences(wanted, live) == []
    assert overlay_diff.differences(wanted, live) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_unset_fields_are_not_compared_but_set_ones_are(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-full-verbose'))
    # No ipam, mtu or labels declared: Docker's choices stand.
    found = overlay_diff.differences(declared(attachable=True, internal=True), live)
    assert found == []
    found = overlay_diff.differences(declared(attachable=True, internal=True, mtu=1450, labels={}), live)
    assert found == [('mtu', 1400, 1450), ('labels', {'team': 'a', 'tier': 'db'}, {})]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_every_difference_is_listed_in_field_order(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-full-verbose'))
    found = overlay_diff.differences(declared(ipam=[{'subnet': '10.60.0.0/24'}]), live)
    assert [field for field, _have, _want in found] == ['attachable', 'internal', 'ipam']
    assert overlay_diff.describe_differences(found) == (
        'attachable is true, declared false; internal is true, declared false; '
        'ipam is 10.50.0.0/24 (gateway 10.50.0.1, ip_range 10.50.0.128/25), declared 10.60.0.0/24')


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_missing_mtu_option_means_dockers_1500(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-plain'))
    assert live['mtu'] == 1500
    assert overlay_diff.differences(declared(encrypted=False, mtu=1500), live) == []


@pytest.mark.parametrize('rec', versions('docker', only=['20.10', '26.1']))
def test_ipv6_spelt_differently_is_the_same_subnet(rec):
    network = fixture(rec, 'network-ipv6')
    live = overlay_diff.canonical_live(network)
    assert live['ipv6'] is True and len(network['Options'][VXLANID].split(',')) == 2
    # 20.10's recording is of an encrypted network, the later ones of a plain one
    wanted = declared(encrypted=live['encrypted'], ipam=[{'subnet': 'fd00:51:0:0::/64'}, {'subnet': '10.51.0.0/24'}])
    assert wanted['ipv6'] is True
    assert overlay_diff.differences(wanted, live) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_declared_vxlan_id_list_is_compared_an_allocated_one_is_not(rec):
    network = fixture(rec, 'network-encrypted-opt-true')
    live = overlay_diff.canonical_live(network)
    assert overlay_diff.differences(declared(), live) == []
    wanted = declared(driver_options={VXLANID: '5000'})
    assert overlay_diff.differences(wanted, live) == [
        ('driver_options', {VXLANID: network['Options'][VXLANID]}, {VXLANID: '5000'})]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_the_ingress_network_is_recognised(rec):
    live = overlay_diff.canonical_live(fixture(rec, 'network-ingress'))
    assert live['ingress'] is True
    assert live['encrypted'] is False
    assert overlay_diff.differences(declared(ingress=True), live) == [('encrypted', False, True)]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_docker_28_does_not_allocate_an_ipv6_subnet(rec):
    # the same `docker network create --ipv6 --subnet 10.51.0.0/24 --subnet fd00:51::/64` on each version
    network = fixture(rec, 'network-ipv6')
    allocated = rec.version != '28.5'
    assert overlay_options.is_allocated(network) is allocated
    if not allocated:
        # what the engine keeps after "Failed allocation for network ...: cannot find address pool"
        assert (network['Driver'], network['IPAM']['Config'], network['Options']) == ('', None, None)
        assert network['EnableIPv6'] is True


# driver_options validation

@pytest.mark.parametrize('key, message', [
    ('encrytped', "driver_options.encrytped is not an option of Docker's overlay driver, which would ignore it "
                  "silently; did you mean 'encrypted'? Use the encrypted option of this module."),
    ('encryption', "driver_options.encryption is not an option of Docker's overlay driver, which would ignore it "
                   "silently; did you mean 'encrypted'? Use the encrypted option of this module."),
    ('com.docker.network.driver.mut', "driver_options.com.docker.network.driver.mut is not an option of Docker's "
                                      "overlay driver, which would ignore it silently; did you mean "
                                      "'com.docker.network.driver.mtu'? Use the mtu option of this module."),
    ('vxlanid_lst', "driver_options.vxlanid_lst is not an option of Docker's overlay driver, which would ignore it "
                    "silently; did you mean 'com.docker.network.driver.overlay.vxlanid_list'?"),
    ('colour', "driver_options.colour is not an option of Docker's overlay driver, which would ignore it silently; "
               "known driver options: com.docker.network.driver.overlay.vxlanid_list, "
               "com.docker.network.container_iface_prefix."),
    ('encrypted', "driver_options.encrypted: set it with the encrypted option of this module, not in "
                  "driver_options (Docker encrypts whenever the key 'encrypted' is present, whatever its value)."),
    ('com.docker.network.driver.mtu', "driver_options.com.docker.network.driver.mtu: set it with the mtu option "
                                      "of this module, not in driver_options."),
])
def test_driver_option_errors_name_the_key_and_the_fix(key, message):
    assert overlay_options.validate_driver_options({key: 'x'}) == [message]


def test_known_driver_options_pass():
    assert overlay_options.validate_driver_options({
        'com.docker.network.driver.overlay.vxlanid_list': '4200',
        'com.docker.network.container_iface_prefix': 'ov'}) == []
    assert overlay_options.validate_driver_options({}) == []
    assert overlay_options.validate_driver_options(None) == []


# ipam validation

@pytest.mark.parametrize('entries, message', [
    ([{'subnet': '10.20.0.1/24'}],
     "ipam[0].subnet: '10.20.0.1/24' is not a network address (host bits are set); did you mean '10.20.0.0/24'?"),
    ([{'subnet': 'ten.twenty/24'}], "ipam[0].subnet: 'ten.twenty/24' is not an IPv4 or IPv6 network in CIDR notation."),
    ([{'subnet': '10.20.0.0/24', 'gateway': '10.21.0.1'}], 'ipam[0].gateway: 10.21.0.1 is outside its subnet 10.20.0.0/24.'),
    ([{'subnet': '10.20.0.0/24', 'gateway': '10.20.0.0'}],
     'ipam[0].gateway: 10.20.0.0 is the network or broadcast address of 10.20.0.0/24; pick a host address.'),
    ([{'subnet': '10.20.0.0/24', 'ip_range': '10.20.1.0/25'}], 'ipam[0].ip_range: 10.20.1.0/25 is not inside its subnet 10.20.0.0/24.'),
    ([{'subnet': '10.20.0.0/24'}, {'subnet': '10.20.0.128/25'}], 'ipam[0].subnet 10.20.0.0/24 overlaps ipam[1].subnet 10.20.0.128/25.'),
    ([{'subnet': 'fd00:1::/64'}], 'ipam: an overlay network needs an IPv4 subnet; add one next to fd00:1::/64.'),
])
def test_ipam_errors_name_the_field(entries, message):
    with pytest.raises(overlay_options.OverlayError) as error:
        overlay_options.parse_ipam(entries)
    assert str(error.value) == message


def test_ipam_is_canonical_and_sorted():
    assert overlay_options.parse_ipam([
        {'subnet': 'FD00:0051:0::/64', 'gateway': 'fd00:51::1'},
        {'subnet': '10.51.0.0/24', 'ip_range': '10.51.0.128/25'},
    ]) == [
        {'subnet': '10.51.0.0/24', 'gateway': None, 'ip_range': '10.51.0.128/25'},
        {'subnet': 'fd00:51::/64', 'gateway': 'fd00:51::1', 'ip_range': None},
    ]
    assert overlay_options.parse_ipam(None) is None


@pytest.mark.parametrize('value, parsed', [(None, None), ('auto', 'auto'), ('AUTO', 'auto'), (1450, 1450), ('1450', 1450)])
def test_mtu_values(value, parsed):
    assert overlay_options.parse_mtu(value) == parsed


@pytest.mark.parametrize('value, message', [
    ('1400bytes', "mtu: '1400bytes' is neither an integer nor 'auto'."),
    (True, "mtu: True is neither an integer nor 'auto'."),
    (100, "mtu: 100 is out of range; give the underlay (data-path interface) MTU, between 144 and 65535, or 'auto'. "
          "Docker subtracts the VXLAN and ESP overhead itself."),
])
def test_mtu_errors(value, message):
    with pytest.raises(overlay_options.OverlayError) as error:
        overlay_options.parse_mtu(value)
    assert str(error.value) == message


# overlaps, with the lab's network list and default address pool

@pytest.mark.parametrize('rec', RECORDINGS)
def test_overlap_with_another_network_names_both(rec):
    networks = fixture(rec, 'networks')
    errors = overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '10.50.0.0/25'}]), networks, [])
    assert errors == ["ipam[0].subnet 10.50.0.0/25 overlaps 10.50.0.0/24 of the swarm-scoped network 'fx-full'."]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_overlap_with_a_local_bridge_is_found_too(rec):
    errors = overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '172.17.0.0/24'}]), fixture(rec, 'networks'), [])
    assert errors == ["ipam[0].subnet 172.17.0.0/24 overlaps 172.17.0.0/16 of the local-scoped network 'bridge'."]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_overlap_with_the_default_address_pool(rec):
    pools = fixture(rec, 'swarm')['DefaultAddrPool']
    assert pools == ['10.0.0.0/8']
    errors = overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '10.250.0.0/24'}]), [], pools)
    assert errors == ["ipam[0].subnet 10.250.0.0/24 overlaps the swarm's default address pool 10.0.0.0/8, from "
                      "which Docker gives subnets to networks declared without one; choose a subnet outside it."]


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_network_keeps_its_own_subnet(rec):
    networks = fixture(rec, 'networks')
    own = [n['Id'] for n in networks if n['Name'] == 'fx-full']
    assert overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '10.50.0.0/24'}]), networks, [], own) == []
    # a subnet the network already holds inside the pool is reserved there: no error on a re-run
    assert overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '10.50.0.0/24'}]), networks, ['10.0.0.0/8'],
                                          own) == []
    assert len(overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '10.50.1.0/24'}]), networks, ['10.0.0.0/8'],
                                              own)) == 1
    assert overlay_options.check_overlaps(overlay_options.parse_ipam([{'subnet': '172.30.0.0/24'}]), networks, ['10.0.0.0/8']) == []


# MTU as Docker applies it (measured on the lab: 1400 gives 1350 plain, 1324 encrypted)

@pytest.mark.parametrize('network_mtu, encrypted, expected', [
    (1400, False, 1350), (1400, True, 1324), (None, False, 1450), (None, True, 1424), (1450, True, 1372)])
def test_container_mtu(network_mtu, encrypted, expected):
    assert overlay_options.container_mtu(network_mtu, encrypted) == expected


@pytest.mark.parametrize('rec', RECORDINGS)
def test_mtu_auto_reads_the_interface_holding_the_swarm_address(rec):
    interfaces = fixture(rec, 'ip-addr-manager')
    assert overlay_attachments.interface_for_address(interfaces, fixture(rec, 'info')['Swarm']['NodeAddr']) == ('eth0', 1500)
    assert overlay_attachments.interface_for_address(interfaces, '192.0.2.1') is None


# creation arguments

def test_create_arguments_spell_encryption_one_way():
    wanted = declared(mtu=1450, labels={'a': 'b'},
                      ipam=[{'subnet': '10.51.0.0/24', 'gateway': '10.51.0.1'}, {'subnet': 'fd00:51::/64'}])
    assert overlay_diff.create_arguments(wanted) == {
        'driver': 'overlay',
        'options': {'encrypted': 'true', 'com.docker.network.driver.mtu': '1450'},
        'internal': False,
        'attachable': False,
        'scope': 'swarm',
        'labels': {'a': 'b'},
        'check_duplicate': True,
        'ipam': {'Driver': 'default', 'Options': {},
                 'Config': [{'Subnet': '10.51.0.0/24', 'Gateway': '10.51.0.1'}, {'Subnet': 'fd00:51::/64'}]},
        'enable_ipv6': True,
    }
    plain = overlay_diff.create_arguments(declared(encrypted=False))
    assert 'encrypted' not in plain['options'] and 'ipam' not in plain


@pytest.mark.parametrize('rec', RECORDINGS)
def test_allocation_is_seen_in_the_recorded_network(rec):
    assert overlay_options.is_allocated(fixture(rec, 'network-plain'))
    assert not overlay_options.is_allocated({'Options': {}, 'IPAM': {'Config': []}})


# services and standalone containers

@pytest.mark.parametrize('rec', RECORDINGS)
def test_service_detach_and_attach_keep_everything_else(rec):
    network = fixture(rec, 'network-full-verbose')
    service = fixture(rec, 'service-fx-svc')
    [(found, entry)] = overlay_attachments.service_attachments([service], network)
    assert found is service
    assert entry == {'Target': network['Id'], 'Aliases': ['db', 'db-primary']}

    detached = overlay_attachments.spec_without_network(service['Spec'], network)
    assert [n['Target'] for n in detached['TaskTemplate']['Networks']] == [
        n['Target'] for n in service['Spec']['TaskTemplate']['Networks'] if n['Target'] != network['Id']]
    attached = overlay_attachments.spec_with_network(detached, entry, 'newnetworkid')
    assert attached['TaskTemplate']['Networks'][-1] == {'Target': 'newnetworkid', 'Aliases': ['db', 'db-primary']}
    assert set(attached) == set(service['Spec'])
    for key in set(service['Spec']) - set(['TaskTemplate']):
        assert attached[key] == service['Spec'][key]
    assert set(attached['TaskTemplate']) == set(service['Spec']['TaskTemplate'])
    for key in set(service['Spec']['TaskTemplate']) - set(['Networks']):
        assert attached['TaskTemplate'][key] == service['Spec']['TaskTemplate'][key]
    # the recorded spec itself is untouched
    assert len(service['Spec']['TaskTemplate']['Networks']) == 2


@pytest.mark.parametrize('rec', RECORDINGS)
def test_a_service_not_on_the_network_is_not_attached(rec):
    assert overlay_attachments.service_attachments([fixture(rec, 'service-fx-svc')], fixture(rec, 'network-encrypted-opt-true')) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_standalone_containers_are_found_through_attachment_tasks(rec):
    network = fixture(rec, 'network-full-verbose')
    tasks = overlay_attachments.attachment_tasks(fixture(rec, 'tasks-attachment'), network['Id'])
    assert len(tasks) == 1
    names = overlay_attachments.verbose_container_names(network)
    assert [names.get(address) for address in overlay_attachments.task_addresses(tasks[0])] == ['fx-standalone']
    assert overlay_attachments.attachment_tasks(fixture(rec, 'tasks-attachment'), fixture(rec, 'network-plain')['Id']) == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_ingress_publishing_services(rec):
    service = fixture(rec, 'service-fx-svc')
    assert overlay_attachments.services_publishing_ingress([service]) == []
    published = json.loads(json.dumps(service))
    published['Spec']['EndpointSpec'] = {'Mode': 'vip', 'Ports': [
        {'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 8080, 'PublishMode': 'ingress'},
        {'Protocol': 'tcp', 'TargetPort': 81, 'PublishedPort': 8081, 'PublishMode': 'host'}]}
    assert overlay_attachments.services_publishing_ingress([published]) == [published]
    assert overlay_attachments.spec_without_ingress_ports(published['Spec'])['EndpointSpec']['Ports'] == [
        {'Protocol': 'tcp', 'TargetPort': 81, 'PublishedPort': 8081, 'PublishMode': 'host'}]


@pytest.mark.parametrize('rec', versions('docker', only=['20.10']))
def test_a_removed_ingress_still_listed_is_told_from_the_current_one(rec):
    # Recorded on a manager after replacing the ingress network with no service publishing a port:
    # the node lists the old ingress until a task needs the routing mesh there.
    listed = fixture(rec, 'networks-stale-ingress')
    assert [n['Name'] for n in listed] == ['ingress', 'ingress']
    current, stale = overlay_diff.newest(listed)
    assert current['Id'].startswith('lcujirwkb3iz')
    assert [n['Id'][:12] for n in stale] == ['fy6mj58kw2rh']
    assert overlay_diff.newest([]) == (None, [])


def test_created_timestamps_with_fewer_fraction_digits_sort_right():
    # Docker drops trailing zeros: .88 is 880000000 ns, earlier than .8802.
    earlier = {'Id': 'a', 'Created': '2026-11-22T03:25:05.88Z'}
    later = {'Id': 'b', 'Created': '2026-11-22T03:25:05.8802Z'}
    assert overlay_diff.newest([earlier, later]) == (later, [earlier])
    assert overlay_diff.newest([later, earlier]) == (later, [earlier])
