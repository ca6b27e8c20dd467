# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""The firewall audit of one node, run: its inputs read on the node (nft -j, iptables-save, ip, docker) and judged.

FirewallAuditModule is shared by the firewall_audit module and by ipsec_audit's `firewall` option (the audit
core, audit/node.py, which the node agent runs too), with FIREWALL_ARGUMENT_SPEC as their options. It reads
the ruleset, the fence's persisted table, the node's addresses, whether it is a manager and the encrypted
networks, hands them to audit.Audit (the judgement) and returns its findings. keep_cleartext_rules brings the
fence's per-network cleartext rules in step for the audit core; cleartext_baseline reads the node agent's
last counters.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os
import socket


from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import read_json
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.options import is_encrypted_overlay, network_vnis
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.audit import (
    SEVERITIES,
    Audit,
    _first_host,
    _in_any,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.iptables import (
    docker_vxlan_rules,
    merge_into,
    parse_save,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.cleartext import (
    cleartext_counts,
    sync_cleartext_batch,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.evaluate import ruleset_from_nft
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.nftio import (
    canonical_table,
    parse_ruleset,
    table_absent,
    table_objects,
    table_objects_from_batch,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import flows
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec import (
    SET_MANAGERS4,
    SET_MANAGERS6,
    SET_PEERS4,
    SET_PEERS6,
    TABLE_FAMILY,
    TABLE_NAME,
    FieldError,
    parse_addresses,
)


# The node agent's state file (the watch role's default): its last readings of the cleartext counters are the
# baseline the audit measures against, so that the audit and the agent call the same packets new.
AGENT_STATE_FILE = '/var/lib/ironclad-swarm/agent-state.json'


def cleartext_baseline(state):
    """The agent's state (or None) -> {'network/direction': packets} of its last run, or None without one."""
    readings = (state or {}).get('readings') or {}
    if readings.get('cleartext') is None:
        return None
    return dict(('%s/%s' % (c['network'], c['direction']), c['packets']) for c in readings['cleartext'])


def keep_cleartext_rules(host, entries):
    """Bring the fence's per-network cleartext rules to entries ([(vni, name, encrypted)], the engine's overlays).

    host: anything with get_bin_path and run_command(argv, data=...). Returns what happened, for the
    agent's state file: {'changed': bool, 'networks': [...], 'error': str or None}. Nothing is written when
    the fence is absent (the table_missing finding speaks) or already in step.
    """
    done = {'changed': False, 'networks': [entry[1] for entry in entries], 'error': None}
    nft = host.get_bin_path('nft', opt_dirs=['/usr/sbin', '/sbin'])
    if nft is None:
        done['error'] = 'nft not found'
        return done
    rc, out, err = host.run_command([nft, '-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME])
    if rc != 0:
        done['error'] = None if table_absent(err) else (err or out).strip()
        return done
    try:
        batch = sync_cleartext_batch(table_objects(parse_ruleset(out)), entries)
    except ValueError as exc:
        done['error'] = 'cannot read nft -j list table: %s' % exc
        return done
    if batch is None:
        return done
    rc, out, err = host.run_command([nft, '-j', '-f', '-'], data=json.dumps(batch))
    if rc != 0:
        done['error'] = 'nft refused the cleartext rules: %s' % (err or out).strip()
    else:
        done['changed'] = True
    return done


# The options of the firewall audit proper: firewall_audit's own (with data_path_port and fail_on),
# and the suboptions of ipsec_audit's `firewall`.
FIREWALL_ARGUMENT_SPEC = dict(
    peers=dict(type='list', elements='str', default=[]),
    managers=dict(type='list', elements='str', default=[]),
    node_address=dict(type='str', default=''),
    manager=dict(type='bool'),
    non_peer_addresses=dict(type='list', elements='str', default=['203.0.113.254', '2001:db8:ffff::1']),
    encrypted_vnis=dict(type='list', elements='int'),
    expect_table=dict(type='bool', default=True),
    persist_file=dict(type='path', default='/etc/ironclad-swarm/firewall.json'),
    boot_unit=dict(type='str', default='ironclad-swarm-firewall.service'),
)


def encrypted_vnis_from_inspect(networks, own_addresses):
    """`docker network inspect` output -> [(name, vni)] of encrypted overlays this node shares with another node.

    Docker installs its per-network VXLAN rules only when it programs encryption
    towards a remote peer, so a network only this node is on is left out.
    """
    result = []
    own = set(str(a) for a in own_addresses)
    for net in networks or []:
        if not is_encrypted_overlay(net):
            continue
        peers = [p.get('IP') for p in net.get('Peers') or []]
        if not own.intersection(peers) or len(peers) < 2:
            continue
        result.extend((net.get('Name'), vni) for vni in network_vnis(net))
    return sorted(result, key=lambda item: item[1])


def docker_nft_tables(objects):
    """Tables Docker's nftables backend makes (ip/ip6 docker-bridges, ...): 'family name' strings."""
    found = []
    for obj in objects or []:
        body = obj.get('table')
        if body and str(body.get('name', '')).startswith('docker-'):
            found.append('%s %s' % (body.get('family'), body.get('name')))
    return found


def backend_from_info(text):
    """`docker info --format '{{json .FirewallBackend}}'` -> the driver (iptables, nftables, ...) or None."""
    try:
        data = json.loads(text or 'null')
    except ValueError:
        return None
    if isinstance(data, dict) and data.get('Driver'):
        return str(data['Driver'])
    return None


def engine_manager(engine):
    """Whether the engine says this node is a manager (Swarm.ControlAvailable), or None when not read."""
    if not engine or engine.get('control_available') is None:
        return None
    return bool(engine['control_available'])


def addresses_from_ip_json(data):
    """`ip -j addr show` output -> the addresses on the host (loopback excluded)."""
    found = []
    for link in data or []:
        if link.get('ifname') == 'lo':
            continue
        for info in link.get('addr_info', []):
            if info.get('local'):
                found.append(ipaddress.ip_address(info['local']))
    return found


class FirewallAuditModule(object):

    def __init__(self, module, params=None):
        self.module = module
        self.params = params if params is not None else module.params

    def run_tool(self, argv, optional=False, any_rc=False):
        """The tool's output; None when optional and missing or failing. any_rc: the output whatever the exit code."""
        binary = self.module.get_bin_path(argv[0], opt_dirs=['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
        if binary is None:
            if optional:
                return None
            self.module.fail_json(msg='%s not found on the host: install %s.' % (
                argv[0], 'nftables' if argv[0] == 'nft' else argv[0]))
        rc, out, err = self.module.run_command([binary] + argv[1:])
        if any_rc:
            return out
        if rc != 0:
            if optional:
                return None
            self.module.fail_json(msg='%s failed: %s' % (' '.join(argv), err.strip()), rc=rc)
        return out

    def parse_field(self, values, field):
        try:
            v4, v6 = parse_addresses(values, field)
        except FieldError as exc:
            self.module.fail_json(msg=str(exc), field=exc.field)
        return v4 + v6

    def run(self):
        p = self.params
        peers = self.parse_field(p['peers'], 'peers')
        managers = self.parse_field(p['managers'], 'managers')
        non_peers = [_first_host(n) for n in self.parse_field(p['non_peer_addresses'], 'non_peer_addresses')]
        node_address = None
        if p['node_address']:
            try:
                node_address = ipaddress.ip_address(p['node_address'])
            except ValueError:
                self.module.fail_json(msg="node_address: '%s' is not an IP address" % p['node_address'], field='node_address')
        problem = flows.data_path_port_error(p['data_path_port'])
        if problem:
            self.module.fail_json(msg='data_path_port: %s' % problem, field='data_path_port')

        objects = parse_ruleset(self.run_tool(['nft', '-j', 'list', 'ruleset']))
        live = table_objects(objects)
        expected_objects = None
        if p['persist_file'] and os.path.exists(p['persist_file']):
            try:
                with open(p['persist_file']) as handle:
                    expected_objects = table_objects_from_batch(json.load(handle))
            except (IOError, OSError, ValueError) as exc:
                self.module.warn('Cannot read %s: %s' % (p['persist_file'], exc))

        source = live if live is not None else expected_objects
        if not peers and source:
            peers = self._set_nets(source, SET_PEERS4, SET_PEERS6)
        if not managers and source:
            managers = self._set_nets(source, SET_MANAGERS4, SET_MANAGERS6)

        ruleset = ruleset_from_nft(objects)
        saves = {}
        for family, tool in (('ip', 'iptables-save'), ('ip6', 'ip6tables-save')):
            text = self.run_tool([tool], optional=True)
            if text is not None:
                saves[family] = parse_save(text, family)
                merge_into(ruleset, saves[family])
        docker_rules = docker_vxlan_rules(saves['ip'], p['data_path_port']) if 'ip' in saves else {}

        # What the audit core already read from the engine through its API (the node agent's runs), instead of
        # more processes of the docker CLI: {'networks': the encrypted overlays' inspect, 'firewall_backend',
        # 'control_available': whether this node is a manager}.
        engine = p.get('engine')
        own = None
        if node_address is None:
            out = self.run_tool(['ip', '-j', 'addr', 'show'], optional=True)
            own = addresses_from_ip_json(json.loads(out)) if out else []
            node_address = next((a for a in own if _in_any(a, peers)), None)
        manager = p['manager']
        if manager is None:
            # The engine's own word (the node agent and ipsec_audit read it): a node promoted by hand is a manager
            # whatever the inventory says. None when the engine was not read.
            manager = engine_manager(engine)
        if manager is None and managers:
            manager = node_address is not None and _in_any(node_address, managers)
        if manager is None:
            answer = self.run_tool(['docker', 'info', '--format', '{{json .Swarm.ControlAvailable}}'], optional=True)
            manager = (answer or '').strip() == 'true'

        if p['encrypted_vnis'] is not None:
            vnis = [(None, vni) for vni in sorted(set(p['encrypted_vnis']))]
        elif engine is not None:
            vnis = encrypted_vnis_from_inspect(engine['networks'], [a for a in (own if own is not None else [node_address])
                                                                    if a is not None])
        else:
            vnis = self.docker_vnis(own if own is not None else [node_address])

        docker_tables = docker_nft_tables(objects)
        if engine is not None:
            backend = backend_from_info(json.dumps(engine.get('firewall_backend')))
        else:
            backend = backend_from_info(self.run_tool(['docker', 'info', '--format', '{{json .FirewallBackend}}'],
                                                      optional=True))
        if backend is None and docker_tables:
            backend = 'nftables'

        boot_unit = None
        if p.get('boot_unit') and expected_objects is not None:
            state = self.run_tool(['systemctl', 'is-enabled', p['boot_unit']], optional=True, any_rc=True)
            boot_unit = (p['boot_unit'], (state or '').strip() or None)
            if state is None:
                boot_unit = None

        audit = Audit(socket.gethostname(), peers, managers, node_address, manager, p['data_path_port'], non_peers,
                      ruleset, vnis, docker_rules, canonical_table(live), canonical_table(expected_objects),
                      p['expect_table'], backend, docker_tables, boot_unit)
        counts = cleartext_counts(live)
        baseline = p.get('cleartext_baseline')
        if baseline is None:
            baseline = cleartext_baseline(read_json(AGENT_STATE_FILE))
        audit.cleartext_checks(counts, baseline)
        findings = audit.run()
        summary = dict((s, len([f for f in findings if f['severity'] == s])) for s in SEVERITIES)
        result = dict(changed=False, findings=findings, checks=audit.checks, summary=summary,
                      peers=[str(n) if n.prefixlen != n.max_prefixlen else str(n.network_address) for n in peers],
                      encrypted_vnis=[item[1] for item in vnis], docker_firewall_backend=backend,
                      fence=audit.fence_state(), cleartext=counts)
        return result

    @staticmethod
    def _set_nets(objects, name4, name6):
        nets = []
        for obj in objects:
            body = obj.get('set')
            if body and body.get('name') in (name4, name6):
                for elem in body.get('elem', []):
                    if isinstance(elem, dict) and 'prefix' in elem:
                        nets.append(ipaddress.ip_network('%s/%s' % (elem['prefix']['addr'], elem['prefix']['len'])))
                    elif isinstance(elem, str):
                        nets.append(ipaddress.ip_network(elem))
        return nets

    def docker_vnis(self, own):
        out = self.run_tool(['docker', 'network', 'ls', '--filter', 'driver=overlay', '--format', '{{.ID}}'], optional=True)
        if not out or not out.split():
            return []
        inspect = self.run_tool(['docker', 'network', 'inspect'] + out.split(), optional=True)
        if not inspect:
            return []
        return encrypted_vnis_from_inspect(json.loads(inspect), [a for a in own if a is not None])
