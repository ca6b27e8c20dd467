#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: swarm_member_info
short_description: Read a node's swarm membership and, on a manager, the swarm, in one call
version_added: 0.1.0
description:
  - Returns the Docker Engine's info (RV(host_info), the same object as
    M(community.docker.docker_host_info) returns), which says whether the node is in a swarm, locked,
    a manager, and its node id.
  - With O(swarm=true), on an active manager, also returns the swarm's inspect (RV(swarm_facts)) and every
    node (RV(nodes)), as M(community.docker.docker_swarm_info) and M(community.docker.docker_node_info)
    return them. The join tokens are left out unless O(join_tokens=true).
  - The C(ironclad.swarm.cluster) role reads every host with it once per run. The swarm comes with the
    anchor manager's own read, so planning needs no second call.
  - Read-only.
author:
  - ironclad.swarm developers (@ironclad-swarm)
extends_documentation_fragment:
  - ironclad.swarm.engine
  - ironclad.swarm.read_only
options:
  swarm:
    description:
      - Also read the swarm and its nodes when this node is an active manager. Ignored elsewhere (a worker's
        engine refuses these reads).
    type: bool
    default: false
  join_tokens:
    description:
      - Keep the join tokens (C(JoinTokens)) in RV(swarm_facts). They are secrets; with V(true), set C(no_log)
        on the task, as for M(community.docker.docker_swarm_info).
    type: bool
    default: false
attributes:
  platform:
    support: full
    platforms: posix
    description: Any host with a Docker Engine.
seealso:
  - module: community.docker.docker_host_info
  - module: community.docker.docker_swarm_info
"""

EXAMPLES = r"""
- name: Read each host, and the swarm on the managers
  ironclad.swarm.swarm_member_info:
    swarm: "{{ inventory_hostname in groups['swarm_managers'] }}"
  register: member

- name: Show the nodes the first manager sees
  ansible.builtin.debug:
    msg: "{{ hostvars[groups['swarm_managers'][0]].member.nodes | map(attribute='Description.Hostname') }}"
"""

RETURN = r"""
host_info:
  description: The engine's info (C(docker info) as JSON); C(Swarm.LocalNodeState) is V(locked) on a locked manager.
  returned: always
  type: dict
swarm_facts:
  description:
    - The swarm's inspect (C(JoinTokens) only with O(join_tokens=true)); V(null) unless O(swarm=true) on an
      active manager.
  returned: always
  type: dict
nodes:
  description: Every node's inspect; V(null) unless O(swarm=true) on an active manager.
  returned: always
  type: list
  elements: dict
swarm_error:
  description: Why the swarm could not be read on this manager (for example, no leader), or V(null).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.common.docker import ENGINE_ARGUMENT_SPEC, connect, explain
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.member import read_member


def main():
    argument_spec = dict(ENGINE_ARGUMENT_SPEC, swarm=dict(type='bool', default=False),
                         join_tokens=dict(type='bool', default=False, no_log=False))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    engine = connect(module)
    try:
        result = read_member(engine.api, module.params['swarm'], explain, module.params['join_tokens'])
    except Exception as error:  # the SDK raises its own errors and requests' alike
        module.fail_json(msg='Cannot read the Docker Engine at %s: %s. Is dockerd running on this host?'
                         % (module.params['docker_host'], explain(error)))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
