# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""networks_overlay resolved once (module_utils/overlay/declaration.py) for the networks, firewall and watch roles.

Realistic input is read where the users' declarations live: the molecule scenarios' converge vars and the
YAML examples of README.md and docs/networks.md. The messages are those the networks role's validate.yml
gave before it asked this module.
"""

from __future__ import annotations

import os
import re

import pytest
import yaml

from ansible_collections.ironclad.swarm.plugins.module_utils import _audit_rules as rules
from ansible_collections.ironclad.swarm.plugins.module_utils import _overlay
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import declaration

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..'))
UNKNOWN = ("is not an option of Docker's overlay driver, which would ignore it silently; known: "
           "com.docker.network.driver.overlay.vxlanid_list, com.docker.network.container_iface_prefix. "
           "Encryption is the entry's encrypted field (default true).")


def scenario(name):
    """networks_overlay of a molecule scenario's converge vars ([] when it declares none)."""
    with open(os.path.join(REPO, 'molecule', name, 'molecule.yml')) as handle:
        config = yaml.safe_load(handle)
    return config['provisioner']['inventory']['group_vars']['all'].get('networks_overlay', [])


def examples(path):
    """networks_overlay of every YAML example in a document that sets it."""
    with open(os.path.join(REPO, path)) as handle:
        blocks = re.findall(r'```yaml\n(.*?)```', handle.read(), re.S)
    found = []
    for block in blocks:
        data = yaml.safe_load(block)
        if isinstance(data, dict) and 'networks_overlay' in data:
            found.append(data['networks_overlay'])
    return found


def errors(*networks):
    return declaration.resolve(list(networks))['errors']


# the lab's and the documentation's declarations

def test_the_default_scenario():
    resolved = declaration.resolve(scenario('default'))
    assert resolved['present'] == ['mol-encrypted', 'mol-plain'] and resolved['absent'] == []
    assert (resolved['encrypted'], resolved['plain']) == (['mol-encrypted'], ['mol-plain'])
    assert (resolved['ingress'], resolved['declares_ingress'], resolved['errors']) == (None, False, [])
    encrypted, plain = resolved['networks']
    assert encrypted == {'name': 'mol-encrypted', 'state': 'present', 'encrypted': True, 'attachable': False,
                         'internal': False, 'ingress': False, 'ipam': [{'subnet': '172.28.100.0/24'}], 'ipv6': False,
                         'mtu': 'auto', 'labels': {'purpose': 'molecule'}}
    assert (plain['encrypted'], plain['attachable'], plain['mtu']) == (False, True, None)


def test_the_encryption_scenario():
    resolved = declaration.resolve(scenario('encryption'))
    assert (resolved['encrypted'], resolved['plain'], resolved['errors']) == (['vm-enc'], ['vm-plain'], [])


def test_a_scenario_without_networks():
    assert declaration.resolve(scenario('ha')) == {
        'networks': [], 'present': [], 'absent': [], 'encrypted': [], 'plain': [], 'ingress': None,
        'declares_ingress': False, 'errors': []}


def test_the_readme_example():
    (readme,) = examples('README.md')
    resolved = declaration.resolve(readme)
    assert (resolved['encrypted'], resolved['plain'], resolved['errors']) == (['backend', 'db'], ['metrics'], [])
    assert resolved['networks'][2]['recreate'] == 'safe'  # keys without a default are kept as written


def test_the_networks_guide_example_declares_an_encrypted_ingress():
    (guide,) = examples('docs/networks.md')
    resolved = declaration.resolve(guide)
    assert (resolved['ingress'], resolved['declares_ingress'], resolved['errors']) == ('ingress', True, [])
    assert resolved['encrypted'] == ['backend', 'frontend', 'ingress'] and resolved['plain'] == ['metrics']
    assert [network['ingress'] for network in resolved['networks']] == [False, False, False, True]


def test_nothing_declared():
    assert declaration.resolve(None) == declaration.resolve([])


def test_not_a_list_is_refused():
    with pytest.raises(declaration.DeclarationError, match='networks_overlay must be a list, got dict'):
        declaration.resolve({'name': 'app'})


# the encryption default

def test_a_network_is_encrypted_unless_it_says_otherwise():
    resolved = declaration.resolve([{'name': 'a'}, {'name': 'b', 'encrypted': True}, {'name': 'c', 'encrypted': False}])
    assert [network['encrypted'] for network in resolved['networks']] == [True, True, False]
    assert (resolved['encrypted'], resolved['plain']) == (['a', 'b'], ['c'])


