# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decisions of the ironclad.swarm.cluster role, kept out of Jinja so they can be unit tested.

Inputs are what the Engine reports, unchanged: the ``Swarm`` section of ``docker info``
(community.docker.docker_host_info ``host_info.Swarm``) per inventory host, and the verbose
node list of a manager (community.docker.docker_swarm_info ``nodes`` with ``verbose_output``).
Documentation of each filter lives in the sidecar ``<filter>.yml`` next to this file.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# Docker's own limits (daemon 20.10, measured: "subnet size is out of range: 30").
MAX_SUBNET_SIZE = 29

# A host is one of these after classification.
MEMBER = 'member'          # in the swarm we converge on
ABSENT = 'absent'          # in no swarm at all
FOREIGN = 'foreign'        # active in some other swarm
BROKEN = 'broken'          # Engine reports swarm state "pending" or "error"
LOCKED = 'locked'          # autolocked manager after a restart: needs `docker swarm unlock`
UNKNOWN = 'unknown'        # not reached in this run: its NodeID is not known

UNIDENTIFIED = (BROKEN, LOCKED, UNKNOWN)


def _require_list(value, name):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError('%s must be a list, got %s' % (name, type(value).__name__))
    return list(value)


def swarm_pool_errors(pools, subnet_size):
    """Return a list of problems with a default address pool; empty means usable."""
    errors = []
    pools = _require_list(pools, 'cluster_default_addr_pool')
    try:
        size = int(subnet_size)
    except (TypeError, ValueError):
        return ['cluster_subnet_size must be an integer, got %r' % (subnet_size,)]
    if isinstance(subnet_size, bool):
        return ['cluster_subnet_size must be an integer, got %r' % (subnet_size,)]
    networks = []
    for raw in pools:
        text = to_text(raw).strip()
        if '/' not in text:
            errors.append('cluster_default_addr_pool entry %r is not a CIDR: write it as network/prefix, '
                          'for example 10.20.0.0/16' % (text,))
            continue
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            errors.append('cluster_default_addr_pool entry %r is not a CIDR: write it as network/prefix, '
                          'for example 10.20.0.0/16' % (text,))
            continue
        if ipaddress.ip_interface(text).ip != net.network_address:
            errors.append('cluster_default_addr_pool entry %r has host bits set: did you mean %s?' % (text, net))
            continue
        networks.append((text, net))
    if not pools:
        return errors
    if size < 1 or size > MAX_SUBNET_SIZE:
        errors.append('cluster_subnet_size %d is out of range: Docker accepts 1 to %d' % (size, MAX_SUBNET_SIZE))
    for text, net in networks:
        if size < net.prefixlen:
            errors.append('cluster_subnet_size %d does not fit in pool %s: it must be at least %d (the pool prefix), '
                          'or use a larger pool' % (size, text, net.prefixlen))
    for index, (text, net) in enumerate(networks):
        for other_text, other in networks[index + 1:]:
            if net.version == other.version and net.overlaps(other):
                errors.append('cluster_default_addr_pool entries %s and %s overlap: list each range once'
                              % (text, other_text))
    return errors


def swarm_addr_errors(addr, name, addresses, required=True):
    """Return problems with ``addr`` as an address of this host; empty means it is one of ``addresses``."""
    text = to_text(addr if addr is not None else '').strip()
    own = []
    for raw in _require_list(addresses, 'addresses'):
        try:
            own.append(ipaddress.ip_address(to_text(raw).split('%', 1)[0]))
        except ValueError:
            continue
    listing = ', '.join(to_text(a) for a in own) or 'none found in the gathered facts'
    if not text:
        if not required:
            return []
        return ['%s is empty (no default IPv4 route found): set it to one of this host\'s addresses: %s'
                % (name, listing)]
    try:
        wanted = ipaddress.ip_address(text)
    except ValueError:
        return ['%s %r is not an IP address: set it to one of this host\'s addresses: %s' % (name, text, listing)]
    if wanted not in own:
        return ['%s %s is not an address of this host: use one of %s, or configure the address first'
                % (name, text, listing)]
    return []


def _swarm_state(swarm):
    return (swarm or {}).get('LocalNodeState') or 'inactive'


def _cluster_id(swarm):
    return ((swarm or {}).get('Cluster') or {}).get('ID') or ''


def _is_active_manager(swarm):
    return _swarm_state(swarm) == 'active' and bool((swarm or {}).get('ControlAvailable')) and bool(_cluster_id(swarm))


