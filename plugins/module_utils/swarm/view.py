# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
#
# The swarm as one manager sees it, condensed for the audit: members, managers and quorum,
# overlay networks (encrypted or not) and the nodes their running tasks are on, services
# (image, user, published ports, the NAMES of their environment variables, never the values)
# and the swarm's security settings. Pure functions over the engine's answers, plus read(),
# which asks the engine.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PROBE_LABEL = 'ironclad.swarm.audit'


def _node(node):
    description = node.get('Description') or {}
    manager = node.get('ManagerStatus') or {}
    status = node.get('Status') or {}
    spec = node.get('Spec') or {}
    return {
        'id': node.get('ID'),
        'hostname': description.get('Hostname'),
        'role': spec.get('Role'),
        'availability': spec.get('Availability'),
        'state': status.get('State'),
        'address': status.get('Addr'),
        'engine_version': (description.get('Engine') or {}).get('EngineVersion'),
        # In the Raft membership: the engine fills ManagerStatus from it. A node whose spec asks for the manager
        # role but that never joined Raft (a promotion that could not reach it) or left it has none.
        'raft_member': bool(manager),
        'leader': bool(manager.get('Leader')),
        'reachability': manager.get('Reachability'),
        'manager_addr': manager.get('Addr'),
    }


def is_encrypted(network):
    """Docker encrypts an overlay whenever the option is present, whatever its value."""
    return 'encrypted' in (network.get('Options') or {})


def condense(info, swarm, nodes, networks, services, tasks, secrets):
    """The engine's answers -> the view (plain data, no secret values)."""
    swarm_info = (info or {}).get('Swarm') or {}
    spec = (swarm or {}).get('Spec') or {}
    by_node = dict((n.get('ID'), (n.get('Description') or {}).get('Hostname')) for n in nodes or [])
    net_names = dict((n.get('Id'), n.get('Name')) for n in networks or [])
    view_nets = {}
    for net in networks or []:
        if net.get('Driver') != 'overlay' or net.get('Scope') != 'swarm':
            continue
        view_nets[net.get('Name')] = {
            'name': net.get('Name'), 'id': net.get('Id'), 'encrypted': is_encrypted(net),
            'ingress': bool(net.get('Ingress')), 'attachable': bool(net.get('Attachable')),
            'nodes': [], 'services': []}
    service_names = dict((s.get('ID'), ((s.get('Spec') or {}).get('Name'))) for s in services or [])
    service_nodes = {}
    for task in tasks or []:
        if (task.get('Status') or {}).get('State') != 'running':
            continue
        node = by_node.get(task.get('NodeID'), task.get('NodeID'))
        service = service_names.get(task.get('ServiceID'))
        if service:
            service_nodes.setdefault(service, set()).add(node)
        for attachment in task.get('NetworksAttachments') or []:
            name = ((attachment.get('Network') or {}).get('Spec') or {}).get('Name') \
                or net_names.get((attachment.get('Network') or {}).get('ID'))
            if name in view_nets:
                if node not in view_nets[name]['nodes']:
                    view_nets[name]['nodes'].append(node)
                if service and service not in view_nets[name]['services']:
                    view_nets[name]['services'].append(service)
    view_services = []
    for service in services or []:
        sspec = service.get('Spec') or {}
        labels = sspec.get('Labels') or {}
        if labels.get(PROBE_LABEL) == 'probe':
            continue
        template = sspec.get('TaskTemplate') or {}
        container = template.get('ContainerSpec') or {}
        endpoint = service.get('Endpoint') or {}
        ports = (endpoint.get('Spec') or {}).get('Ports') or endpoint.get('Ports') or []
        networks_of = [net_names.get(n.get('Target'), n.get('Target')) for n in template.get('Networks') or sspec.get('Networks') or []]
        view_services.append({
            'name': sspec.get('Name'),
            'image': container.get('Image'),
            'user': container.get('User') or '',
            'env_names': sorted(set(e.split('=', 1)[0] for e in container.get('Env') or [])),
            'secrets': sorted(s.get('SecretName') for s in container.get('Secrets') or [] if s.get('SecretName')),
            'networks': sorted(n for n in networks_of if n),
            'ports': [{'published': p.get('PublishedPort'), 'target': p.get('TargetPort'), 'protocol': p.get('Protocol'),
                       'mode': p.get('PublishMode') or 'ingress'} for p in ports],
            'nodes': sorted(n for n in service_nodes.get(sspec.get('Name'), ()) if n),
        })
    ca_config = spec.get('CAConfig') or {}
    return {
        'state': swarm_info.get('LocalNodeState'),
        'control': bool(swarm_info.get('ControlAvailable')),
        'node_id': swarm_info.get('NodeID'),
        'cluster_id': (swarm or {}).get('ID'),
        'autolock': bool((spec.get('EncryptionConfig') or {}).get('AutoLockManagers')),
        'node_cert_expiry_s': (ca_config.get('NodeCertExpiry') or 0) // 1000000000 or None,
        'root_ca_pem': ((swarm or {}).get('TLSInfo') or {}).get('TrustRoot'),
        'root_rotation': bool((swarm or {}).get('RootRotationInProgress')),
        'data_path_port': (swarm or {}).get('DataPathPort'),
        'nodes': [_node(n) for n in nodes or []],
        'networks': sorted(view_nets.values(), key=lambda n: n['name']),
        'services': sorted(view_services, key=lambda s: s['name'] or ''),
        'secrets': len(secrets or []),
    }


def read(api):
    """Ask the engine (a docker.APIClient); (view, error). With no leader, the view holds what could be read."""
    info = api.info()
    swarm_info = info.get('Swarm') or {}
    if swarm_info.get('LocalNodeState') != 'active' or not swarm_info.get('ControlAvailable'):
        return condense(info, None, [], [], [], [], []), None
    try:
        swarm = api.inspect_swarm()
        nodes = api.nodes()
        networks = api.networks(filters={'driver': 'overlay'})
        services = api.services()
        tasks = api.tasks(filters={'desired-state': 'running'})
        secrets = api.secrets()
    except Exception as error:  # the SDK raises its own errors and requests' alike
        message = getattr(error, 'explanation', None) or str(error)
        if isinstance(message, bytes):
            message = message.decode('utf-8', 'replace')
        return condense(info, None, [], [], [], [], []), message.strip()
    return condense(info, swarm, nodes, networks, services, tasks, secrets), None
