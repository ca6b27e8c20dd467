# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the ironclad.swarm.networks role's declarations, kept out of Jinja so they can be unit tested.

``swarm_network_errors`` judges ``networks_overlay`` without a Docker Engine, so that site.yml's first
play refuses what the ironclad.swarm.overlay_network module would refuse only later, once Docker is
installed and the swarm formed. The rules are the module's own (module_utils/_overlay.py), so the two
cannot disagree; only the overlaps between declared networks are judged here, since the module sees one
network at a time. The checks live in module_utils/overlay/declaration.py, with the rest of the role's.
Documentation of each filter lives in the sidecar ``<filter>.yml`` next to this file.
"""

from __future__ import annotations

from ansible_collections.ironclad.swarm.plugins.filter.overlay_declaration import as_filter
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import declaration

# One message per problem in networks_overlay, each naming its entry and field; empty when all is well:
# per entry the name, the MTU and the ipam entries, with the module's rules; across entries a subnet of one
# network that overlaps a subnet of another (entries with state absent are left out). The
# overlay_declaration filter returns these among its errors.
swarm_network_errors = as_filter(declaration.network_errors)


class FilterModule:
    """Declaration checks for the ironclad.swarm.networks role."""

    def filters(self):
        return {
            'swarm_network_errors': swarm_network_errors,
        }