def _check_hosts(hosts):
    hosts = _require_list(hosts, 'hosts')
    for host in hosts:
        if not isinstance(host, dict) or 'name' not in host or host.get('want') not in ('manager', 'worker'):
            raise AnsibleFilterError('every host must be a dict with name and want (manager or worker), got %r' % (host,))
    return hosts


def swarm_anchor(hosts):
    """Choose the manager every other host is converged onto.

    The swarm that holds the most inventory hosts as managers wins; on a tie the one whose
    first such manager comes first in the inventory. Only hosts meant to be managers can be
    the anchor, so the anchor is never demoted by the role.
    """
    hosts = _check_hosts(hosts)
    members = {}
    order = []
    for host in hosts:
        swarm = host.get('swarm')
        if not _is_active_manager(swarm):
            continue
        cid = _cluster_id(swarm)
        if cid not in members:
            members[cid] = []
            order.append(cid)
        members[cid].append(host['name'])
    best = None
    best_host = ''
    for cid in order:
        candidates = [h['name'] for h in hosts
                      if h['want'] == 'manager' and h['name'] in members[cid]]
        if not candidates:
            continue
        if best is None or len(members[cid]) > len(members[best]):
            best = cid
            best_host = candidates[0]
    return {
        'host': best_host,
        'cluster_id': best or '',
        'clusters': dict((cid, list(names)) for cid, names in members.items()),
    }


def _node_role(node):
    return ((node or {}).get('Spec') or {}).get('Role') or 'worker'


def _node_summary(node):
    spec = node.get('Spec') or {}
    status = node.get('Status') or {}
    manager = node.get('ManagerStatus') or {}
    return {
        'id': node.get('ID', ''),
        'hostname': ((node.get('Description') or {}).get('Hostname')) or '',
        'role': spec.get('Role') or 'worker',
        'availability': spec.get('Availability') or '',
        'status': status.get('State') or '',
        'addr': status.get('Addr') or '',
        'manager_status': ('leader' if manager.get('Leader') else manager.get('Reachability', '')) if manager else '',
        'manager_addr': manager.get('Addr', '') if manager else '',
        'labels': dict(spec.get('Labels') or {}),
        'engine': (((node.get('Description') or {}).get('Engine')) or {}).get('EngineVersion', ''),
    }


def swarm_node_table(nodes, as_text=False):
    """Compact, sorted view of a verbose node list: managers first, then by hostname.

    With ``as_text`` the rows are returned as aligned text lines under a header.
    """
    rows = [_node_summary(node) for node in _require_list(nodes, 'nodes')]
    rows.sort(key=lambda row: (row['role'] != 'manager', row['hostname'], row['id']))
    if not as_text:
        return rows
    line = '%-24s %-26s %-8s %-8s %-12s %s'
    lines = [line % ('HOSTNAME', 'ID', 'ROLE', 'STATUS', 'AVAILABILITY', 'MANAGER')]
    for row in rows:
        lines.append((line % (row['hostname'], row['id'], row['role'], row['status'], row['availability'],
                              row['manager_status'])).rstrip())
    return lines


def swarm_inventory(reports, managers, workers):
    """Join per-host reports with the inventory groups, in inventory order (managers first).

    ``reports`` are dicts with ``name`` and ``swarm`` (the Swarm section of docker info) for the
    hosts reached in this run; a group member without a report gets ``swarm: None``.
    Hosts in neither group are left out.
    """
    managers = [to_text(name) for name in _require_list(managers, 'managers')]
    workers = [to_text(name) for name in _require_list(workers, 'workers')]
    by_name = {}
    for report in _require_list(reports, 'reports'):
        if isinstance(report, dict) and report.get('name'):
            by_name[to_text(report['name'])] = report
    result = []
    seen = set()
    for want, names in (('manager', managers), ('worker', workers)):
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            report = by_name.get(name) or {}
            result.append({'name': name, 'want': want, 'swarm': report.get('swarm'),
                           'hostname': to_text(report.get('hostname') or '')})
    return result


