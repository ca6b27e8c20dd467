# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decisions of the ironclad.swarm.hcloud role, kept out of Jinja so they can be unit tested.

``hcloud_validate`` checks the role's variables and Hetzner's limits without any API call.
``hcloud_plan`` takes the same variables and the cluster's servers as hetzner.hcloud.server_info
reports them, and returns the servers to create, the departed ones, and the exact rule lists of
the two Cloud Firewalls (sorted, canonical CIDRs, so that hetzner.hcloud.firewall, which compares
rule lists in order as strings, sees no change on a re-run).
Documentation of each filter lives in the sidecar ``<filter>.yml`` next to this file.
"""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError

# Hetzner Cloud limits (docs.hetzner.cloud, Firewalls; Placement Groups).
MAX_RULES = 50                 # rules per firewall
MAX_EFFECTIVE_RULES = 500      # per firewall: here counted as one per (rule, source CIDR)
MAX_SOURCES = 100              # source CIDRs per rule
MAX_FIREWALLS_PER_SERVER = 5
MAX_SPREAD_GROUP = 10          # servers in a spread placement group

LABEL_CLUSTER = 'ironclad.swarm/cluster'
LABEL_ROLE = 'ironclad.swarm/role'
# Set on a server that left the declaration, with hcloud_remove_departed: the inventory leaves it out of
# the swarm groups so the cluster role drains and removes it, then the role deletes it.
LABEL_DEPARTED = 'ironclad.swarm/departed'
ROLES = ('manager', 'worker')

# Server names are host names: the swarm and the inventory use them.
_NAME = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
# Label values: at most 63 characters, alphanumerics with - _ . inside.
_LABEL_VALUE = re.compile(r'^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$')
_PROTOCOLS = ('tcp', 'udp', 'icmp', 'esp', 'gre')


def _cfg(decl, key, default=None):
    if not isinstance(decl, dict):
        raise AnsibleFilterError('the hcloud declaration must be a dict, got %s' % type(decl).__name__)
    value = decl.get(key, default)
    return default if value is None else value


def _node_list(decl, role, errors):
    """The declared servers of one role: [{name, role, server_type, location, image}]."""
    var = 'hcloud_%ss' % role
    raw = _cfg(decl, role + 's', 0)
    cluster = _cfg(decl, 'cluster_name', '')
    defaults = {key: _cfg(decl, key, '') for key in ('server_type', 'location', 'image')}
    nodes = []
    if isinstance(raw, bool):
        errors.append('%s must be a count or a list of servers, got a boolean' % var)
        return nodes
    if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
        count = int(raw)
        if count < 0:
            errors.append('%s must not be negative' % var)
        for index in range(1, count + 1):
            node = dict(defaults, name='%s-%s-%d' % (cluster, role, index), role=role)
            nodes.append(node)
        return nodes
    if not isinstance(raw, (list, tuple)):
        errors.append('%s must be a count or a list of servers, got %s' % (var, type(raw).__name__))
        return nodes
    for index, item in enumerate(raw):
        if isinstance(item, str):
            item = {'name': item}
        if not isinstance(item, dict) or not item.get('name'):
            errors.append('%s[%d] needs a name: write it as a string or as {name: ..., server_type: ..., '
                          'location: ..., image: ...}' % (var, index))
            continue
        unknown = sorted(set(item) - {'name', 'server_type', 'location', 'image'})
        if unknown:
            errors.append('%s[%d] (%s) has unknown keys %s: only name, server_type, location and image are '
                          'read' % (var, index, item['name'], ', '.join(unknown)))
        node = dict(defaults, role=role)
        node.update((k, v) for k, v in item.items() if v not in (None, ''))
        node['name'] = str(node['name'])
        nodes.append(node)
    return nodes


def _cidr(text, field, errors):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError as exc:
        errors.append('%s: %r is not a network in CIDR form (%s); write it as 198.51.100.7/32 or '
                      '2001:db8::/64 with no host bits set' % (field, text, exc))
        return None


def _sorted_cidrs(networks):
    """Canonical text, IPv4 before IPv6, each in address order, without duplicates."""
    unique = {(net.version, net.network_address, net.prefixlen): net for net in networks}
    return [str(unique[key]) for key in sorted(unique)]


def _admin_sources(decl, errors):
    if _cfg(decl, 'ssh_from_anywhere', False):
        return ['0.0.0.0/0', '::/0']
    cidrs = _cfg(decl, 'admin_cidrs', [])
    if not isinstance(cidrs, (list, tuple)):
        errors.append('hcloud_admin_cidrs must be a list of CIDRs, got %s' % type(cidrs).__name__)
        return []
    if not cidrs:
        errors.append('hcloud_admin_cidrs is empty: list the networks SSH may come from (your office or '
                      'bastion, for example 198.51.100.7/32), or set hcloud_ssh_from_anywhere: true to open '
                      'port 22 to the whole internet on purpose')
        return []
    nets = [_cidr(c, 'hcloud_admin_cidrs', errors) for c in cidrs]
    return _sorted_cidrs([n for n in nets if n is not None])


def _extra_rules(decl, errors):
    rules = _cfg(decl, 'firewall_extra_rules', [])
    out = []
    if not isinstance(rules, (list, tuple)):
        errors.append('hcloud_firewall_extra_rules must be a list of rules')
        return out
    for index, rule in enumerate(rules):
        field = 'hcloud_firewall_extra_rules[%d]' % index
        if not isinstance(rule, dict):
            errors.append('%s must be a dict with protocol, port and source_ips' % field)
            continue
        proto = str(rule.get('protocol', '')).lower()
        if proto not in _PROTOCOLS:
            errors.append('%s.protocol must be one of %s, got %r' % (field, ', '.join(_PROTOCOLS), rule.get('protocol')))
            continue
        port = rule.get('port')
        if proto in ('tcp', 'udp') and not port:
            errors.append('%s: a %s rule needs a port (a number or a range such as 8000-8100)' % (field, proto))
            continue
        if proto not in ('tcp', 'udp') and port:
            errors.append('%s: a %s rule takes no port; remove port' % (field, proto))
            continue
        sources = rule.get('source_ips') or []
        nets = [_cidr(c, field + '.source_ips', errors) for c in sources]
        if not sources:
            errors.append('%s.source_ips is empty: list the networks this rule admits' % field)
        out.append(_rule(proto, str(port) if port else None, _sorted_cidrs([n for n in nets if n is not None]),
                         rule.get('description') or 'extra: %s %s' % (proto, port or '')))
    return out


def _rule(protocol, port, sources, description):
    return {'direction': 'in', 'protocol': protocol, 'port': port, 'source_ips': list(sources),
            'destination_ips': [], 'description': description.strip()}


def _firewall_limits(name, rules, errors):
    if len(rules) > MAX_RULES:
        errors.append('Cloud Firewall %s would have %d rules; Hetzner allows %d per firewall' % (name, len(rules), MAX_RULES))
    effective = sum(max(1, len(r['source_ips'])) for r in rules)
    if effective > MAX_EFFECTIVE_RULES:
        errors.append('Cloud Firewall %s would have %d effective rules (one per rule and source CIDR); Hetzner allows %d '
                      'per firewall: fewer nodes, fewer hcloud_admin_cidrs or hcloud_firewall_ipv6_peers: false'
                      % (name, effective, MAX_EFFECTIVE_RULES))
    for rule in rules:
        if len(rule['source_ips']) > MAX_SOURCES:
            errors.append('Cloud Firewall %s: rule "%s" would have %d source CIDRs; Hetzner allows %d per rule (the swarm '
                          'rules hold one per node: at most %d nodes, or half with hcloud_firewall_ipv6_peers)'
                          % (name, rule['description'], len(rule['source_ips']), MAX_SOURCES, MAX_SOURCES))


def _peer_networks(addresses):
    nets = []
    for addr in addresses:
        if not addr:
            continue
        text = str(addr)
        if '/' in text:  # an IPv6 /64 as the API gives it: the host is ::1 of it
            net = ipaddress.ip_network(text, strict=False)
            nets.append(ipaddress.ip_network('%s/128' % (net.network_address + 1)))
        else:
            ip = ipaddress.ip_address(text)
            nets.append(ipaddress.ip_network('%s/%d' % (ip, ip.max_prefixlen)))
    return nets


def _firewalls(decl, peers, errors):
    """The two firewalls' names and rules for a peer set (list of ip_network)."""
    cluster = _cfg(decl, 'cluster_name', '')
    sources = _sorted_cidrs(peers)
    port = str(_cfg(decl, 'data_path_port', 4789))
    nodes = [_rule('tcp', '22', _admin_sources(decl, errors), 'ssh from the admin networks')]
    managers = []
    if sources:
        nodes += [
            _rule('tcp', '7946', sources, 'swarm gossip (tcp) between the nodes'),
            _rule('udp', '7946', sources, 'swarm gossip (udp) between the nodes'),
            _rule('udp', port, sources, 'overlay data path (vxlan) between the nodes'),
            _rule('esp', None, sources, 'ipsec esp of encrypted overlays between the nodes'),
        ]
        managers = [_rule('tcp', '2377', sources, 'swarm control plane from the nodes')]
    nodes += _extra_rules(decl, errors)
    labels = {LABEL_CLUSTER: cluster}
    result = {
        'nodes': {'name': '%s-nodes' % cluster, 'labels': labels, 'rules': nodes,
                  'selector': '%s=%s' % (LABEL_CLUSTER, cluster)},
        'managers': {'name': '%s-managers' % cluster, 'labels': labels, 'rules': managers,
                     'selector': '%s=%s,%s=manager' % (LABEL_CLUSTER, cluster, LABEL_ROLE)},
    }
    for fw in result.values():
        _firewall_limits(fw['name'], fw['rules'], errors)
    return result


