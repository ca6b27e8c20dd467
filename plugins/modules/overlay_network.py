#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: overlay_network
short_description: Manage Docker Swarm overlay networks, encrypted by default, without Docker's silent traps
version_added: 0.1.0
description:
  - Creates, checks and removes swarm-scoped overlay networks on a Docker Swarm manager,
    through the Docker SDK for Python.
  - Networks are encrypted (IPsec ESP between nodes) unless O(encrypted=false).
  - Docker decides encryption by the mere presence of its C(encrypted) driver option and
    silently ignores option names it does not know. This module therefore refuses unknown
    O(driver_options) keys, suggesting the closest known one, and refuses C(encrypted) inside
    O(driver_options).
  - Docker cannot change a network in place. When the live network differs from the declaration,
    O(recreate=never) fails and lists every difference, and O(recreate=safe) detaches the network
    from each service that uses it, recreates it, and attaches it again with the same aliases.
  - Every declaration is validated before anything changes, including overlaps of O(ipam) subnets
    with the engine's other networks and with the swarm's default address pool.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  name:
    description:
      - The network's name.
      - The swarm's rule - letters, digits, C(-) and C(_), starting and ending with a letter or digit, at most
        63 characters - and none of Docker's predefined names (C(bridge), C(host), C(none), C(default)).
    type: str
    required: true
  state:
    description:
      - V(present) creates the network or checks that it matches the declaration.
      - V(absent) removes it. Services or standalone containers still attached make the module
        fail, naming them, before anything is removed.
    type: str
    choices: [present, absent]
    default: present
  encrypted:
    description:
      - Encrypt the traffic of this network between nodes with IPsec (Docker's C(encrypted) option).
      - The comparison is by meaning, not spelling - a live network created with C(--opt encrypted),
        C(--opt encrypted=true) or even C(--opt encrypted=false) is encrypted.
    type: bool
    default: true
  attachable:
    description:
      - Allow standalone containers (C(docker run --network)) to attach to the network.
    type: bool
    default: false
  internal:
    description:
      - Give the network no route to the outside world.
    type: bool
    default: false
  ingress:
    description:
      - Manage the swarm's ingress network (the routing mesh for published ports) under this name.
      - The swarm has exactly one ingress network. When it has another name or differs from the
        declaration, O(recreate=safe) removes the routing-mesh published ports of the services that
        have them, replaces the ingress network and publishes the ports again; O(recreate=never)
        fails and lists the differences.
      - An ingress network cannot be O(attachable) and should not be O(internal).
    type: bool
    default: false
  ipam:
    description:
      - The network's subnets. Leave unset to let Docker allocate one from the swarm's default
        address pool; then the subnet is not compared.
      - At least one entry must be IPv4; an IPv6 entry enables IPv6 on the network.
      - Docker 28.5 (and 29.4, moby/moby#52469) accepts an IPv6 subnet but its swarm allocator then fails, leaving a
        network no task can use; the module removes such a network again and fails, naming the cause.
    type: list
    elements: dict
    suboptions:
      subnet:
        description:
          - The subnet in CIDR notation, a network address (V(10.20.0.0/24), not V(10.20.0.1/24)).
          - It must not overlap another network of the engine or the swarm's default address pool.
        type: str
        required: true
      gateway:
        description:
          - The gateway address, inside O(ipam[].subnet). Unset, Docker takes the first address
            and the gateway is not compared.
        type: str
      ip_range:
        description:
          - The part of O(ipam[].subnet) from which containers get addresses.
        type: str
  mtu:
    description:
      - The MTU of the underlay, that is the data-path interface between the nodes, as an integer,
        or V(auto) to read it from the interface that holds this manager's swarm address.
      - Docker stores it as the network's C(com.docker.network.driver.mtu) option and gives
        container interfaces that MTU minus the VXLAN overhead (50 bytes) and, on encrypted networks,
        minus the ESP overhead (26 bytes), rounded down to a multiple of 4. RV(container_mtu)
        reports the result. Giving the already reduced value would subtract the overhead twice.
      - Unset, Docker assumes 1500 and the MTU is not compared.
    type: raw
  labels:
    description:
      - Labels of the network. Unset, labels are not compared; V({}) requires none.
    type: dict
  driver_options:
    description:
      - Other options of the overlay driver. The known ones are
        C(com.docker.network.driver.overlay.vxlanid_list) and
        C(com.docker.network.container_iface_prefix).
      - Any other key is an error naming the closest known one, since Docker would ignore it
        silently. C(encrypted) and C(com.docker.network.driver.mtu) have options of their own
        (O(encrypted), O(mtu)).
      - Compared with the live network's other options, so a stray option on the live network
        (for example a misspelt C(encrytped)) is a difference.
    type: dict
    default: {}
  recreate:
    description:
      - What to do when the live network differs from the declaration. Docker cannot change any
        property of an existing network.
      - V(never) fails, listing every difference, and changes nothing.
      - V(safe) removes the network from each attached service (a rolling update), removes the
        network, creates it as declared and adds it back to each service with the same aliases and
        driver options; the rest of each service spec, replicas included, is left as it was.
        Standalone containers attached make it refuse, naming them, before anything changes.
    type: str
    choices: [never, safe]
    default: never
  wait_timeout:
    description:
      - Seconds to wait, with O(recreate=safe), for the tasks of the detached services to leave the
        network and for each service's update to complete.
    type: int
    default: 300
  docker_host:
    description:
      - The Docker Engine API address.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description:
      - Seconds to wait for each answer from the engine.
    type: int
    default: 60
notes:
  - Run it on a swarm manager (the M(ironclad.swarm.overlay_network) task of the
    C(ironclad.swarm.networks) role runs on the first host of the managers group).
  - Standalone containers on other nodes are found through the swarm's network attachment tasks;
    their names are shown when this manager can see them, their container ids otherwise.
  - Encryption needs the C(esp4) and C(xfrm_user) kernel modules and the ESP protocol (IP protocol 50)
    allowed between nodes. Without them Docker still creates the network and traffic between
    nodes silently fails; see the collection's C(kernel_modules) module.
  - A network the swarm failed to allocate (Docker 28 lists it with an empty driver and no subnet) is reported
    as such; O(state=absent) removes it.
requirements:
  - Docker SDK for Python 5.0.3 or newer (Debian package C(python3-docker)) on the manager.
  - Docker Engine API 1.39 or newer (Docker 19.03+).
  - C(ip) from iproute2 for O(mtu=auto).
attributes:
  check_mode:
    support: full
    description: Validates, compares and reports what would be done, changing nothing.
  diff_mode:
    support: full
    description: Shows the network's spec before and after.
  idempotent:
    support: full
    description: A second run with the same declaration reports no change.
  platform:
    support: full
    platforms: posix
    description: Runs on the swarm manager whose engine it manages (Linux).
seealso:
  - name: Docker overlay network driver
    description: Docker's documentation of overlay networks and their encryption.
    link: https://docs.docker.com/engine/network/drivers/overlay/
  - module: community.docker.docker_network
"""

EXAMPLES = r"""
- name: An encrypted network for the application (encrypted is the default)
  ironclad.swarm.overlay_network:
    name: app
    ipam:
      - subnet: 172.30.0.0/24
    mtu: auto
    labels:
      owner: platform

- name: A plain network, on purpose
  ironclad.swarm.overlay_network:
    name: metrics
    encrypted: false
    attachable: true

- name: Move a network to a new subnet while services use it
  ironclad.swarm.overlay_network:
    name: app
    ipam:
      - subnet: 172.31.0.0/24
        gateway: 172.31.0.1
    recreate: safe
  register: app_net

- name: Show what was done
  ansible.builtin.debug:
    var: app_net.actions

- name: Recreate the routing mesh encrypted, with the underlay MTU
  ironclad.swarm.overlay_network:
    name: ingress
    ingress: true
    ipam:
      - subnet: 172.29.0.0/24
    mtu: 1450
    recreate: safe

- name: Remove a network
  ironclad.swarm.overlay_network:
    name: old
    state: absent
"""

RETURN = r"""
network:
  description:
    - The network as C(docker network inspect) reports it after this run.
    - In check mode, the live network as it is (V({}) when it does not exist yet). After removal, V({}).
  returned: always
  type: dict
  sample:
    Name: app
    Id: k33bcbh57hp77v6j2pg9si0c2
    Driver: overlay
    Scope: swarm
    Attachable: false
    Internal: false
    Ingress: false
    EnableIPv6: false
    IPAM: {Driver: default, Config: [{Subnet: 172.30.0.0/24, Gateway: 172.30.0.1}]}
    Options: {encrypted: "true", com.docker.network.driver.mtu: "1500",
              com.docker.network.driver.overlay.vxlanid_list: "4102"}
    Labels: {owner: platform}
encrypted:
  description: Whether the network is encrypted after this run (in check mode, would be); V(false) when absent.
  returned: always
  type: bool
  sample: true
container_mtu:
  description:
    - The MTU Docker gives container interfaces on the network after this run (in check mode, would give),
      worked out as Docker does from the network's MTU option. V(null) when the network is absent.
  returned: always
  type: int
  sample: 1424
actions:
  description:
    - What this run did, in order (in check mode, would do). Empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample:
    - "detached network app from service web (aliases: www)"
    - removed network app (k33bcbh57hp77v6j2pg9si0c2)
    - created network app
    - "attached network app to service web (aliases: www)"
differences:
  description:
    - Every field in which the live network differed from the declaration, before this run.
  returned: always
  type: list
  elements: dict
  contains:
    field:
      description: The field, as named in the diff (V(encrypted), V(ipam), V(mtu), ...).
      type: str
    live:
      description: Its live value.
      type: raw
    declared:
      description: Its declared value.
      type: raw
  sample:
    - {field: encrypted, live: true, declared: false}
services:
  description: The services that were (in check mode, would be) detached and attached again.
  returned: always
  type: list
  elements: str
  sample: [web]
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import attachments as overlay_attachments
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import network_diff as overlay_diff
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import options as overlay_options
from ansible_collections.ironclad.swarm.plugins.module_utils.common.docker import (
    ENGINE_ARGUMENT_SPEC,
    EngineError,
    connect,
)

ACTIVE_ATTACHMENT = 'running'


def argument_spec():
    spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        encrypted=dict(type='bool', default=True),
        attachable=dict(type='bool', default=False),
        internal=dict(type='bool', default=False),
        ingress=dict(type='bool', default=False),
        ipam=dict(type='list', elements='dict', options=dict(
            subnet=dict(type='str', required=True),
            gateway=dict(type='str'),
            ip_range=dict(type='str'),
        )),
        mtu=dict(type='raw'),
        labels=dict(type='dict'),
        driver_options=dict(type='dict', default={}),
        recreate=dict(type='str', choices=['never', 'safe'], default='never'),
        wait_timeout=dict(type='int', default=300),
    )
    spec.update(ENGINE_ARGUMENT_SPEC)
    return spec


def _sentence(error):
    text = ('%s' % error).strip()
    return text if text.endswith('.') else text + '.'


def _unallocated(network):
    """A swarm network the manager's allocator never completed: no driver, subnet or VXLAN id (Docker 28 keeps
    such a network listed, with an empty Driver, when the allocation fails)."""
    return network.get('Scope') == 'swarm' and not network.get('Driver')


IPV6_HINT = ('Docker 28.5 (seen on this collection\'s lab) and later versions cannot allocate IPv6 subnets for swarm '
             'overlay networks (moby/moby#52469): declare IPv4 subnets only.')


def _aliases(entry):
    aliases = entry.get('Aliases') or []
    return ' (aliases: %s)' % ', '.join(aliases) if aliases else ''


class OverlayNetworkManager:
    """Reads the live network, compares it field by field and changes it only outside check mode."""

    def __init__(self, module, engine_factory=connect):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.name = self.params['name']
        self.actions = []
        self.updated = []
        self.stale_ids = ()
        self.result = dict(changed=False, network={}, encrypted=False, container_mtu=None,
                           actions=self.actions, differences=[], services=[])
        self.validate()
        self.engine = engine_factory(module)

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    # declaration

    def validate(self):
        """Everything that can be judged without the engine; fails before any change."""
        errors = overlay_options.name_errors(self.params['name'])
        errors.extend(overlay_options.validate_driver_options(self.params['driver_options']))
        try:
            self.mtu = overlay_options.parse_mtu(self.params['mtu'])
        except overlay_options.OverlayError as error:
            errors.append('%s' % error)
        try:
            self.ipam = overlay_options.parse_ipam(self.params['ipam'])
        except overlay_options.OverlayError as error:
            errors.append('%s' % error)
        if self.params['ingress'] and self.params['attachable']:
            errors.append('attachable: an ingress network cannot be attachable; set attachable to false.')
        if self.params['wait_timeout'] < 0:
            errors.append('wait_timeout: %d is negative.' % self.params['wait_timeout'])
        if errors:
            self.module.fail_json(msg=' '.join(errors), **self.result)

    def resolve_mtu(self, swarm):
        if self.mtu != 'auto':
            return self.mtu
        address = swarm.get('_node_addr')
        rc, out, err = self.module.run_command(['ip', '-j', 'address', 'show'])
        if rc != 0:
            self.fail("mtu: 'auto' needs 'ip -j address show' (iproute2), which failed: %s" % (err or out).strip())
        found = overlay_attachments.interface_for_address(json.loads(out or '[]'), address)
        if not found:
            self.fail("mtu: 'auto' found no interface holding this manager's swarm address %s; give the "
                      "data-path interface's MTU as an integer." % address)
        return found[1]

    # the live side

    def find_live(self):
        """The live network this declaration manages, or None; fails when the name is taken by another kind."""
        matches = self.engine.networks_named(self.name)
        for network in matches:
            if _unallocated(network):
                continue
            if network.get('Driver') != 'overlay' or network.get('Scope') != 'swarm':
                self.fail("The name '%s' is taken by a %s network of scope %s (%s), not a swarm overlay network. "
                          "Choose another name, or remove that network first."
                          % (self.name, network.get('Driver'), network.get('Scope'), network.get('Id', '')[:12]))
        live, stale = overlay_diff.newest(matches)
        if self.params['ingress']:
            current, stale_ingress = overlay_diff.newest([n for n in self.engine.networks() if n.get('Ingress')])
            stale.extend(n for n in stale_ingress if n not in stale)
            if current is not None and (live is None or live.get('Id') != current.get('Id')):
                if live is not None and live not in stale_ingress:
                    self.fail("ingress: '%s' is an ordinary overlay network, and the swarm's ingress network is "
                              "'%s'. Choose another name for the ingress network, or remove '%s' first."
                              % (self.name, current.get('Name'), self.name))
                live = current
        elif live is not None and live.get('Ingress'):
            self.fail("'%s' is the swarm's ingress network; declare it with ingress: true to manage it."
                      % self.name)
        self.stale_ids = tuple(network['Id'] for network in stale)
        for network in stale:
            self.module.warn(
                "Network '%s' (%s) is also listed: a removed network that this node keeps until its own endpoints "
                "on it are gone (for an old ingress network: until a task publishing a port runs here). Ignored."
                % (network.get('Name'), network['Id']))
        if live is None:
            return None
        return self.engine.inspect_network(live['Id'], verbose=True)

    def standalone_containers(self, live):
        """Names of the standalone containers attached to the network (with their node)."""
        names = overlay_attachments.verbose_container_names(live)
        for container in (live.get('Containers') or {}).values():
            address = (container.get('IPv4Address') or '').split('/', 1)[0]
            if address and address not in names:
                names[address] = container.get('Name')
        found = []
        for task in overlay_attachments.attachment_tasks(self.engine.attachment_tasks(), live['Id']):
            container_id = task['Spec']['NetworkAttachmentSpec'].get('ContainerID', '')
            name = None
            for address in overlay_attachments.task_addresses(task):
                name = name or names.get(address)
            node = self.engine.node_hostname(task.get('NodeID'))
            found.append('%s (on node %s)' % (name or 'container ' + container_id[:12], node))
        return sorted(found)

    # states

    def present(self):
        swarm = self.engine.require_manager()
        live = self.find_live()
        mtu = self.resolve_mtu(swarm)
        params = dict(self.params, ipam=self.ipam)
        wanted = overlay_diff.canonical_desired(params, mtu)
        before = overlay_diff.canonical_live(live) if live else None
        if before:
            before['name'] = live.get('Name')

        own_ids = ((live['Id'],) if live else ()) + self.stale_ids
        overlaps = overlay_options.check_overlaps(self.ipam, self.engine.networks(), swarm.get('DefaultAddrPool'), own_ids)
        if overlaps:
            self.fail(' '.join(overlaps))

        after = overlay_diff.merged_after(wanted, before)
        after['name'] = self.name
        if live is None:
            self.set_diff(None, after)
            self.create(wanted)
            return
        if _unallocated(live):
            self.fail("Network '%s' (%s) exists but the swarm never allocated it: it has no driver, subnet or VXLAN id, "
                      "so no task can use it (the manager's log says why: 'Failed allocation for network %s'). "
                      "Remove it (state: absent, or docker network rm %s) and run again.%s"
                      % (self.name, live['Id'], live['Id'], live['Id'][:12],
                         ' ' + IPV6_HINT if live.get('EnableIPv6') else ''))
        found = overlay_diff.differences(wanted, before)
        if live.get('Name') != self.name:
            found.insert(0, ('name', live.get('Name'), self.name))
        self.result['differences'] = [dict(field=field, live=have, declared=want) for field, have, want in found]
        self.result['network'] = live
        self.set_outcome(before)
        if not found:
            return
        self.set_diff(before, after)
        if self.params['recreate'] == 'never':
            self.fail("Network '%s' differs from its declaration in what Docker cannot change in place: %s. "
                      "Set recreate to safe to recreate it (attached services are detached and attached again "
                      "with the same aliases), or change the declaration to match."
                      % (live.get('Name'), overlay_diff.describe_differences(found)))
        self.recreate(live, wanted)

    def absent(self):
        self.engine.require_manager()
        live = self.find_live()
        if live is None:
            return
        services = [service['Spec']['Name']
                    for service, _entry in overlay_attachments.service_attachments(self.engine.services(), live)]
        containers = self.standalone_containers(live)
        if services or containers:
            self.fail("Network '%s' is still in use, remove it from these first: %s."
                      % (self.name, ', '.join(['service ' + name for name in services] + containers)))
        self.set_diff(dict(overlay_diff.canonical_live(live), name=live.get('Name')), None)
        self.result['changed'] = True
        self.actions.append('removed network %s (%s)' % (self.name, live['Id']))
        if not self.check_mode:
            self.engine.remove_network(live['Id'])

    # changes

    def create(self, wanted):
        self.result['changed'] = True
        self.actions.append('created network %s' % self.name)
        if self.check_mode:
            self.set_outcome(wanted)
            return
        network_id = self.engine.create_network(self.name, overlay_diff.create_arguments(wanted))
        network = self.engine.wait_for_network(network_id, overlay_options.is_allocated, self.params['timeout'])
        if network is not None and not overlay_options.is_allocated(network):
            # Docker accepted the create and the allocator then failed: a network no task can use. It was made
            # by this run, so it goes again, and the run fails instead of reporting a useless network as created.
            try:
                self.engine.remove_network(network_id)
                removed = 'It was removed again.'
            except EngineError as error:
                removed = 'Removing it failed too: %s' % _sentence(error)
            self.fail("Docker created network '%s' (%s), but the swarm did not allocate it within %d seconds: no "
                      "driver, subnet or VXLAN id, so no task could use it (the manager's log says why: 'Failed "
                      "allocation for network %s'). %s%s"
                      % (self.name, network_id, self.params['timeout'], network_id, removed,
                         ' ' + IPV6_HINT if any(':' in entry['subnet'] for entry in wanted['ipam'] or []) else ''))
        self.result['network'] = network
        self.set_outcome(overlay_diff.canonical_live(network))
        return network_id

    def recreate(self, live, wanted):
        attached = overlay_attachments.service_attachments(self.engine.services(), live)
        containers = self.standalone_containers(live)
        if containers:
            self.fail("recreate=safe refuses to recreate network '%s': standalone containers are attached and "
                      "Docker cannot re-attach them for you: %s. Stop them or disconnect them "
                      "(docker network disconnect %s CONTAINER), then run again."
                      % (live['Name'], ', '.join(containers), live['Name']))
        publishing = overlay_attachments.services_publishing_ingress(self.engine.services()) if live.get('Ingress') else []
        self.result['services'] = sorted(set([service['Spec']['Name'] for service, _entry in attached]
                                             + [service['Spec']['Name'] for service in publishing]))
        self.result['changed'] = True
        if self.check_mode:
            self.plan(live, attached, publishing)
            self.set_outcome(wanted)
            return
        wait = self.params['wait_timeout']
        try:
            for service, entry in attached:
                self.update(service, overlay_attachments.spec_without_network(service['Spec'], live),
                            'detached network %s from service %s%s' % (live['Name'], service['Spec']['Name'],
                                                                       _aliases(entry)))
            for service in publishing:
                self.update(service, overlay_attachments.spec_without_ingress_ports(service['Spec']),
                            'unpublished the routing-mesh ports of service %s' % service['Spec']['Name'])
            # Let the rolling updates finish, so that no task is still on the network.
            for service, previous in self.updated:
                self.engine.wait_for_update(service['ID'], previous, wait)
            self.engine.remove_network(live['Id'], wait=wait)
        except EngineError as error:
            self.roll_back(self.updated)
            self.fail('%s Nothing was recreated; the services were given their network back.' % _sentence(error))
        self.actions.append('removed network %s (%s)' % (live['Name'], live['Id']))
        try:
            # A manager forgets a removed network only once its own endpoints on it are gone
            # (an ingress network: once the new one exists, so it is not waited for).
            if not live.get('Ingress'):
                self.engine.wait_for_name_free(live['Name'], wait)
            network_id = self.create(wanted)
        except EngineError as error:
            self.fail('%s The old network is removed; these services are detached from it: %s. Fix the '
                      'cause and run again to create it and attach them.'
                      % (_sentence(error), ', '.join(self.result['services']) or 'none'))
        detach_updates = len(self.updated)
        try:
            for service, entry in attached:
                current = self.engine.inspect_service(service['ID'])
                self.update(current, overlay_attachments.spec_with_network(current['Spec'], entry, network_id),
                            'attached network %s to service %s%s' % (self.name, service['Spec']['Name'],
                                                                     _aliases(entry)))
            for service in publishing:
                current = self.engine.inspect_service(service['ID'])
                spec = dict(current['Spec'], EndpointSpec=service['Spec'].get('EndpointSpec'))
                self.update(current, spec, 'published the ports of service %s again' % service['Spec']['Name'])
            for service, previous in self.updated[detach_updates:]:
                self.engine.wait_for_update(service['ID'], previous, wait)
        except EngineError as error:
            hint = ''
            if live.get('Ingress'):
                hint = (' A node that still lists an older ingress network (docker network ls) cannot set up the new '
                        'one and leaves tasks publishing ports in Starting; restarting dockerd on that node clears '
                        'the leftover.')
            self.fail('%s%s' % (_sentence(error), hint))

    def update(self, service, spec, action):
        current = self.engine.inspect_service(service['ID'])
        self.engine.update_service_spec(current, spec)
        self.updated.append((current, current.get('UpdateStatus')))
        self.actions.append(action)

    def roll_back(self, updated):
        """Give the services updated so far their original spec back after a failed removal."""
        for service, _previous in updated:
            try:
                current = self.engine.inspect_service(service['ID'])
                spec = dict(service['Spec'])
                self.engine.update_service_spec(current, spec)
                self.actions.append('restored the spec of service %s' % spec.get('Name'))
            except EngineError as error:
                self.actions.append('could not restore service %s: %s' % (service['Spec'].get('Name'), error))

    def plan(self, live, attached, publishing):
        for service, entry in attached:
            self.actions.append('detached network %s from service %s%s'
                                % (live['Name'], service['Spec']['Name'], _aliases(entry)))
        for service in publishing:
            self.actions.append('unpublished the routing-mesh ports of service %s' % service['Spec']['Name'])
        self.actions.append('removed network %s (%s)' % (live['Name'], live['Id']))
        self.actions.append('created network %s' % self.name)
        for service, entry in attached:
            self.actions.append('attached network %s to service %s%s'
                                % (self.name, service['Spec']['Name'], _aliases(entry)))
        for service in publishing:
            self.actions.append('published the ports of service %s again' % service['Spec']['Name'])

    # reporting

    def set_outcome(self, canonical):
        self.result['encrypted'] = bool(canonical and canonical['encrypted'])
        self.result['container_mtu'] = (
            overlay_options.container_mtu(canonical['mtu'], canonical['encrypted']) if canonical else None)

    def set_diff(self, before, after):
        if not self.module._diff:
            return
        self.result['diff'] = dict(before=before or {}, after=after or {})

    def run(self):
        try:
            if self.params['state'] == 'present':
                self.present()
            else:
                self.absent()
        except EngineError as error:
            self.fail('%s' % error)
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    OverlayNetworkManager(module).run()


if __name__ == '__main__':
    main()
