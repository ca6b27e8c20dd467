# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""networks_overlay resolved once, for the networks, firewall and watch roles.

``overlay_declaration`` returns the declaration with its defaults applied (a network is encrypted unless
its entry says otherwise), the plain and encrypted networks, the ingress entry and every problem with the
list (module_utils/overlay/declaration.py). The networks role asserts on the problems; the firewall role
reads the plain networks from the same answer, so the two cannot disagree.
Documentation of the filter lives in the sidecar ``overlay_declaration.yml`` next to this file.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import declaration


def as_filter(function):
    """A function of module_utils/overlay/declaration.py as a filter: a networks_overlay that is not a list
    fails with Ansible's filter error, naming what it got."""
    @functools.wraps(function)
    def run(networks_overlay):
        try:
            return function(networks_overlay)
        except declaration.DeclarationError as error:
            raise AnsibleFilterError('%s' % error) from error
    return run


overlay_declaration = as_filter(declaration.resolve)


class FilterModule:
    """The networks role's declaration, resolved."""

    def filters(self):
        return {
            'overlay_declaration': overlay_declaration,
        }