def _declared(decl, errors):
    cluster = _cfg(decl, 'cluster_name', '')
    if not _LABEL_VALUE.match(str(cluster)) or not _NAME.match(str(cluster)):
        errors.append('hcloud_cluster_name %r must be 1 to 63 lower-case letters, digits and dashes, starting and ending '
                      'with a letter or digit (it names the servers and is a label value)' % (cluster,))
    nodes = _node_list(decl, 'manager', errors) + _node_list(decl, 'worker', errors)
    seen = set()
    for node in nodes:
        if node['name'] in seen:
            errors.append('server %s is declared twice; each name appears once across hcloud_managers and '
                          'hcloud_workers' % node['name'])
        seen.add(node['name'])
        if not _NAME.match(node['name']):
            errors.append('server name %r is not a valid host name: 1 to 63 lower-case letters, digits and dashes'
                          % node['name'])
        for key in ('server_type', 'location', 'image'):
            if not node.get(key):
                errors.append('server %s has no %s: set hcloud_%s or give it in the server\'s entry' % (node['name'], key, key))
    managers = [n for n in nodes if n['role'] == 'manager']
    if not managers:
        errors.append('hcloud_managers declares no manager: a swarm needs at least one (three for fault tolerance)')
    if _cfg(decl, 'placement_group', True) and len(managers) > MAX_SPREAD_GROUP:
        errors.append('hcloud_managers declares %d managers, but a spread placement group holds at most %d servers: '
                      'declare at most %d managers (a swarm rarely needs more than 7) or set hcloud_placement_group: false'
                      % (len(managers), MAX_SPREAD_GROUP, MAX_SPREAD_GROUP))
    return nodes


