# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for swarm_network_errors, the networks role's check of networks_overlay in site.yml's first play.

Every message names its entry and field as the role's other checks do (networks_overlay[N] (name): ...),
and the rules are the overlay_network module's: a declaration the filter refuses, the module refuses too.
"""

from __future__ import annotations

import re

import pytest

from ansible.errors import AnsibleFilterError
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ironclad.swarm.plugins.filter import swarm_networks as sn
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import options as overlay_options
from ansible_collections.ironclad.swarm.plugins.modules import overlay_network

# The declarations of molecule/default and molecule/encryption, which converge on the lab.
LAB_DECLARATIONS = [
    {'name': 'mol-encrypted', 'ipam': [{'subnet': '172.28.100.0/24'}], 'mtu': 'auto', 'labels': {'purpose': 'molecule'}},
    {'name': 'mol-plain', 'encrypted': False, 'attachable': True},
    {'name': 'enc-a', 'ipam': [{'subnet': '172.29.10.0/24'}]},
    {'name': 'enc-b', 'ipam': [{'subnet': '172.29.20.0/24'}]},
]


def errors(*networks):
    return sn.swarm_network_errors(list(networks))


def test_the_filter_is_registered():
    assert sn.FilterModule().filters() == {'swarm_network_errors': sn.swarm_network_errors}


def test_good_declarations_have_no_errors():
    assert sn.swarm_network_errors(LAB_DECLARATIONS) == []
    assert sn.swarm_network_errors([]) == []
    assert sn.swarm_network_errors(None) == []


def test_a_full_good_entry_has_no_errors():
    assert errors({'name': 'app_net-2', 'mtu': 1450, 'ipam': [
        {'subnet': '10.20.0.0/24', 'gateway': '10.20.0.254', 'ip_range': '10.20.0.128/25'},
        {'subnet': 'fd00:20::/64', 'gateway': 'fd00:20::1', 'ip_range': 'fd00:20::/80'},
    ]}) == []


def test_not_a_list_is_refused():
    with pytest.raises(AnsibleFilterError, match='networks_overlay must be a list, got dict'):
        sn.swarm_network_errors({'name': 'app'})


def test_an_entry_that_is_not_a_dict_is_named():
    assert errors('app') == ["networks_overlay[0]: 'app' is not a dict; give each network as a dict with at least a name."]


def test_ipam_that_is_not_a_list_of_dicts_is_named():
    assert errors({'name': 'app', 'ipam': ['10.20.0.0/24']}) == [
        'networks_overlay[0] (app): ipam: give a list of entries, each a dict with subnet and optionally gateway '
        'and ip_range.']


# names: swarmkit's rule and Docker's predefined networks

@pytest.mark.parametrize('name', ['app', 'a', 'A1', 'mol-encrypted', 'app_net', 'a--b__c', 'ingress', 'x' * 63])
def test_good_names(name):
    assert errors({'name': name}) == []


@pytest.mark.parametrize('name', ['bad name', '-app', 'app-', '_app', 'app_', 'app.net', 'app/net', 'äpp', 'app\n'])
def test_malformed_names(name):
    assert errors({'name': name}) == [
        "networks_overlay[0] (%s): name: '%s' is not a valid network name; use letters, digits, '-' and '_', "
        "starting and ending with a letter or digit (the swarm takes names that are DNS name components)." % (name, name)]


def test_a_name_longer_than_a_dns_label():
    name = 'n' * 64
    assert errors({'name': name}) == [
        "networks_overlay[0] (%s): name: '%s' is 64 characters long; a swarm network name has at most 63." % (name, name)]


@pytest.mark.parametrize('name', ['bridge', 'host', 'none', 'default'])
def test_predefined_names(name):
    assert errors({'name': name}) == [
        "networks_overlay[0] (%s): name: '%s' is the name of one of Docker's predefined networks (bridge, host, none, "
        "default); choose another name." % (name, name)]


def test_an_empty_name():
    assert errors({'name': ''}) == ['networks_overlay[0] (): name: a network needs a name.']


def test_a_long_malformed_name_is_judged_quickly():
    # Go's regexp does not backtrack; the Python pattern must not either.
    name = 'a' * 5000 + '!'
    assert len(errors({'name': name})) == 2


# MTU: the module's range, 'auto' allowed

@pytest.mark.parametrize('mtu', [None, 'auto', 'AUTO', overlay_options.MIN_MTU, 1450, '1450', overlay_options.MAX_MTU])
def test_good_mtus(mtu):
    assert errors({'name': 'app', 'mtu': mtu}) == []


@pytest.mark.parametrize('mtu', [overlay_options.MIN_MTU - 1, 100, overlay_options.MAX_MTU + 1])
def test_mtu_out_of_range(mtu):
    assert errors({'name': 'app', 'mtu': mtu}) == [
        "networks_overlay[0] (app): mtu: %d is out of range; give the underlay (data-path interface) MTU, between 144 "
        "and 65535, or 'auto'. Docker subtracts the VXLAN and ESP overhead itself." % mtu]


@pytest.mark.parametrize('mtu, shown', [('big', "'big'"), ('1400bytes', "'1400bytes'"), (1400.5, '1400.5'), (True, 'True')])
def test_mtu_not_an_integer(mtu, shown):
    assert errors({'name': 'app', 'mtu': mtu}) == [
        "networks_overlay[0] (app): mtu: %s is neither an integer nor 'auto'." % shown]


# subnets: CIDR, no host bits

@pytest.mark.parametrize('subnet', ['10.1.2.0/24', '10.0.0.0/8', '10.1.2.3/32', 'fd00:1::/64'])
def test_good_subnets(subnet):
    ipam = [{'subnet': subnet}] if ':' not in subnet else [{'subnet': '10.9.0.0/24'}, {'subnet': subnet}]
    assert errors({'name': 'app', 'ipam': ipam}) == []


@pytest.mark.parametrize('subnet, network', [('10.1.2.3/24', '10.1.2.0/24'), ('10.1.2.0/16', '10.1.0.0/16')])
def test_host_bits_set(subnet, network):
    assert errors({'name': 'app', 'ipam': [{'subnet': subnet}]}) == [
        "networks_overlay[0] (app): ipam[0].subnet: '%s' is not a network address (host bits are set); did you mean "
        "'%s'?" % (subnet, network)]


def test_host_bits_set_in_ipv6():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.9.0.0/24'}, {'subnet': 'fd00:1::1/64'}]}) == [
        "networks_overlay[0] (app): ipam[1].subnet: 'fd00:1::1/64' is not a network address (host bits are set); did "
        "you mean 'fd00:1::/64'?"]


@pytest.mark.parametrize('subnet', ['999.1.2.0/24', '10.1.2.0/33', '10.1.2.0', 'fd00:1::', 'ten.twenty/24', 'fd00:1::/129', '/24'])
def test_not_cidr(subnet):
    assert errors({'name': 'app', 'ipam': [{'subnet': subnet}]}) == [
        "networks_overlay[0] (app): ipam[0].subnet: '%s' is not an IPv4 or IPv6 network in CIDR notation. Write it "
        "as network/prefix, for example 10.20.0.0/24." % subnet]


def test_an_ipv6_only_network_needs_an_ipv4_subnet():
    assert errors({'name': 'app', 'ipam': [{'subnet': 'fd00:1::/64'}]}) == [
        'networks_overlay[0] (app): ipam: an overlay network needs an IPv4 subnet; add one next to fd00:1::/64.']


# gateways and ip ranges inside their subnet

@pytest.mark.parametrize('subnet, gateway', [
    ('10.1.2.0/24', '10.1.2.1'), ('10.1.2.0/24', '10.1.2.254'), ('10.1.2.0/31', '10.1.2.0'), ('fd00:1::/64', 'fd00:1::1')])
def test_gateway_inside(subnet, gateway):
    ipam = [{'subnet': '10.9.0.0/24'}] if ':' in subnet else []
    assert errors({'name': 'app', 'ipam': ipam + [{'subnet': subnet, 'gateway': gateway}]}) == []


def test_gateway_outside_its_subnet():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'gateway': '10.1.3.1'}]}) == [
        'networks_overlay[0] (app): ipam[0].gateway: 10.1.3.1 is outside its subnet 10.1.2.0/24. Pick a host address '
        'inside 10.1.2.0/24, or leave gateway unset (Docker then takes the first one).']


def test_ipv6_gateway_outside_its_subnet():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.9.0.0/24'}, {'subnet': 'fd00:1::/64', 'gateway': 'fd00:2::1'}]}) == [
        'networks_overlay[0] (app): ipam[1].gateway: fd00:2::1 is outside its subnet fd00:1::/64. Pick a host address '
        'inside fd00:1::/64, or leave gateway unset (Docker then takes the first one).']


def test_gateway_of_the_other_ip_version():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'gateway': 'fd00::1'}]}) == [
        'networks_overlay[0] (app): ipam[0].gateway: fd00::1 is outside its subnet 10.1.2.0/24. Pick a host address '
        'inside 10.1.2.0/24, or leave gateway unset (Docker then takes the first one).']


@pytest.mark.parametrize('gateway', ['10.1.2.0', '10.1.2.255'])
def test_gateway_on_the_network_or_broadcast_address(gateway):
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'gateway': gateway}]}) == [
        'networks_overlay[0] (app): ipam[0].gateway: %s is the network or broadcast address of 10.1.2.0/24; pick a '
        'host address.' % gateway]


def test_gateway_not_an_address():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'gateway': '10.1.2.1/24'}]}) == [
        "networks_overlay[0] (app): ipam[0].gateway: '10.1.2.1/24' is not an IP address. Give one address inside "
        "10.1.2.0/24, or leave gateway unset."]


def test_ip_range_inside():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'ip_range': '10.1.2.0/24'},
                                           {'subnet': '10.1.3.0/24', 'ip_range': '10.1.3.64/26'}]}) == []


def test_ip_range_outside_its_subnet():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'ip_range': '10.1.0.0/23'}]}) == [
        'networks_overlay[0] (app): ipam[0].ip_range: 10.1.0.0/23 is not inside its subnet 10.1.2.0/24. Give a part '
        'of 10.1.2.0/24, or leave ip_range unset to use all of it.']


def test_ipv6_ip_range_outside_its_subnet():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.9.0.0/24'}, {'subnet': 'fd00:1::/64', 'ip_range': 'fd00:2::/80'}]}) == [
        'networks_overlay[0] (app): ipam[1].ip_range: fd00:2::/80 is not inside its subnet fd00:1::/64. Give a part '
        'of fd00:1::/64, or leave ip_range unset to use all of it.']


def test_ip_range_with_host_bits():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'ip_range': '10.1.2.1/25'}]}) == [
        "networks_overlay[0] (app): ipam[0].ip_range: '10.1.2.1/25' is not a network address in CIDR notation. Give a "
        "network inside 10.1.2.0/24, for example its upper half."]


# overlaps: inside one network and between declared networks

def test_overlap_inside_one_network():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.1.0.0/16'}, {'subnet': '10.2.0.0/16'}, {'subnet': '10.1.2.0/24'}]}) == [
        'networks_overlay[0] (app): ipam[0].subnet 10.1.0.0/16 overlaps ipam[2].subnet 10.1.2.0/24. Give each entry a '
        'subnet of its own.']


def test_overlap_inside_one_network_keeps_the_entry_numbers_past_a_bad_entry():
    assert errors({'name': 'app', 'ipam': [{'subnet': 'bad'}, {'subnet': '10.1.0.0/16'}, {'subnet': '10.1.0.0/16'}]})[1:] == [
        'networks_overlay[0] (app): ipam[1].subnet 10.1.0.0/16 overlaps ipam[2].subnet 10.1.0.0/16. Give each entry a '
        'subnet of its own.']


def test_ipv6_overlap_inside_one_network():
    assert errors({'name': 'app', 'ipam': [{'subnet': '10.9.0.0/24'}, {'subnet': 'fd00:1::/64'}, {'subnet': 'fd00:1::/96'}]}) == [
        'networks_overlay[0] (app): ipam[1].subnet fd00:1::/64 overlaps ipam[2].subnet fd00:1::/96. Give each entry a '
        'subnet of its own.']


def test_overlap_between_two_networks():
    assert errors({'name': 'a', 'ipam': [{'subnet': '10.1.0.0/16'}]},
                  {'name': 'b', 'ipam': [{'subnet': '10.2.0.0/16'}, {'subnet': '10.1.2.0/24'}]}) == [
        'networks_overlay[1] (b): ipam[1].subnet 10.1.2.0/24 overlaps ipam[0].subnet 10.1.0.0/16 of '
        'networks_overlay[0] (a); give each network a subnet of its own.']


def test_the_same_subnet_in_two_networks():
    assert errors({'name': 'a', 'ipam': [{'subnet': '10.1.2.0/24'}]},
                  {'name': 'b', 'ipam': [{'subnet': '10.1.2.0/24'}]}) == [
        'networks_overlay[1] (b): ipam[0].subnet 10.1.2.0/24 overlaps ipam[0].subnet 10.1.2.0/24 of '
        'networks_overlay[0] (a); give each network a subnet of its own.']


def test_ipv6_overlap_between_two_networks():
    assert errors({'name': 'a', 'ipam': [{'subnet': '10.1.0.0/24'}, {'subnet': 'fd00:1::/64'}]},
                  {'name': 'b', 'ipam': [{'subnet': '10.2.0.0/24'}, {'subnet': 'fd00:1:0:0:1::/80'}]}) == [
        'networks_overlay[1] (b): ipam[1].subnet fd00:1:0:0:1::/80 overlaps ipam[1].subnet fd00:1::/64 of '
        'networks_overlay[0] (a); give each network a subnet of its own.']


def test_every_pair_of_networks_is_reported_once():
    found = errors({'name': 'a', 'ipam': [{'subnet': '10.1.0.0/16'}]},
                   {'name': 'b', 'ipam': [{'subnet': '10.1.1.0/24'}]},
                   {'name': 'c', 'ipam': [{'subnet': '10.1.2.0/24'}]},
                   {'name': 'd', 'ipam': [{'subnet': '10.1.1.128/25'}]})
    pairs = [re.match(r'(networks_overlay\[\d\]) .* of (networks_overlay\[\d\]) ', message).groups() for message in found]
    assert pairs == [('networks_overlay[1]', 'networks_overlay[0]'), ('networks_overlay[2]', 'networks_overlay[0]'),
                     ('networks_overlay[3]', 'networks_overlay[0]'), ('networks_overlay[3]', 'networks_overlay[1]')]


@pytest.mark.parametrize('second', ['10.1.1.0/24', '10.0.255.0/24', '192.168.0.0/16'])
def test_separate_networks_do_not_overlap(second):
    assert errors({'name': 'a', 'ipam': [{'subnet': '10.1.0.0/24'}]}, {'name': 'b', 'ipam': [{'subnet': second}]}) == []


def test_ipv4_and_ipv6_never_overlap():
    # ::a01:0/120 holds the same 32 bits as 10.1.0.0/24 (an IPv4-compatible address), and is still another network.
    assert errors({'name': 'a', 'ipam': [{'subnet': '10.1.0.0/24'}]},
                  {'name': 'b', 'ipam': [{'subnet': '10.2.0.0/24'}, {'subnet': '::a01:0/120'}]}) == []


def test_a_network_being_removed_holds_no_subnet():
    assert errors({'name': 'old', 'state': 'absent', 'ipam': [{'subnet': '10.1.0.0/16'}]},
                  {'name': 'new', 'ipam': [{'subnet': '10.1.0.0/16'}]},
                  {'name': 'gone', 'state': 'absent', 'ipam': [{'subnet': '10.1.0.0/16'}]}) == []


def test_an_entry_with_errors_is_still_compared_by_its_good_subnets():
    assert errors({'name': 'a', 'ipam': [{'subnet': '10.1.0.0/16', 'gateway': '10.2.0.1'}]},
                  {'name': 'b', 'ipam': [{'subnet': '10.1.2.0/24'}]}) == [
        'networks_overlay[0] (a): ipam[0].gateway: 10.2.0.1 is outside its subnet 10.1.0.0/16. Pick a host address '
        'inside 10.1.0.0/16, or leave gateway unset (Docker then takes the first one).',
        'networks_overlay[1] (b): ipam[0].subnet 10.1.2.0/24 overlaps ipam[0].subnet 10.1.0.0/16 of '
        'networks_overlay[0] (a); give each network a subnet of its own.']


def test_all_problems_of_all_entries_are_reported_at_once():
    found = errors({'name': 'a b', 'mtu': 10, 'ipam': [{'subnet': '10.1.2.3/24', 'gateway': '10.9.9.9'}]},
                   {'name': 'c', 'ipam': [{'subnet': '10.1.0.0/16', 'ip_range': '10.2.0.0/24'}]})
    assert [message.split(': ', 2)[:2] for message in found] == [
        ['networks_overlay[0] (a b)', 'name'], ['networks_overlay[0] (a b)', 'mtu'],
        ['networks_overlay[0] (a b)', 'ipam[0].subnet'], ['networks_overlay[1] (c)', 'ipam[0].ip_range']]


# the module judges a declaration by the same rules

def run_overlay_network(monkeypatch, args):
    """The module's main() with args: the failure message of its validation (it fails before any engine call)."""
    class Failed(Exception):
        pass

    def fail_json(module, **kwargs):
        raise Failed(kwargs['msg'])

    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(Failed) as info:
            overlay_network.main()
    return info.value.args[0]