@pytest.mark.parametrize('value, encrypted', [
    (False, False), ('false', False), ('no', False), (' Off ', False), ('0', False), (0, False),
    (True, True), ('yes', True), ('true', True), (1, True),
    (None, False),  # as the module: an explicit null is not its default, and bool(None) is plain
])
def test_encrypted_as_the_module_reads_it(value, encrypted):
    assert declaration.resolve([{'name': 'a', 'encrypted': value}])['networks'][0]['encrypted'] is encrypted


def test_a_network_declared_absent_is_neither_encrypted_nor_plain():
    resolved = declaration.resolve([{'name': 'a'}, {'name': 'b', 'state': 'absent', 'encrypted': False},
                                    {'name': 'c', 'state': None, 'encrypted': False}])
    assert (resolved['present'], resolved['absent']) == (['a', 'c'], ['b'])
    assert (resolved['encrypted'], resolved['plain']) == (['a'], ['c'])
    assert [network['state'] for network in resolved['networks']] == ['present', 'absent', 'present']


def test_the_audit_reads_the_same_default():
    """SwarmJudge keeps, per declared network, what resolve() says about its encryption."""
    declared = scenario('default') + scenario('encryption') + [{'name': 'gone', 'state': 'absent'},
                                                               {'name': 'null', 'encrypted': None}]
    resolved = declaration.resolve(declared)
    judge = rules.SwarmJudge([], None, None, None, declared, {})
    assert judge.declared == dict([(name, True) for name in resolved['encrypted']]
                                  + [(name, False) for name in resolved['plain']])


# the resolved fields

def test_the_fields_with_an_option_of_their_own_are_resolved():
    network = declaration.resolve([{'name': 'a', 'mtu': '1450', 'internal': 'yes',
                                    'ipam': [{'subnet': '10.9.0.0/24'}, {'subnet': 'fd00:9::/64'}]}])['networks'][0]
    assert (network['encrypted'], network['mtu'], network['internal'], network['ipv6']) == (True, 1450, True, True)


def test_an_mtu_that_is_not_valid_is_kept_as_written():
    resolved = declaration.resolve([{'name': 'a', 'mtu': 'big'}])
    assert resolved['networks'][0]['mtu'] == 'big'
    assert resolved['errors'] == ["networks_overlay[0] (a): mtu: 'big' is neither an integer nor 'auto'."]


def test_an_entry_that_is_not_a_dict_is_left_out_and_named():
    resolved = declaration.resolve([{'name': 'a'}, 'b'])
    assert resolved['present'] == ['a']
    assert resolved['errors'] == [
        "networks_overlay[1]: 'b' is not a dict; give each network as a dict with at least a name."]


# ingress

def test_a_declared_ingress():
    resolved = declaration.resolve([{'name': 'app'}, {'name': 'ingress', 'ingress': True, 'ipam': [{'subnet': '10.0.0.0/24'}]}])
    assert (resolved['ingress'], resolved['declares_ingress'], resolved['errors']) == ('ingress', True, [])
    assert resolved['encrypted'] == ['app', 'ingress'] and resolved['plain'] == []


def test_a_plain_ingress_is_plain():
    resolved = declaration.resolve([{'name': 'ingress', 'ingress': True, 'encrypted': False}])
    assert (resolved['declares_ingress'], resolved['plain']) == (True, ['ingress'])


def test_an_ingress_declared_absent_still_counts_as_declared():
    """Removing the ingress network leaves the swarm without one, not with Docker's plain default."""
    resolved = declaration.resolve([{'name': 'ingress', 'ingress': True, 'state': 'absent'}])
    assert (resolved['ingress'], resolved['declares_ingress'], resolved['plain']) == ('ingress', True, [])


def test_without_an_ingress_entry():
    resolved = declaration.resolve([{'name': 'app', 'ingress': False}])
    assert (resolved['ingress'], resolved['declares_ingress']) == (None, False)


# errors across the list

def test_a_name_declared_twice():
    assert errors({'name': 'a'}, {'name': 'b'}, {'name': 'a', 'state': 'absent'}, {'name': 'b'}, {'name': 'c'}) == [
        "networks_overlay: the name 'a' is declared more than once; give each network one entry.",
        "networks_overlay: the name 'b' is declared more than once; give each network one entry."]


def test_more_than_one_ingress():
    assert errors({'name': 'i1', 'ingress': True}, {'name': 'app'}, {'name': 'i2', 'ingress': 'yes'}) == [
        'networks_overlay: i1, i2 are all marked ingress; a swarm has one ingress network.']


