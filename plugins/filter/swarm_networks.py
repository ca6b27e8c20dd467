# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the ironclad.swarm.networks role's declarations, kept out of Jinja so they can be unit tested.

``swarm_network_errors`` judges ``networks_overlay`` without a Docker Engine, so that site.yml's first
play refuses what the ironclad.swarm.overlay_network module would refuse only later, once Docker is
installed and the swarm formed. The rules are the module's own (module_utils/overlay/options.py), so the two
cannot disagree; only the overlaps between declared networks are judged here, since the module sees one
network at a time.
Documentation of each filter lives in the sidecar ``<filter>.yml`` next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import options as overlay_options


def _entry_problem(ipam):
    """A message when ipam is not a list of dicts (validate_argument_spec says so first), else None."""
    if ipam is None:
        return None
    if not isinstance(ipam, (list, tuple)) or not all(isinstance(entry, Mapping) for entry in ipam):
        return 'ipam: give a list of entries, each a dict with subnet and optionally gateway and ip_range.'
    return None


def swarm_network_errors(networks_overlay):
    """One message per problem in networks_overlay, each naming its entry and field; empty when all is well.

    Per entry: the name, the MTU and the ipam entries, with the module's rules. Across entries: a subnet
    of one network that overlaps a subnet of another (entries with state absent are left out: they hold
    no subnet after the run).
    """
    if networks_overlay is None:
        return []
    if not isinstance(networks_overlay, (list, tuple)):
        raise AnsibleFilterError('networks_overlay must be a list, got %s' % type(networks_overlay).__name__)
    errors = []
    held = []  # (entry label, ipam index, subnet) of the networks checked so far
    for position, network in enumerate(networks_overlay):
        if not isinstance(network, Mapping):
            errors.append('networks_overlay[%d]: %r is not a dict; give each network as a dict with at least a name.'
                          % (position, network))
            continue
        where = 'networks_overlay[%d] (%s)' % (position, network.get('name'))
        problems = overlay_options.name_errors(network.get('name'))
        try:
            overlay_options.parse_mtu(network.get('mtu'))
        except overlay_options.OverlayError as error:
            problems.append('%s' % error)
        parsed = []
        shape = _entry_problem(network.get('ipam'))
        if shape:
            problems.append(shape)
        else:
            parsed, ipam_problems = overlay_options.ipam_errors(network.get('ipam'), fixes=True)
            problems.extend(ipam_problems)
        errors.extend('%s: %s' % (where, problem) for problem in problems)
        if network.get('state') == 'absent':
            continue
        for index, subnet, _entry in parsed:
            for other_where, other_index, other in held:
                if overlay_options.subnets_overlap(subnet, other):
                    errors.append('%s: ipam[%d].subnet %s overlaps ipam[%d].subnet %s of %s; give each network a '
                                  'subnet of its own.' % (where, index, subnet, other_index, other, other_where))
        held.extend((where, index, subnet) for index, subnet, _entry in parsed)
    return errors


class FilterModule:
    """Declaration checks for the ironclad.swarm.networks role."""

    def filters(self):
        return {
            'swarm_network_errors': swarm_network_errors,
        }
