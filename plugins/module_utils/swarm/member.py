# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
#
# One read of a node's swarm membership, and on a manager of the swarm itself, for the cluster
# role: what docker_host_info and, on the anchor manager, docker_swarm_info return, in one call.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def read_member(api, swarm, explain, join_tokens=False):
    """{'host_info', 'swarm_facts', 'nodes', 'swarm_error'} from a docker.APIClient-like `api`.

    host_info is the engine's info (as docker_host_info returns it). With `swarm` true and this engine an
    active manager, swarm_facts (the swarm's inspect) and nodes (every node's inspect, as docker_node_info
    returns them) are read too; otherwise they are None, and swarm_error says why when a read was tried
    and failed. The join tokens are left out of swarm_facts unless `join_tokens`. An error reading the
    info itself propagates.
    """
    info = api.info()
    result = {'host_info': info, 'swarm_facts': None, 'nodes': None, 'swarm_error': None}
    state = (info.get('Swarm') or {})
    if not swarm or state.get('LocalNodeState') != 'active' or not state.get('ControlAvailable'):
        return result
    try:
        facts = api.inspect_swarm()
        if not join_tokens:
            facts.pop('JoinTokens', None)
        result['swarm_facts'] = facts
        result['nodes'] = api.nodes()
    except Exception as error:  # the SDK raises its own errors and requests' alike
        result['swarm_facts'], result['nodes'] = None, None
        result['swarm_error'] = explain(error)
    return result