def swarm_plan(hosts, nodes, anchor, reconcile=False, remove_departed=False):
    """Classify every inventory host against the anchor's swarm and decide what to do.

    Drift of inventory hosts (another swarm, wrong role, an old node entry left behind
    when the host joined again) is fixed only with ``reconcile``; nodes of the swarm
    that match no inventory host are removed (``prune``) only with ``remove_departed``.
    """
    hosts = _check_hosts(hosts)
    nodes = _require_list(nodes, 'nodes')
    if isinstance(anchor, dict):
        anchor = anchor.get('host')
    anchor_host = to_text(anchor or '')
    by_id = dict((node.get('ID'), node) for node in nodes if node.get('ID'))
    if anchor_host and not by_id:
        raise AnsibleFilterError('the node list of anchor %s is empty: it must at least contain the anchor itself'
                                 % anchor_host)

    result_hosts = {}
    drift = []
    fatal = []
    unidentified = []
    for host in hosts:
        name = host['name']
        want = host['want']
        swarm = host.get('swarm')
        node_id = (swarm or {}).get('NodeID') or ''
        state = _swarm_state(swarm)
        entry = {'want': want, 'node_id': node_id, 'status': '', 'role': '', 'action': 'none',
                 'swarm_state': state if swarm is not None else ''}
        if swarm is None:
            entry['status'] = UNKNOWN
            drift.append('%s: not reached in this run, so its swarm membership is unknown' % name)
        elif state == 'locked':
            entry['status'] = LOCKED
            drift.append('%s: the Engine is locked (autolock): unlock it with `docker swarm unlock` and the key '
                         'kept from cluster_unlock_key, then re-run' % name)
        elif state in ('pending', 'error'):
            entry['status'] = BROKEN
            message = '%s: swarm state is %s (%s)' % (name, state, (swarm or {}).get('Error') or 'no error text')
            if reconcile:
                entry['action'] = 'rejoin'
                drift.append(message + ': leaving and joining again')
            else:
                drift.append(message + ': set cluster_reconcile=true to make it leave and join again')
        elif state == 'inactive':
            entry['status'] = ABSENT
            entry['action'] = 'join'
        elif anchor_host and node_id in by_id:
            entry['status'] = MEMBER
            entry['role'] = _node_role(by_id[node_id])
            if entry['role'] != want:
                # The groups declare the role: moving a host between them promotes or demotes it on a plain run.
                # Neither loses a task, and a demotion waits for quorum (node_retire.yml), so no switch guards it.
                verb = 'promote' if want == 'manager' else 'demote'
                entry['action'] = verb
                drift.append('%s: is a %s but listed as %s: will %s it' % (name, entry['role'], want, verb))
        else:
            entry['status'] = FOREIGN
            other = _cluster_id(swarm) or 'a swarm managed elsewhere'
            message = '%s: is in another swarm (%s)' % (name, other)
            if reconcile:
                entry['action'] = 'rejoin'
                drift.append(message + ': leaving it and joining this one')
            else:
                drift.append(message + ': set cluster_reconcile=true to make it leave and join this swarm')
        if entry['status'] in UNIDENTIFIED:
            unidentified.append(name)
        result_hosts[name] = entry

    init_host = ''
    if not anchor_host:
        managers = [h['name'] for h in hosts if h['want'] == 'manager']
        if not managers:
            fatal.append('there is no host in the managers group: list at least one host in it '
                         '(cluster_managers_group)')
        else:
            blocked = [n for n in managers if result_hosts[n]['status'] in UNIDENTIFIED]
            first = managers[0]
            if blocked:
                fatal.append('no reached manager is in a swarm, but %s could not be identified: refusing to '
                             'create a swarm that might be a second one; make every manager reachable and re-run'
                             % ', '.join(blocked))
            elif result_hosts[first]['action'] not in ('join', 'rejoin'):
                fatal.append('%s must create the swarm but is in another swarm: set cluster_reconcile=true to make '
                             'it leave, or make it leave by hand' % first)
            else:
                init_host = first
                result_hosts[first]['action'] = 'init' if result_hosts[first]['action'] == 'join' else 'reinit'

    known_ids = set(e['node_id'] for e in result_hosts.values() if e['status'] == MEMBER)
    engine_names = dict((h.get('hostname'), h['name']) for h in hosts if h.get('hostname'))
    stale = [_node_summary(node) for node in nodes if node.get('ID') not in known_ids]
    stale.sort(key=lambda row: (row['role'] == 'manager', row['hostname'], row['id']))
    removable = []
    for row in stale:
        row['old_entry_of'] = engine_names.get(row['hostname'], '')
        if row['old_entry_of']:
            # Drift of an inventory host (it joined again under a new ID): fixed with reconcile.
            what = 'is an old entry of inventory host %s (which has another node ID now)' % row['old_entry_of']
            switch, allowed = 'cluster_reconcile', reconcile
        else:
            what = 'is in the swarm but not in the inventory'
            switch, allowed = 'cluster_remove_departed', remove_departed
        if allowed:
            removable.append(row['id'])
        drift.append('node %s (%s, %s, %s) %s%s'
                     % (row['hostname'], row['id'], row['role'], row['status'], what,
                        '' if allowed else ': set %s=true to remove it' % switch))
    prune_blocked = ''
    if stale and unidentified:
        prune_blocked = ('not removing %d node(s) that are not in the inventory, because %s could not be '
                         'identified and might be one of them' % (len(stale), ', '.join(unidentified)))

    def _names(action, want=None):
        return [h['name'] for h in hosts
                if result_hosts[h['name']]['action'] == action and (want is None or h['want'] == want)]

    return {
        'anchor': anchor_host,
        'init_host': init_host,
        'hosts': result_hosts,
        'leave': _names('rejoin') + _names('reinit'),
        'join_managers': _names('join', 'manager') + _names('rejoin', 'manager'),
        'join_workers': _names('join', 'worker') + _names('rejoin', 'worker'),
        'promote': _names('promote'),
        'demote': _names('demote'),
        'stale': stale,
        'prune': [] if prune_blocked else removable,
        'prune_blocked': prune_blocked,
        'unidentified': unidentified,
        'drift': drift,
        'fatal': fatal,
    }