def _firewall_count_check(decl, errors):
    extra = _cfg(decl, 'extra_firewalls', [])
    if not isinstance(extra, (list, tuple)):
        errors.append('hcloud_extra_firewalls must be a list of firewall names')
        extra = []
    total = 2 + len(extra)
    if total > MAX_FIREWALLS_PER_SERVER:
        errors.append('a manager would carry %d Cloud Firewalls (this role\'s 2 and %d from hcloud_extra_firewalls); '
                      'Hetzner allows %d per server: list at most %d in hcloud_extra_firewalls'
                      % (total, len(extra), MAX_FIREWALLS_PER_SERVER, MAX_FIREWALLS_PER_SERVER - 2))
    return list(extra)


def _placeholder_peers(count, ipv6):
    """Addresses that stand for `count` nodes, so the limits can be checked before any call."""
    nets = [ipaddress.ip_network('%s/32' % (ipaddress.ip_address('10.0.0.1') + i)) for i in range(count)]
    if ipv6:
        nets += [ipaddress.ip_network('%s/128' % (ipaddress.ip_address('fd00::1') + i)) for i in range(count)]
    return nets


def hcloud_validate(decl):
    """Every problem with the declaration, as messages naming the variable and the fix; empty means usable."""
    errors = []
    nodes = _declared(decl, errors)
    _firewall_count_check(decl, errors)
    port = _cfg(decl, 'data_path_port', 4789)
    if isinstance(port, bool) or not str(port).isdigit() or not 1024 <= int(port) <= 49151:
        errors.append('hcloud_data_path_port must be a UDP port from 1024 to 49151 (the cluster role\'s '
                      'cluster_data_path_port), got %r' % (port,))
    else:
        _firewalls(decl, _placeholder_peers(len(nodes), _cfg(decl, 'firewall_ipv6_peers', False)), errors)
    return errors


