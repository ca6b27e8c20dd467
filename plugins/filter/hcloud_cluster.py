# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decisions of the ironclad.swarm.hcloud role, kept out of Jinja so they can be unit tested.

``hcloud_validate`` checks the role's variables and Hetzner's limits without any API call.
``hcloud_plan`` takes the same variables and the cluster's servers as hetzner.hcloud.server_info
reports them, and returns the servers to create, the departed ones, and the exact rule lists of
the role's Cloud Firewalls (sorted, canonical CIDRs, so that hetzner.hcloud.firewall, which compares
rule lists in order as strings, sees no change on a re-run). Every server carries every one of them: TCP 2377
(CLUSTER-managers) is admitted on workers too, as the host fence does, so that a worker promoted by hand is
reachable by the other managers at once.
Documentation of each filter lives in the sidecar ``<filter>.yml`` next to this file.
"""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import flows

# Hetzner Cloud limits (docs.hetzner.cloud, Firewalls; Placement Groups).
MAX_RULES = 50                 # rules per firewall
MAX_EFFECTIVE_RULES = 500      # per firewall: here counted as one per (rule, source CIDR)
MAX_SOURCES = 100              # source CIDRs per rule
MAX_FIREWALLS_PER_SERVER = 5
MAX_SPREAD_GROUP = 10          # servers in a spread placement group

LABEL_PREFIX = 'ironclad.swarm/'
LABEL_CLUSTER = 'ironclad.swarm/cluster'
LABEL_ROLE = 'ironclad.swarm/role'
# Set on a server that left the declaration, with hcloud_remove_departed: the inventory leaves it out of
# the swarm groups so the cluster role drains and removes it, then the role deletes it.
LABEL_DEPARTED = 'ironclad.swarm/departed'
ROLES = ('manager', 'worker')
# CLUSTER-managers was applied by this selector, to managers only, until TCP 2377 was admitted on every server (as
# the host fence does): the role takes exactly this selector off the firewall, so an existing cluster converges.
RETIRED_MANAGER_SELECTOR = '%s=%%s,%s=manager' % (LABEL_CLUSTER, LABEL_ROLE)

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
                      'per firewall: fewer hcloud_admin_cidrs or sources in hcloud_firewall_extra_rules'
                      % (name, effective, MAX_EFFECTIVE_RULES))
    for rule in rules:
        if len(rule['source_ips']) > MAX_SOURCES:
            errors.append('Cloud Firewall %s: rule "%s" would have %d source CIDRs; Hetzner allows %d per rule: split it'
                          % (name, rule['description'], len(rule['source_ips']), MAX_SOURCES))


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


def _split(sources):
    """One rule's sources in parts of at most MAX_SOURCES."""
    return [sources[i:i + MAX_SOURCES] for i in range(0, len(sources), MAX_SOURCES)] or [[]]


def _swarm_rules(sources, port, listen=flows.EVERY_NODE):
    """The rules of the swarm's flows (module_utils/fence/flows.py) that the nodes listening so need, for these
    sources: every node's (TCP and UDP 7946, the data path, ESP) in CLUSTER-nodes and CLUSTER-peers-N, the
    managers' (TCP 2377) in CLUSTER-managers; each rule split at 100 sources."""
    rules = []
    if not sources:
        return rules
    for flow in flows.hcloud_flows(listen):
        rule_port = flow.port_for(port)
        for part in _split(sources):
            rules.append(_rule(flow.protocol, None if rule_port is None else str(rule_port), part, flow.hcloud))
    return rules


def _fixed_rules(decl, errors):
    """CLUSTER-nodes' rules that do not depend on the peers: SSH and hcloud_firewall_extra_rules."""
    return [_rule('tcp', '22', _admin_sources(decl, errors), 'ssh from the admin networks')] + _extra_rules(decl, errors)