def swarm_quorum(nodes, node_id):
    """Can ``node_id`` be demoted or removed without the managers losing quorum?"""
    nodes = _require_list(nodes, 'nodes')
    # The Raft membership, as Docker counts managers: the engine fills ManagerStatus from it. An entry that asks
    # for the manager role without being a member (promoted while unreachable, or left) is not counted.
    managers = [n for n in nodes if n.get('ManagerStatus')]
    # Docker keeps reporting a manager that left as "reachable" for a while; count a manager
    # only when its node is also ready, so that the check errs on the side of refusing.
    reachable = [n for n in managers
                 if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable'
                 and (n.get('Status') or {}).get('State') == 'ready']
    target = None
    for node in nodes:
        if node.get('ID') == node_id:
            target = node
    result = {
        'ok': True,
        'node_id': node_id,
        'found': target is not None,
        'is_manager': False,
        'managers': len(managers),
        'reachable': len(reachable),
        'quorum': len(managers) // 2 + 1,
        'managers_after': len(managers),
        'reachable_after': len(reachable),
        'quorum_after': len(managers) // 2 + 1,
        'msg': '',
    }
    if target is None:
        result['msg'] = 'node %s is no longer in the swarm' % node_id
        return result
    if len(reachable) < result['quorum']:
        result['ok'] = False
        result['msg'] = ('the swarm has lost quorum already: %d of %d managers reachable, %d needed; '
                         'restore managers (or recover with docker swarm init --force-new-cluster) before '
                         'removing anything' % (len(reachable), len(managers), result['quorum']))
        return result
    if target not in managers:
        result['msg'] = ('node %s is a worker: quorum is not affected' % node_id if _node_role(target) != 'manager'
                         else 'node %s asks for the manager role but is not in the Raft membership: quorum is not '
                              'affected' % node_id)
        return result
    result['is_manager'] = True
    target_reachable = target in reachable
    result['managers_after'] = len(managers) - 1
    result['reachable_after'] = len(reachable) - (1 if target_reachable else 0)
    result['quorum_after'] = result['managers_after'] // 2 + 1
    if result['managers_after'] < 1:
        result['ok'] = False
        result['msg'] = 'node %s is the last manager: it cannot be demoted or removed' % node_id
    elif result['reachable_after'] < result['quorum_after']:
        result['ok'] = False
        result['msg'] = ('demoting %s would leave %d reachable of %d managers, below the quorum of %d: bring the '
                         'unreachable managers back or add managers first'
                         % (node_id, result['reachable_after'], result['managers_after'], result['quorum_after']))
    else:
        result['msg'] = ('demoting %s leaves %d reachable of %d managers (quorum %d)'
                         % (node_id, result['reachable_after'], result['managers_after'], result['quorum_after']))
    return result


class FilterModule:
    """Swarm decisions for the ironclad.swarm.cluster role."""

    def filters(self):
        return {
            'swarm_pool_errors': swarm_pool_errors,
            'swarm_addr_errors': swarm_addr_errors,
            'swarm_anchor': swarm_anchor,
            'swarm_plan': swarm_plan,
            'swarm_quorum': swarm_quorum,
            'swarm_node_table': swarm_node_table,
            'swarm_inventory': swarm_inventory,
        }