def hcloud_plan(servers, decl):
    """What to create, what departed, and both firewalls' rules, given the cluster's servers now."""
    errors = []
    nodes = _declared(decl, errors)
    extra = _firewall_count_check(decl, errors)
    if not isinstance(servers, (list, tuple)):
        raise AnsibleFilterError('hcloud_plan expects the server list of hetzner.hcloud.server_info, got %s'
                                 % type(servers).__name__)
    cluster = _cfg(decl, 'cluster_name', '')
    by_name = {s.get('name'): s for s in servers if isinstance(s, dict)}
    declared = {n['name'] for n in nodes}
    fw_nodes, fw_managers = '%s-nodes' % cluster, '%s-managers' % cluster
    placement = '%s-managers' % cluster if _cfg(decl, 'placement_group', True) else None
    wanted = []
    for node in nodes:
        live = by_name.get(node['name'])
        firewalls = [fw_nodes] + ([fw_managers] if node['role'] == 'manager' else []) + extra
        wanted.append({
            'name': node['name'], 'role': node['role'], 'server_type': node['server_type'],
            'location': node['location'], 'image': node['image'],
            'labels': {LABEL_CLUSTER: cluster, LABEL_ROLE: node['role']},
            'firewalls': firewalls,
            'placement_group': placement if node['role'] == 'manager' else None,
            'exists': live is not None,
            'ipv4': (live or {}).get('ipv4_address'),
        })
        if live is not None:
            for key in ('server_type', 'location'):
                if live.get(key) and node.get(key) and live[key] != node[key]:
                    errors.append('server %s exists with %s %s but is declared with %s %s: this role does not resize or '
                                  'move servers; declare %s or replace the server yourself'
                                  % (node['name'], key, live[key], key, node[key], live[key]))
    remove = bool(_cfg(decl, 'remove_departed', False))
    departed = []
    for server in servers:
        if server.get('name') in declared:
            continue
        departed.append({'name': server.get('name'), 'id': server.get('id'), 'ipv4': server.get('ipv4_address'),
                         'role': (server.get('labels') or {}).get(LABEL_ROLE, ''),
                         'labels': dict(server.get('labels') or {}, **{LABEL_DEPARTED: 'true'}) if remove
                         else dict(server.get('labels') or {})})
    addresses = [s.get('ipv4_address') for s in servers]
    if _cfg(decl, 'firewall_ipv6_peers', False):
        addresses += [s.get('ipv6') for s in servers]
    firewalls = _firewalls(decl, _peer_networks(addresses), errors)
    return {
        'servers': wanted,
        'create': [w['name'] for w in wanted if not w['exists']],
        'departed': departed,
        'firewalls': firewalls,
        'peers': firewalls['managers']['rules'][0]['source_ips'] if firewalls['managers']['rules'] else [],
        'errors': errors,
    }


def hcloud_missing(server, key, var, known):
    """The message for a declared server whose server type, location or image the project does not offer."""
    if not isinstance(server, dict):
        raise AnsibleFilterError('hcloud_missing expects a server of the hcloud_plan result')
    offer = ''
    if known:
        offer = ' (the API offers: %s)' % ', '.join(sorted(str(k) for k in known))
    return ('server %s: %s %r does not exist in this project%s; set %s or the server entry\'s %s'
            % (server.get('name'), key, server.get(key), offer, var, key))


class FilterModule(object):
    """ironclad.swarm hcloud filters."""

    def filters(self):
        return {
            'hcloud_validate': hcloud_validate,
            'hcloud_plan': hcloud_plan,
            'hcloud_missing': hcloud_missing,
        }