@pytest.mark.parametrize('entry', [
    {'name': 'bad name'},
    {'name': 'n' * 64},
    {'name': 'bridge'},
    {'name': 'app', 'mtu': 100},
    {'name': 'app', 'ipam': [{'subnet': '10.1.2.3/24'}]},
    {'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'gateway': '10.1.3.1'}]},
    {'name': 'app', 'ipam': [{'subnet': '10.1.2.0/24', 'ip_range': '10.1.3.0/25'}]},
    {'name': 'app', 'ipam': [{'subnet': '10.1.0.0/16'}, {'subnet': '10.1.2.0/24'}]},
    {'name': 'app', 'ipam': [{'subnet': 'fd00:1::1/64'}]},
])
def test_what_the_filter_refuses_the_module_refuses_in_the_same_words(monkeypatch, entry):
    found = errors(entry)
    message = run_overlay_network(monkeypatch, entry)
    assert len(found) == 1
    prefix = 'networks_overlay[0] (%s): ' % entry['name']
    # The filter adds how to fix it where the module's message only states the problem.
    assert found[0].startswith(prefix + message[:-1])


def test_the_module_keeps_its_own_messages(monkeypatch):
    ipam = [{'subnet': '10.1.2.0/24', 'gateway': '10.1.3.1'}, {'subnet': '10.1.0.0/16'}]
    message = run_overlay_network(monkeypatch, {'name': 'app', 'ipam': ipam})
    assert message == ('ipam[0].gateway: 10.1.3.1 is outside its subnet 10.1.2.0/24. '
                       'ipam[0].subnet 10.1.2.0/24 overlaps ipam[1].subnet 10.1.0.0/16.')
