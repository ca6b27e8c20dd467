# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The overlay_declaration filter: networks_overlay resolved, as the networks, firewall and watch roles read it.

The resolution itself is tested in tests/unit/plugins/module_utils/overlay/test_declaration.py; here, what the
filter adds (its name, its error for a list that is not one) and its documentation against what it returns.
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.filter import overlay_declaration as od
from ansible_collections.ironclad.swarm.plugins.filter import swarm_networks as sn
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import declaration

DOC = os.path.join(os.path.dirname(od.__file__), 'overlay_declaration.yml')
# The declarations of molecule/default and molecule/encryption, and an encrypted ingress.
LAB = [
    {'name': 'mol-encrypted', 'ipam': [{'subnet': '172.28.100.0/24'}], 'mtu': 'auto', 'labels': {'purpose': 'molecule'}},
    {'name': 'mol-plain', 'encrypted': False, 'attachable': True},
    {'name': 'vm-enc', 'ipam': [{'subnet': '172.29.10.0/24'}]},
    {'name': 'vm-plain', 'encrypted': False, 'ipam': [{'subnet': '172.29.20.0/24'}]},
    {'name': 'ingress', 'ingress': True, 'ipam': [{'subnet': '172.30.255.0/24'}]},
]


def test_the_filter_is_registered():
    assert od.FilterModule().filters() == {'overlay_declaration': od.overlay_declaration}


def test_it_returns_the_resolved_declaration():
    resolved = od.overlay_declaration(LAB)
    assert resolved == declaration.resolve(LAB)
    assert resolved['encrypted'] == ['mol-encrypted', 'vm-enc', 'ingress']
    assert resolved['plain'] == ['mol-plain', 'vm-plain']
    assert (resolved['ingress'], resolved['declares_ingress'], resolved['errors']) == ('ingress', True, [])


def test_not_a_list_is_refused():
    with pytest.raises(AnsibleFilterError, match='networks_overlay must be a list, got str'):
        od.overlay_declaration('app')


def test_its_errors_include_those_of_swarm_network_errors():
    networks = [{'name': 'a', 'ipam': [{'subnet': '10.1.0.0/24'}]}, {'name': 'b', 'ipam': [{'subnet': '10.1.0.128/25'}]},
                {'name': 'c', 'ingress': True, 'attachable': True}]
    found = od.overlay_declaration(networks)['errors']
    assert found == ['networks_overlay[2] (c): an ingress network cannot be attachable; set attachable to false.'] \
        + sn.swarm_network_errors(networks)
    assert len(found) == 2


def test_the_documentation_names_what_it_returns():
    with open(DOC) as handle:
        doc = yaml.safe_load(handle)
    assert doc['DOCUMENTATION']['name'] == 'overlay_declaration'
    assert sorted(doc['RETURN']['_value']['contains']) == sorted(od.overlay_declaration([]))
