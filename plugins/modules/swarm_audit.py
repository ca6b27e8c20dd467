#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: swarm_audit
short_description: Read the whole swarm as one manager sees it, for the audit
version_added: 0.1.0
description:
  - Asks a swarm manager's engine for what the audit judges at the level of the swarm rather than the
    node - the members, their roles, reachability and engine versions (and so the quorum), every
    swarm-scoped overlay network with whether it is encrypted and the nodes its running tasks are on,
    every service (image, user, published ports and their mode, networks, nodes, and the B(names) of its
    environment variables), the number of Docker secrets, and the swarm's autolock, certificate
    expiry and root CA.
  - Values of environment variables never leave the node; only their names are returned.
  - Makes no finding itself. The C(ironclad.swarm.audit) role compares this view with the declaration
    (C(networks_overlay)) and the node results of M(ironclad.swarm.ipsec_audit) on the controller.
  - On a node that is not an active manager, or when the swarm has no leader, RV(view) holds what
    could be read and RV(error) says why the rest could not.
author:
  - ironclad.swarm developers (@ironclad-swarm)
extends_documentation_fragment:
  - ironclad.swarm.engine
  - ironclad.swarm.read_only
attributes:
  platform:
    support: full
    platforms: posix
    description: Any host whose Docker Engine is a swarm manager.
seealso:
  - module: ironclad.swarm.ipsec_audit
  - module: community.docker.docker_swarm_info
"""

EXAMPLES = r"""
# On its own, outside the audit role (which reads the same through ipsec_audit's swarm_view option): the
# swarm as data for checks of your own. The module judges nothing.
- name: Read the swarm from the first manager
  ironclad.swarm.swarm_audit:
  register: swarm
  run_once: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: List the plain overlay networks that carry traffic between nodes
  ansible.builtin.debug:
    msg: "{{ swarm.view.networks | rejectattr('encrypted') | selectattr('nodes', 'length') | map(attribute='name') }}"

- name: Stop when a manager is unreachable or the swarm has no leader
  ansible.builtin.assert:
    that:
      - swarm.error is none
      - swarm.view.nodes | selectattr('raft_member') | rejectattr('reachability', 'eq', 'reachable') | list | length == 0
    fail_msg: "{{ swarm.error or 'a manager is not reachable' }}"
  run_once: true
"""

RETURN = r"""
view:
  description: The swarm as this manager sees it.
  returned: always
  type: dict
  contains:
    state:
      description: This node's C(LocalNodeState).
      type: str
      sample: active
    control:
      description: V(true) when this node is a manager.
      type: bool
    node_id:
      description: This node's id.
      type: str
    cluster_id:
      description: The swarm's id, or V(null) when it could not be read.
      type: str
    autolock:
      description: Whether the managers' Raft data is locked at rest (autolock).
      type: bool
    node_cert_expiry_s:
      description: Validity of the node certificates the swarm issues, in seconds.
      type: int
      sample: 7776000
    root_ca_pem:
      description: The swarm's root CA certificate (public), PEM.
      type: str
    root_rotation:
      description: V(true) while a root CA rotation is in progress.
      type: bool
    data_path_port:
      description: The swarm's data-path (VXLAN) port.
      type: int
    nodes:
      description: One item per member, with C(id), C(hostname), C(role), C(availability), C(state), C(address), C(raft_member),
        C(engine_version), C(leader), C(reachability) and C(manager_addr).
      type: list
      elements: dict
    networks:
      description: One item per swarm-scoped overlay network, with C(name), C(id), C(encrypted), C(ingress),
        C(attachable), and the C(nodes) and C(services) of its running tasks.
      type: list
      elements: dict
    services:
      description: One item per service (the audit's own probe left out), with C(name), C(image), C(user),
        C(env_names), C(secrets), C(networks), C(ports) (C(published), C(target), C(protocol), C(mode)) and C(nodes).
      type: list
      elements: dict
    secrets:
      description: How many Docker secrets the swarm holds.
      type: int
error:
  description: Why part of the view could not be read (no leader, not a manager), or V(null).
  returned: always
  type: str
  sample: "rpc error: code = Unknown desc = The swarm does not have a leader."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.common.docker import ENGINE_ARGUMENT_SPEC, connect, explain
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.view import read


def main():
    module = AnsibleModule(argument_spec=dict(ENGINE_ARGUMENT_SPEC), supports_check_mode=True)
    engine = connect(module)
    try:
        view, error = read(engine.api)
    except Exception as error:  # the SDK raises its own errors and requests' alike
        module.exit_json(changed=False, view=None, error='The Docker Engine did not answer: %s' % explain(error))
    module.exit_json(changed=False, view=view, error=error)


if __name__ == '__main__':
    main()