def test_an_attachable_ingress():
    assert errors({'name': 'app', 'attachable': True}, {'name': 'ing', 'ingress': True, 'attachable': True}) == [
        'networks_overlay[1] (ing): an ingress network cannot be attachable; set attachable to false.']


# driver_options

@pytest.mark.parametrize('key, field', [
    ('com.docker.network.driver.mtu', 'mtu'),
    ('com.docker.network.internal', 'internal'),
    ('com.docker.network.enable_ipv6', 'ipam (an IPv6 subnet enables IPv6)'),
])
def test_a_driver_option_with_a_field_of_its_own(key, field):
    assert errors({'name': 'app', 'driver_options': {key: 'x'}}) == [
        'networks_overlay[0] (app): driver_options.%s belongs in the %s field of the entry.' % (key, field)]


@pytest.mark.parametrize('value', ['true', 'false', ''])
def test_encrypted_in_driver_options_says_docker_reads_only_the_key(value):
    assert errors({'name': 'app', 'driver_options': {'encrypted': value}}) == [
        "networks_overlay[0] (app): driver_options.encrypted belongs in the encrypted field of the entry (Docker "
        "encrypts whenever a key 'encrypted' is present, whatever its value)."]


def test_every_key_the_module_sends_to_its_own_option_is_refused():
    """All four keys with an option of their own, as the module knows them, and only those."""
    options = dict((key, '1') for key in _overlay.OWN_OPTION_FOR)
    assert sorted(_overlay.OWN_OPTION_FOR) == ['com.docker.network.driver.mtu', 'com.docker.network.enable_ipv6',
                                               'com.docker.network.internal', 'encrypted']
    found = errors({'name': 'app', 'driver_options': options})
    assert len(found) == 4 and all(' belongs in the ' in message for message in found)
    assert [message.split()[2] for message in found] == ['driver_options.%s' % key for key in sorted(options)]


@pytest.mark.parametrize('key', ['colour', 'encrytped', 'com.docker.network.driver.mut'])
def test_an_unknown_driver_option(key):
    assert errors({'name': 'app', 'driver_options': {key: '1'}}) == [
        'networks_overlay[0] (app): driver_options.%s %s' % (key, UNKNOWN)]


def test_the_driver_options_the_driver_reads_are_accepted():
    read = {'com.docker.network.driver.overlay.vxlanid_list': '4097', 'com.docker.network.container_iface_prefix': 'eth'}
    assert errors({'name': 'app', 'driver_options': read}) == []


def test_driver_options_that_are_not_a_dict():
    assert errors({'name': 'app', 'driver_options': ['encrypted']}) == [
        'networks_overlay[0] (app): driver_options: give a dict of driver option names and values.']


def test_the_module_refuses_what_the_role_refuses():
    for key in list(_overlay.OWN_OPTION_FOR) + ['colour']:
        assert errors({'name': 'app', 'driver_options': {key: '1'}})
        assert _overlay.validate_driver_options({key: '1'})


# the module's rules (swarm_network_errors), after the role's own

def test_the_module_rules_come_after_the_lists_own():
    found = errors({'name': 'bridge', 'mtu': 20, 'driver_options': {'colour': 'red'}},
                   {'name': 'a', 'ipam': [{'subnet': '10.1.0.0/24'}]}, {'name': 'a', 'ipam': [{'subnet': '10.1.0.0/25'}]})
    assert found == [
        "networks_overlay: the name 'a' is declared more than once; give each network one entry.",
        'networks_overlay[0] (bridge): driver_options.colour %s' % UNKNOWN,
        "networks_overlay[0] (bridge): name: 'bridge' is the name of one of Docker's predefined networks (bridge, "
        "host, none, default); choose another name.",
        "networks_overlay[0] (bridge): mtu: 20 is out of range; give the underlay (data-path interface) MTU, between "
        "144 and 65535, or 'auto'. Docker subtracts the VXLAN and ESP overhead itself.",
        'networks_overlay[2] (a): ipam[0].subnet 10.1.0.0/25 overlaps ipam[0].subnet 10.1.0.0/24 of '
        'networks_overlay[1] (a); give each network a subnet of its own.']
    assert found[2:] == declaration.network_errors([{'name': 'bridge', 'mtu': 20}, {'name': 'a', 'ipam': [{'subnet': '10.1.0.0/24'}]},
                                                    {'name': 'a', 'ipam': [{'subnet': '10.1.0.0/25'}]}])
