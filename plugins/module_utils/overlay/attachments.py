# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.

"""What is attached to an overlay network, and service specs rewritten to detach and re-attach it.

Before a recreate the overlay_network module lists the services on the network (service_attachments),
those that publish through the routing mesh when it is the ingress (services_publishing_ingress), and the
standalone containers on it (attachment_tasks, task_addresses, verbose_container_names); the spec_*
functions return copies of a service spec without or with the network. interface_for_address finds the
interface of an address in `ip -j addr show`, for the MTU check. Nothing here talks to an engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy


def _spec_networks(spec):
    """The network list a service spec uses: TaskTemplate.Networks, or the deprecated top-level Networks."""
    template = spec.get('TaskTemplate') or {}
    if template.get('Networks'):
        return template['Networks']
    return spec.get('Networks') or []


def _set_spec_networks(spec, networks):
    # Docker moved service networks into the task template (API 1.25) and dropped the
    # top-level list (API 1.44): always write them there.
    spec.pop('Networks', None)
    spec.setdefault('TaskTemplate', {})['Networks'] = networks
    return spec


def service_attachments(services, network):
    """[(service, its entry for this network)] for services whose spec names the network by id or name."""
    keys = set([network.get('Id'), network.get('Name')])
    found = []
    for service in services:
        for entry in _spec_networks(service.get('Spec') or {}):
            if entry.get('Target') in keys:
                found.append((service, entry))
                break
    return found


def spec_without_network(spec, network):
    """A copy of a service spec with the network removed, everything else unchanged."""
    keys = set([network.get('Id'), network.get('Name')])
    spec = copy.deepcopy(spec)
    kept = [entry for entry in _spec_networks(spec) if entry.get('Target') not in keys]
    return _set_spec_networks(spec, kept)


def spec_with_network(spec, entry, network_id):
    """A copy of a service spec with the network entry (aliases, driver options) attached to network_id."""
    spec = copy.deepcopy(spec)
    networks = [item for item in _spec_networks(spec) if item.get('Target') != network_id]
    entry = copy.deepcopy(entry)
    entry['Target'] = network_id
    networks.append(entry)
    return _set_spec_networks(spec, networks)


def services_publishing_ingress(services):
    """Services that publish a port through the routing mesh (and so depend on the ingress network)."""
    found = []
    for service in services:
        ports = ((service.get('Spec') or {}).get('EndpointSpec') or {}).get('Ports') or []
        if any((port.get('PublishMode') or 'ingress') == 'ingress' and port.get('PublishedPort') for port in ports):
            found.append(service)
    return found


def spec_without_ingress_ports(spec):
    """A copy of a service spec without its routing-mesh published ports (host-mode ports stay)."""
    spec = copy.deepcopy(spec)
    endpoint = spec.get('EndpointSpec') or {}
    ports = endpoint.get('Ports') or []
    endpoint['Ports'] = [port for port in ports if (port.get('PublishMode') or 'ingress') != 'ingress']
    spec['EndpointSpec'] = endpoint
    return spec


def attachment_tasks(tasks, network_id):
    """Standalone containers (swarm attachment tasks) that are on the network and not shut down."""
    found = []
    for task in tasks:
        spec = task.get('Spec') or {}
        attachment = spec.get('NetworkAttachmentSpec')
        if attachment is None:
            continue
        if (task.get('Status') or {}).get('State') not in ('new', 'pending', 'assigned', 'accepted', 'preparing',
                                                           'ready', 'starting', 'running'):
            continue
        if any(entry.get('Target') == network_id for entry in spec.get('Networks') or []):
            found.append(task)
    return found


def verbose_container_names(network):
    """Endpoint IP -> container name for standalone containers in a verbose inspect (the service key '').

    A manager only sees these for networks it has an endpoint on itself.
    """
    names = {}
    for task in (((network.get('Services') or {}).get('') or {}).get('Tasks') or []):
        if task.get('EndpointIP'):
            names[task['EndpointIP']] = task.get('Name')
    return names


def task_addresses(task):
    """The IP addresses (no prefix length) a task holds on any network."""
    addresses = []
    for attachment in task.get('NetworksAttachments') or []:
        for address in attachment.get('Addresses') or []:
            addresses.append(address.split('/', 1)[0])
    return addresses


def interface_for_address(interfaces, address):
    """(name, mtu) of the interface holding address, from `ip -j addr show` output; None if none does."""
    for interface in interfaces or []:
        for info in interface.get('addr_info') or []:
            if info.get('local') == address:
                return interface.get('ifname'), interface.get('mtu')
    return None