def _fits(nodes, per_node, budget_effective, budget_rules):
    """Whether `nodes` peers' swarm rules (one per flow every node listens on) fit in the given budgets."""
    sources = nodes * per_node
    parts = -(-sources // MAX_SOURCES) if sources else 0
    count = len(flows.hcloud_flows(flows.EVERY_NODE))
    return count * sources <= budget_effective and count * parts <= budget_rules


def _capacity(per_node, budget_effective, budget_rules):
    """The most peers whose swarm rules fit in one firewall with these budgets."""
    nodes = 0
    while _fits(nodes + 1, per_node, budget_effective, budget_rules):
        nodes += 1
    return nodes


def peer_capacity(decl, errors=None):
    """How the peers spread: (nodes in CLUSTER-nodes, nodes per CLUSTER-peers-N, peer firewalls allowed, node limit).

    CLUSTER-nodes keeps SSH and the extra rules and fills the rest of its 500 effective rules with peers;
    each further CLUSTER-peers-N holds 125 (62 with IPv6 peers). Every server, worker or manager, carries
    CLUSTER-nodes, the CLUSTER-peers-N, CLUSTER-managers and hcloud_extra_firewalls: at most 5."""
    errors = [] if errors is None else errors
    per_node = 2 if _cfg(decl, 'firewall_ipv6_peers', False) else 1
    fixed = _fixed_rules(decl, errors)
    first = _capacity(per_node, MAX_EFFECTIVE_RULES - _effective(fixed), MAX_RULES - len(fixed))
    rest = _capacity(per_node, MAX_EFFECTIVE_RULES, MAX_RULES)
    extra = _cfg(decl, 'extra_firewalls', [])
    allowed = MAX_FIREWALLS_PER_SERVER - 1 - (len(extra) if isinstance(extra, (list, tuple)) else 0)
    # CLUSTER-managers: one rule per 100 sources for each flow the managers listen on (TCP 2377)
    per_flow = len(flows.hcloud_flows(flows.MANAGERS)) or 1
    managers_limit = min(MAX_EFFECTIVE_RULES // per_flow, MAX_RULES // per_flow * MAX_SOURCES) // per_node
    limit = min(managers_limit, first + max(0, allowed - 1) * rest) if allowed >= 1 else 0
    return first, rest, allowed, limit


def _peer_firewall_count(nodes, first, rest):
    if nodes <= first or rest <= 0:
        return 1
    return 1 + -(-(nodes - first) // rest)


def _effective(rules):
    return sum(max(1, len(r['source_ips'])) for r in rules)


def _firewalls(decl, peer_groups, node_count, errors):
    """The role's firewalls for the peers, in order: CLUSTER-nodes, CLUSTER-peers-2 ..., CLUSTER-managers.

    peer_groups: one list of ip_network per node, in the order the nodes fill the firewalls (server ID,
    so that a new server joins the last firewall and no address moves). node_count: the nodes the
    firewalls must have room for (the declared and the existing servers), which sets how many exist."""
    cluster = _cfg(decl, 'cluster_name', '')
    port = str(_cfg(decl, 'data_path_port', flows.DEFAULT_DATA_PATH_PORT))
    first, rest, _allowed, _limit = peer_capacity(decl, [])
    count = _peer_firewall_count(max(node_count, len(peer_groups)), first, rest)
    chunks = [peer_groups[:first]] + [peer_groups[first + i * rest: first + (i + 1) * rest] for i in range(count - 1)]
    labels = {LABEL_CLUSTER: cluster}
    selector = '%s=%s' % (LABEL_CLUSTER, cluster)
    result = []
    for index, chunk in enumerate(chunks):
        sources = _sorted_cidrs([net for node in chunk for net in node])
        if index == 0:
            rules = _fixed_rules(decl, errors)
            rules = rules[:1] + _swarm_rules(sources, port) + rules[1:]
            name = '%s-nodes' % cluster
        else:
            rules = _swarm_rules(sources, port)
            name = '%s-peers-%d' % (cluster, index + 1)
        result.append({'name': name, 'key': 'nodes' if index == 0 else 'peers-%d' % (index + 1), 'labels': labels,
                       'rules': rules, 'selector': selector, 'retired_selectors': []})
    everyone = _sorted_cidrs([net for node in peer_groups for net in node])
    managers = _swarm_rules(everyone, port, flows.MANAGERS)
    # Named for what listens on 2377, applied to every server: a worker promoted by hand must be reachable at once.
    result.append({'name': '%s-managers' % cluster, 'key': 'managers', 'labels': labels, 'rules': managers,
                   'selector': selector, 'retired_selectors': [RETIRED_MANAGER_SELECTOR % cluster]})
    for fw in result:
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
        errors.append('every server would carry %d Cloud Firewalls (this role\'s 2 and %d from hcloud_extra_firewalls); '
                      'Hetzner allows %d per server: list at most %d in hcloud_extra_firewalls'
                      % (total, len(extra), MAX_FIREWALLS_PER_SERVER, MAX_FIREWALLS_PER_SERVER - 2))
    return list(extra)


def _node_limit_check(decl, count, errors):
    """Refuse more nodes than the firewalls can admit, naming the limit and what sets it."""
    first, rest, allowed, limit = peer_capacity(decl, [])
    if allowed < 1 or count <= limit:
        return
    extra = _cfg(decl, 'extra_firewalls', [])
    errors.append('hcloud_managers and hcloud_workers declare %d servers, but this declaration admits at most %d: the swarm '
                  'rules take %d sources per node, CLUSTER-nodes has room for %d nodes beside SSH and the extra rules and '
                  'each CLUSTER-peers-N for %d, and every server, worker or manager, holds at most 5 firewalls '
                  '(CLUSTER-nodes, CLUSTER-managers, %d from hcloud_extra_firewalls, so %d CLUSTER-peers-N): declare at '
                  'most %d servers, or list fewer '
                  'hcloud_extra_firewalls, or set hcloud_firewall_ipv6_peers: false'
                  % (count, limit, 2 if _cfg(decl, 'firewall_ipv6_peers', False) else 1, first, rest,
                     len(extra) if isinstance(extra, (list, tuple)) else 0, max(0, allowed - 1), limit))


def _owned(key):
    return str(key).startswith(LABEL_PREFIX)


def hcloud_labels(live, wanted):
    """The labels to set: the live ones the role does not own (not ironclad.swarm/*), then the role's."""
    if live is not None and not isinstance(live, dict):
        raise AnsibleFilterError('hcloud_labels expects the live labels as a dict, got %s' % type(live).__name__)
    if not isinstance(wanted, dict):
        raise AnsibleFilterError('hcloud_labels expects the wanted labels as a dict, got %s' % type(wanted).__name__)
    out = {k: v for k, v in (live or {}).items() if not _owned(k)}
    out.update(wanted)
    return out


def _placeholder_peers(count, ipv6):
    """Addresses that stand for `count` nodes, so the limits can be checked before any call."""
    groups = []
    for i in range(count):
        nets = [ipaddress.ip_network('%s/32' % (ipaddress.ip_address('10.0.0.1') + i))]
        if ipv6:
            nets.append(ipaddress.ip_network('%s/128' % (ipaddress.ip_address('fd00::1') + i)))
        groups.append(nets)
    return groups


def hcloud_validate(decl):
    """Every problem with the declaration, as messages naming the variable and the fix; empty means usable."""
    errors = []
    nodes = _declared(decl, errors)
    _firewall_count_check(decl, errors)
    problem = flows.data_path_port_error(_cfg(decl, 'data_path_port', flows.DEFAULT_DATA_PATH_PORT))
    if problem:
        errors.append('hcloud_data_path_port (the cluster role\'s cluster_data_path_port): %s' % problem)
    else:
        _node_limit_check(decl, len(nodes), errors)
        _firewalls(decl, _placeholder_peers(len(nodes), _cfg(decl, 'firewall_ipv6_peers', False)), len(nodes), errors)
    return errors


def hcloud_plan(servers, decl):
    """What to create or relabel, what departed, and the firewalls' rules, given the cluster's servers now."""
    errors = []
    nodes = _declared(decl, errors)
    extra = _firewall_count_check(decl, errors)
    if not isinstance(servers, (list, tuple)):
        raise AnsibleFilterError('hcloud_plan expects the server list of hetzner.hcloud.server_info, got %s'
                                 % type(servers).__name__)
    servers = [s for s in servers if isinstance(s, dict)]
    cluster = _cfg(decl, 'cluster_name', '')
    by_name = {s.get('name'): s for s in servers}
    declared = {n['name'] for n in nodes}
    node_count = len(declared | set(by_name))
    _node_limit_check(decl, node_count, errors)
    # The peers fill the firewalls in creation order (server ID): a new server joins the last one, and
    # removing one moves addresses towards CLUSTER-nodes, whose rules are set first.
    ordered = sorted(servers, key=lambda s: (s.get('id') is None, s.get('id') or 0, s.get('name') or ''))
    ipv6 = _cfg(decl, 'firewall_ipv6_peers', False)
    peer_groups = []
    for server in ordered:
        group = _peer_networks([server.get('ipv4_address')] + ([server.get('ipv6')] if ipv6 else []))
        if group:
            peer_groups.append(group)
    fw_list = _firewalls(decl, peer_groups, node_count, errors)
    firewalls = {fw['key']: fw for fw in fw_list}
    everywhere = [fw['name'] for fw in fw_list] + extra
    placement = '%s-managers' % cluster if _cfg(decl, 'placement_group', True) else None
    wanted = []
    for node in nodes:
        live = by_name.get(node['name'])
        labels = hcloud_labels((live or {}).get('labels') or {}, {LABEL_CLUSTER: cluster, LABEL_ROLE: node['role']})
        wanted.append({
            'name': node['name'], 'role': node['role'], 'server_type': node['server_type'],
            'location': node['location'], 'image': node['image'],
            'labels': labels,
            'firewalls': everywhere,
            'placement_group': placement if node['role'] == 'manager' else None,
            'exists': live is not None,
            # an existing server whose labels the role must correct (only its own ironclad.swarm/* ones)
            'relabel': live is not None and labels != ((live or {}).get('labels') or {}),
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
    return {
        'servers': wanted,
        'create': [w['name'] for w in wanted if not w['exists']],
        'departed': departed,
        'firewalls': firewalls,
        'firewall_list': fw_list,
        'peers': _sorted_cidrs([net for group in peer_groups for net in group]),
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


def hcloud_forbidden(result):
    """Whether a task result (or any item of a loop's result) failed with the API's 403 forbidden: a Read token."""
    if not isinstance(result, dict):
        return False
    failure = result.get('failure')
    if isinstance(failure, dict) and failure.get('code') == 'forbidden':
        return True
    return any(hcloud_forbidden(item) for item in result.get('results') or [])


def hcloud_node_limit(decl):
    """The most servers the declaration's firewalls can admit (see peer_capacity)."""
    return peer_capacity(decl, [])[3]


class FilterModule(object):
    """ironclad.swarm hcloud filters."""

    def filters(self):
        return {
            'hcloud_validate': hcloud_validate,
            'hcloud_plan': hcloud_plan,
            'hcloud_missing': hcloud_missing,
            'hcloud_labels': hcloud_labels,
            'hcloud_forbidden': hcloud_forbidden,
            'hcloud_node_limit': hcloud_node_limit,
        }
