# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
#
# The audit's judgement at the level of the swarm, made on the controller (the
# swarm_audit filter): the declaration (networks_overlay) against the live networks, the
# membership and the quorum, CIS Docker Benchmark section 7, the daemon of each node and
# the running services. Input: what swarm_audit read on a manager and what ipsec_audit read
# on each node. Output: findings in the node modules' shape, and the tables of the report.
# docs/audit.md lists every finding id, its severity and why.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import datetime

from ansible_collections.ironclad.swarm.plugins.module_utils._findings import check as catalogued
from ansible_collections.ironclad.swarm.plugins.module_utils._overlay import entry_flag, entry_state

SEVERITIES = ('low', 'medium', 'high')
WILDCARDS = ('0.0.0.0', '::')
ROOT_USERS = ('', 'root', '0', '0:0', 'root:root', 'root:0', '0:root')
# Environment variable names that hold a secret's value; NAME_FILE (the path of a mounted
# Docker secret, the convention of the official images) is what should be used instead.
SECRET_NAME = re.compile(r'(PASSW(OR)?D|SECRET|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|(^|_)KEY$|(^|_)PASS$)',
                         re.IGNORECASE)
KERNEL_CRYPTO = ('kernel_no_esp', 'kernel_no_aes_gcm')


def _finding(fid, severity, reason, node=None, peer=None, network=None, **extra):
    item = {'id': catalogued(fid, severity), 'severity': severity, 'node': node, 'peer': peer, 'network': network,
            'source': 'swarm_audit', 'reason': reason}
    item.update(extra)
    return item


def accepted(finding, accept):
    """Whether the operator accepted this finding: audit_accept lists ids, or id@node for one node."""
    return finding.get('id') in accept or '%s@%s' % (finding.get('id'), finding.get('node')) in accept


def secret_like(name):
    return bool(SECRET_NAME.search(name)) and not name.upper().endswith('_FILE')


def image_verdict(image):
    """None when pinned by digest, else (severity, words)."""
    if not image or '@sha256:' in image:
        return None
    last = image.rsplit('/', 1)[-1]
    if ':' not in last:
        return 'medium', 'has no tag, so it means :latest'
    if last.endswith(':latest'):
        return 'medium', 'is :latest'
    return 'low', 'is a tag that can be moved to other content'


