# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The swarm's ports for the roles' validation, from the one table of flows (module_utils/fence/flows.py).

``swarm_ports`` lists every port the swarm uses and ``swarm_data_path_port_errors`` says why a data-path port
cannot be used, with the rules the swarm_firewall and firewall_audit modules and the hcloud_validate filter
apply, so that no role keeps a copy of the port numbers in Jinja.
Documentation of each filter lives in the sidecar ``<filter>.yml`` next to this file.
"""

from __future__ import annotations

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import flows


def swarm_ports(data_path_port=flows.DEFAULT_DATA_PATH_PORT):
    """Every port the swarm uses, whatever the protocol; a data-path port that is no number is left out."""
    try:
        return flows.swarm_ports(int(data_path_port))
    except (TypeError, ValueError):
        return flows.fixed_ports()


def swarm_data_path_port_errors(port, name):
    """One message per problem with a data-path port, naming the variable; empty when it is usable."""
    problem = flows.data_path_port_error(port)
    return ['%s: %s' % (name, problem)] if problem else []


class FilterModule:
    """The swarm's ports, for the roles' validation."""

    def filters(self):
        return {
            'swarm_ports': swarm_ports,
            'swarm_data_path_port_errors': swarm_data_path_port_errors,
        }