def cert_dates(pem):
    """(not_before, not_after) as aware datetimes, or None when the PEM cannot be read here."""
    if not pem:
        return None
    try:
        from cryptography import x509
    except ImportError:
        return None
    try:
        cert = x509.load_pem_x509_certificate(pem.encode('ascii'))
    except ValueError:
        return None
    before = getattr(cert, 'not_valid_before_utc', None) or cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    after = getattr(cert, 'not_valid_after_utc', None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return before, after


class SwarmJudge(object):
    """hosts: [{host, role ('manager'|'worker'), names: [...], result: ipsec_audit result or None}]
    view: swarm_audit's view or None; view_host: the inventory host it came from; declared: networks_overlay."""

    def __init__(self, hosts, view, view_host, view_error, declared, settings, now=None):
        self.hosts = hosts
        self.view = view
        self.view_host = view_host
        self.view_error = view_error
        # A network declared `state: absent` is one the networks role removes: not a declaration that it exists.
        # Name -> whether it is declared encrypted (the default, which _overlay.entry_flag alone applies).
        self.declared = dict((n['name'], entry_flag(n, 'encrypted')) for n in declared or []
                             if n.get('name') and entry_state(n) != 'absent')
        self.settings = settings
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.findings = []
        self.by_name = {}
        self.by_id = {}
        for entry in hosts:
            node_id = ((entry.get('result') or {}).get('swarm') or {}).get('node_id')
            if node_id:
                self.by_id[node_id] = entry['host']
            for name in entry.get('names') or []:
                if name:
                    self.by_name.setdefault(name, entry['host'])
            node = (entry.get('result') or {}).get('node')
            if node:
                self.by_name.setdefault(node, entry['host'])

    def add(self, *args, **kwargs):
        self.findings.append(_finding(*args, **kwargs))

    def host_of(self, node):
        """The inventory host of a swarm node (item of view.nodes), or None."""
        return (self.by_id.get(node.get('id')) or self.by_name.get(node.get('hostname'))
                or self.by_name.get(node.get('address')))

    def readable(self):
        """Whether the view is a whole one: read on an active manager of a swarm with a leader."""
        return self.view is not None and bool(self.view.get('control')) and not self.view_error

    def nodes_named(self, names):
        return sorted(set(self.by_name.get(n, n) for n in names))

    # membership, managers and quorum (CIS 7.1)

    def membership(self):
        view = self.view
        managers_inv = [e['host'] for e in self.hosts if e['role'] == 'manager']
        if not self.readable():
            silent = [e['host'] for e in self.hosts if e['role'] == 'manager'
                      and ((e.get('result') or {}).get('swarm') or {}).get('state') != 'active']
            why = self.view_error or 'no manager of the inventory answered as an active manager'
            self.add('quorum_lost', 'high', 'No manager could read the swarm (%s). Managers that did not answer as '
                     'active: %s. Without a majority of managers the swarm accepts no change: no scheduling, no '
                     'update, no join. Bring the managers back; nothing is demoted or removed by the audit or by '
                     'site.yml while quorum is lost.' % (why, ', '.join(silent) or 'none'),
                     node=self.view_host, managers=managers_inv, unreachable=silent)
            return
        nodes = view.get('nodes') or []
        # Counted as Docker counts them (docker info's Managers, the Raft membership), not by the role a node entry
        # asks for: a node promoted while it could not be reached, or the entry of a manager that left, asks for the
        # manager role without being a member, and counting it would report quorum lost on a swarm that takes writes.
        # A view recorded before raft_member was read counts by the role.
        managers = [n for n in nodes if n.get('raft_member', n.get('role') == 'manager')]
        reachable = [n for n in managers if n.get('reachability') == 'reachable']
        total = len(managers)
        majority = total // 2 + 1
        self.quorum = {'managers': total, 'reachable': len(reachable), 'majority': majority,
                       'holds': len(reachable) >= majority, 'tolerates': max(len(reachable) - majority, 0)}
        for node in managers:
            if node.get('reachability') != 'reachable':
                self.add('manager_unreachable', 'high',
                         'Manager %s is %s to the other managers. Quorum %s: %d of %d managers reachable, %d needed; '
                         '%s. Bring it back, or take it out of the inventory so site.yml demotes and removes it.'
                         % (node.get('hostname'), node.get('reachability') or 'unknown',
                            'holds' if len(reachable) >= majority else 'is lost', len(reachable), total, majority,
                            'one more loss stops every change to the swarm' if len(reachable) == majority
                            else '%d more can be lost' % max(len(reachable) - majority, 0)),
                         node=self.host_of(node) or node.get('hostname'))
        if len(reachable) < majority:
            self.add('quorum_lost', 'high', 'Only %d of %d managers are reachable, %d are needed: the swarm accepts '
                     'no change.' % (len(reachable), total, majority), node=self.view_host)
        if total == 1:
            self.add('managers_single', 'medium', 'The swarm has 1 manager: when it is lost, the swarm can no longer '
                     'be managed and its state may be lost. Use 3 managers (5 for two failures).', node=self.view_host)
        elif total % 2 == 0:
            self.add('managers_even', 'medium', 'The swarm has %d managers: an even number tolerates no more failures '
                     'than %d, and a split can leave no majority. Use an odd number (3, 5 or 7).'
                     % (total, total - 1), node=self.view_host)
        elif total > 7:
            self.add('managers_many', 'low', 'The swarm has %d managers: more than 7 slows every Raft write and adds '
                     'no useful tolerance.' % total, node=self.view_host)
        for node in nodes:
            if node.get('state') == 'down':
                self.add('node_down', 'high', 'The swarm sees node %s (%s) as down: its engine is stopped or cannot '
                         'reach the managers, and its tasks are rescheduled elsewhere.'
                         % (node.get('hostname'), node.get('role')), node=self.host_of(node) or node.get('hostname'))
            elif self.host_of(node) is None:
                self.add('node_not_in_inventory', 'medium', 'Node %s (%s, %s) is in the swarm but not in the inventory, '
                         'so no audit, firewall or engine check covers it and the fence of the other nodes may not '
                         'admit it. Add it to the inventory, or run site.yml to drain and remove it.'
                         % (node.get('hostname'), node.get('role'), node.get('address')), node=node.get('hostname'))
        ids = set(n.get('id') for n in nodes)
        for entry in self.hosts:
            swarm = (entry.get('result') or {}).get('swarm') or {}
            if swarm.get('state') == 'active' and swarm.get('node_id') and swarm.get('node_id') not in ids:
                self.add('node_foreign_swarm', 'high', 'This node is an active member of another swarm (node id %s is '
                         'not a member of the swarm of %s): it carries none of this swarm\'s tasks. Run site.yml, '
                         'which makes it leave that swarm and join this one.' % (swarm['node_id'], self.view_host),
                         node=entry['host'])
        versions = {}
        for node in nodes:
            if node.get('state') == 'ready' and node.get('engine_version'):
                versions.setdefault(node['engine_version'], []).append(node)
        if len(versions) > 1:
            common = max(versions, key=lambda v: len(versions[v]))
            for version, members in sorted(versions.items()):
                if version == common:
                    continue
                for node in members:
                    self.add('engine_version_skew', 'medium', 'Node %s runs Docker Engine %s while most nodes run %s: '
                             'mixed versions can disagree on overlay and IPsec behaviour. Pin one version '
                             '(engine_version) and run site.yml.' % (node.get('hostname'), version, common),
                             node=self.host_of(node) or node.get('hostname'))

    # networks: the declaration against the live swarm (CIS 7.3)

    def networks(self):
        live = dict((n['name'], n) for n in (self.view or {}).get('networks') or [])
        table = []
        for name in sorted(set(live) | set(self.declared)):
            want = self.declared.get(name)
            net = live.get(name)
            nodes = self.nodes_named(net.get('nodes') or []) if net else []
            row = {'name': name, 'declared': 'not declared' if want is None else ('encrypted' if want else 'plain'),
                   'live': 'absent' if net is None else ('encrypted' if net.get('encrypted') else 'plain'),
                   'ingress': bool(net and net.get('ingress')), 'nodes': nodes,
                   'services': sorted(net.get('services') or []) if net else []}
            table.append(row)
            if not self.readable():
                continue
            if want is not None and net is None:
                self.add('network_missing', 'medium', 'Network %s is declared in networks_overlay but does not exist in '
                         'the swarm. Run site.yml (--tags networks) to create it.' % name, node=self.view_host, network=name)
            elif want and not net.get('encrypted'):
                self.add('network_not_encrypted', 'high', 'Network %s is declared encrypted but the live network is plain: '
                         'its traffic between nodes (%s) goes out in clear. It was replaced out of band; run site.yml '
                         '(--tags networks), which recreates it encrypted.' % (name, ', '.join(nodes) or 'none yet'),
                         node=self.view_host, network=name, nodes=nodes)
            elif want is None and not net.get('ingress'):
                cross = not net.get('encrypted') and len(nodes) >= 2
                self.add('network_undeclared', 'high' if cross else 'low',
                         'Network %s (%s) is not declared in networks_overlay%s.'
                         % (name, 'encrypted' if net.get('encrypted') else 'plain',
                            ': it is plain and carries traffic between %s in clear; declare it (encrypted) or remove it'
                            % ', '.join(nodes) if cross else '; declare it so that site.yml keeps it as it should be'),
                         node=self.view_host, network=name, nodes=nodes)
        self.network_table = table
        return live

    # services (seeds 003 and 004)

    def services(self, live):
        ingress_plain = any(n.get('ingress') and not n.get('encrypted') for n in live.values())
        users = {}
        for entry in self.hosts:
            for task in ((entry.get('result') or {}).get('node_facts') or {}).get('task_containers') or []:
                users.setdefault(task.get('service'), []).append((entry['host'], task.get('user') or ''))
        table = []
        for svc in (self.view or {}).get('services') or [] if self.readable() else []:
            name = svc.get('name')
            nodes = self.nodes_named(svc.get('nodes') or [])
            row = {'name': name, 'image': svc.get('image'), 'nodes': nodes, 'networks': svc.get('networks') or [],
                   'ports': svc.get('ports') or [], 'secrets': svc.get('secrets') or [], 'findings': []}
            table.append(row)
            before = len(self.findings)
            for net_name in svc.get('networks') or []:
                net = live.get(net_name)
                if net is None or net.get('encrypted') or len(nodes) < 2:
                    continue
                by_decl = self.declared.get(net_name) is False
                self.add('service_plain_cross_node', 'low' if by_decl else 'high',
                         'Service %s has tasks on %s and uses plain network %s%s: what its tasks send each other '
                         'crosses the wire in clear.' % (name, ', '.join(nodes), net_name,
                                                         ' (plain by declaration)' if by_decl else ''),
                         node=self.view_host, network=net_name, service=name, nodes=nodes)
            secret_env = [e for e in svc.get('env_names') or [] if secret_like(e)]
            if secret_env:
                self.add('service_env_secret', 'medium', 'Service %s passes %s in its environment, where every user of '
                         'docker inspect reads the value and it is stored in the Raft log: use a Docker secret and the '
                         'NAME_FILE form instead. (The value is not read by the audit.)'
                         % (name, ', '.join(secret_env)), node=self.view_host, service=name, nodes=nodes,
                         variables=secret_env)
            spec_user = svc.get('user') or ''
            seen = users.get(name) or []
            as_root = [h for h, u in seen if (u or spec_user) in ROOT_USERS]
            if spec_user in ROOT_USERS[1:] or as_root:
                self.add('service_root', 'low', 'Service %s runs its tasks as root%s: a breakout from the process has '
                         'root in the container. Set a user in the image or in the service (user:).'
                         % (name, ' on %s' % ', '.join(sorted(set(as_root))) if as_root else ''),
                         node=self.view_host, service=name, nodes=sorted(set(as_root)) or nodes)
            verdict = image_verdict(svc.get('image'))
            if verdict:
                self.add('service_image_mutable', verdict[0], 'Service %s runs image %s, which %s and has no digest: '
                         'nodes may run different content under one name. Pin it by digest (image@sha256:...).'
                         % (name, svc.get('image'), verdict[1]), node=self.view_host, service=name, nodes=nodes)
            published = [p for p in svc.get('ports') or [] if p.get('mode') == 'ingress']
            if published and ingress_plain:
                self.add('ingress_plain_published', 'medium', 'Service %s publishes %s through the ingress network, which '
                         'is plain: a request that arrives on one node and is served by a task on another crosses the '
                         'wire in clear. Publish in host mode, or declare the ingress network encrypted.'
                         % (name, ', '.join('%s/%s' % (p.get('published'), p.get('protocol')) for p in published)),
                         node=self.view_host, network='ingress', service=name, nodes=nodes)
            row['findings'] = [f['id'] for f in self.findings[before:]]
        self.service_table = table

    # CIS section 7 and the daemon of each node

    def settings_checks(self):
        view = self.view or {}
        if self.readable():
            if not view.get('autolock'):
                self.add('autolock_off', 'low', 'Autolock is off: a manager\'s Raft data, with the swarm\'s keys and '
                         'secrets, is readable from its disk. Set cluster_autolock: true and keep the unlock key in '
                         'the vault (cluster_unlock_key).', node=self.view_host)
            expiry = view.get('node_cert_expiry_s') or 0
            limit = int(self.settings.get('node_cert_max_days', 90))
            if expiry and expiry > limit * 86400:
                self.add('node_cert_expiry_long', 'low', 'Node certificates are issued for %d days, more than %d: a '
                         'stolen node certificate stays valid longer. docker swarm update --cert-expiry %dh.'
                         % (expiry // 86400, limit, limit * 24), node=self.view_host)
            dates = cert_dates(view.get('root_ca_pem'))
            ca_limit = int(self.settings.get('ca_max_age_days', 365))
            if dates and (self.now - dates[0]).days > ca_limit:
                self.add('ca_old', 'low', 'The swarm\'s root CA was created %d days ago, more than %d: rotate it with '
                         'docker swarm ca --rotate.' % ((self.now - dates[0]).days, ca_limit), node=self.view_host)
        shared = []
        for entry in self.hosts:
            result = entry.get('result') or {}
            host = entry['host']
            self.host_checks(entry)
            if result.get('node_address') and self.readable():
                for node in self.view.get('nodes') or []:
                    if self.host_of(node) == host and node.get('address') == result.get('node_address'):
                        shared.append(host)
        if shared:
            self.add('data_path_shared', 'low', 'The overlay data path uses the same address as the swarm\'s management '
                     'traffic on %s. On hosts with one public interface no other path exists; encryption of every '
                     'overlay network is what protects the data path. With a second interface, set '
                     'cluster_data_path_addr.' % ', '.join(shared), node=self.view_host, nodes=shared)

    def host_checks(self, entry):
        """What one host's own facts say: 2377 on every interface, its certificate, its daemon."""
        facts = (entry.get('result') or {}).get('node_facts') or {}
        host = entry['host']
        if entry['role'] == 'manager':
            wild = [a for a in facts.get('management_listeners') or [] if a in WILDCARDS]
            if wild:
                self.add('listen_all_interfaces', 'medium', 'The swarm management port 2377 listens on %s, every '
                         'interface of the host, not only the swarm\'s address: bind it to the advertise address '
                         '(the cluster role does, for nodes that join from now on; a node that already joined keeps '
                         'its listener until it leaves and joins again).' % ', '.join(wild), node=host)
        dates = cert_dates(facts.get('node_cert'))
        if dates and (dates[1] - self.now).days < int(self.settings.get('node_cert_warn_days', 7)):
            self.add('node_cert_expiring', 'high', 'The node\'s swarm certificate expires on %s: the swarm renews '
                     'certificates well before that, so this node is not renewing (is it cut off from the managers?).'
                     % dates[1].strftime('%Y-%m-%d'), node=host)
        self.daemon_checks(host, facts)

    def daemon_checks(self, host, facts):
        daemon = facts.get('daemon') or {}
        if not daemon:
            return
        eff = daemon.get('effective') or {}
        if daemon.get('config_error'):
            self.add('daemon_json_invalid', 'medium', '%s; dockerd will not start with it.' % daemon['config_error'],
                     node=host)
        icc = daemon.get('bridge_icc')
        if (icc is not None and str(icc).lower() != 'false') or (icc is None and eff.get('icc', True) is not False):
            self.add('daemon_icc', 'low', 'Containers on the default bridge may talk to each other freely (icc): set '
                     '"icc": false (engine_icc).', node=host)
        if eff.get('userland-proxy', True) is not False:
            self.add('daemon_userland_proxy', 'low', 'The userland proxy is on: every published port gets a '
                     'docker-proxy process. Set "userland-proxy": false (engine_userland_proxy).', node=host)
        if eff.get('no-new-privileges') is not True:
            self.add('daemon_no_new_privileges', 'low', 'Containers may gain privileges through setuid binaries: set '
                     '"no-new-privileges": true (engine_no_new_privileges).', node=host)
        driver = daemon.get('logging_driver') or eff.get('log-driver') or 'json-file'
        if driver == 'json-file' and not (eff.get('log-opts') or {}).get('max-size'):
            self.add('daemon_log_rotation', 'low', 'Container logs (json-file) have no max-size: a chatty task can fill '
                     'the disk. Set engine_log_max_size.', node=host)
        hosts = [h for h in eff.get('hosts') or [] if str(h).startswith('tcp://')]
        if hosts and not eff.get('tlsverify'):
            self.add('daemon_tcp_no_tls', 'high', 'dockerd listens on %s without TLS client verification: whoever reaches '
                     'it is root on the host. Remove the tcp:// host or set tlsverify with certificates.'
                     % ', '.join(hosts), node=host)
        sock = facts.get('socket') or {}
        mode = int(sock.get('mode') or '0', 8)
        if mode & 0o006:
            self.add('docker_sock_open', 'high', '%s is mode %s: every local user can use the engine, which is root on '
                     'the host. It must be 0660 root:docker.' % (sock.get('path'), sock.get('mode')), node=host)
        elif sock and sock.get('group') not in ('docker', 'root'):
            self.add('docker_sock_group', 'medium', '%s belongs to group %s: its members are root on the host.'
                     % (sock.get('path'), sock.get('group')), node=host)

    def kernel(self, findings):
        """The node modules' findings, with the kernel's crypto findings high whenever encryption is in use."""
        live = [n['name'] for n in (self.view or {}).get('networks') or [] if n.get('encrypted')]
        declared = [n for n, encrypted in self.declared.items() if encrypted]
        wanted = sorted(set(live) | set(declared))
        out = []
        for item in findings:
            if item.get('id') in KERNEL_CRYPTO and item.get('severity') != 'high' and wanted:
                item = dict(item, severity='high', reason=item.get('reason', '') + ' The swarm has encrypted network(s) '
                            '%s: the first task this node runs on one of them exchanges nothing with other nodes.'
                            % ', '.join(wanted))
            out.append(item)
        return out

    def _split(self, every):
        accept = self.settings.get('accept') or []
        return [f for f in every if not accepted(f, accept)], [f for f in every if accepted(f, accept)]

    def run_host(self, findings):
        """The judgement a node can make of itself without the swarm's view (the agent on a worker): its own
        facts (host_checks) and the kernel's severity against the declaration."""
        for entry in self.hosts:
            self.host_checks(entry)
        kept, accepted_ = self._split(self.kernel(findings) + self.findings)
        return {'findings': kept, 'accepted': accepted_}

    def run(self, findings):
        self.quorum = None
        self.network_table = []
        self.service_table = []
        self.membership()
        live = self.networks()
        self.services(live)
        self.settings_checks()
        kept, accepted_ = self._split(self.kernel(findings) + self.findings)
        return {
            'findings': kept,
            'accepted': accepted_,
            'networks': self.network_table,
            'services': self.service_table,
            'swarm': {'reader': self.view_host, 'error': self.view_error, 'quorum': self.quorum,
                      'autolock': (self.view or {}).get('autolock'), 'secrets': (self.view or {}).get('secrets'),
                      'nodes': (self.view or {}).get('nodes') or []},
        }
