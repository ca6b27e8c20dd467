#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: swarm_firewall
short_description: Fence the Docker Swarm ports with an nftables table of its own
version_added: 0.1.0
description:
  - Manages one nftables table, C(inet ironclad_swarm), and never touches any other table
    (Docker's iptables-nft tables, ufw, your own).
  - From the addresses in O(peers) it admits every flow the swarm needs between its nodes - gossip, the
    VXLAN of O(data_path_port), ESP (IP protocol 50, which encrypted overlays need) and the control plane -
    and drops the same flows from everyone else. The table of flows in docs/firewall.md lists each one's
    protocol and port; the module builds its rules from the same table.
  - TCP 2377 is admitted from peers on every node, workers included. Only a manager listens on
    it, and a worker promoted by hand (C(docker node promote)) must be reachable by the other
    managers at once, before anything re-runs this module, or the swarm loses quorum.
  - Peers live in named sets (C(peers4), C(peers6)), so the number of rules does not depend on
    the size of the cluster; adding or removing a node changes set elements only.
  - Established and related traffic, loopback and O(ssh_ports) are accepted before anything is
    dropped, so the fence never cuts the SSH session that applies it.
  - The table is replaced in one nftables transaction (C(nft -j -f -)), so the host is never
    without a fence half-way through a change. The module compares the table's canonical form
    (sets, chains, rules; no handles or counter values) and changes nothing when it matches.
  - VXLAN on O(data_path_port) that arrives outside IPsec, or is about to leave on a route without IPsec,
    goes through the chains C(cleartext_in) and C(cleartext_out), which hold one rule per overlay network
    that counts the network's packets, and drops them for an encrypted network. Those rules are learned
    from the Docker Engine by the node agent (role C(ironclad.swarm.watch)), not declared here. The module
    leaves them out of its comparison and of the persist file, and keeps them when it replaces the table.
    See docs/firewall.md.
  - Bad input fails naming the option, before the table is touched.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  state:
    description:
      - V(present) makes the table match the options; V(absent) deletes the table and the persist file.
    type: str
    choices: [present, absent]
    default: present
  peers:
    description:
      - IPv4 and IPv6 addresses or CIDR networks of every node of the swarm (this one included),
        the addresses they advertise and send data-path traffic from.
      - Required with O(state=present), and must not be empty, because the drop rules would then
        cut the cluster apart.
    type: list
    elements: str
    default: []
  managers:
    description:
      - The addresses of the swarm's managers. They are added to O(peers); the table is the same
        on managers and workers (TCP 2377 is admitted from peers on every node).
    type: list
    elements: str
    default: []
  ssh_ports:
    description:
      - TCP ports accepted from anywhere before any drop rule, so SSH stays reachable. Must not be
        empty with O(input_policy=drop).
    type: list
    elements: int
    default: [22]
  data_path_port:
    description: UDP port of the swarm's data path (VXLAN), C(--data-path-port) of C(docker swarm init).
    type: int
    default: 4789
  drop_unencrypted_vxlan:
    description:
      - Drop every packet to O(data_path_port) that did not come through IPsec (C(meta ipsec missing)),
        from peers too. Turn it on only when every overlay network, ingress included, is encrypted;
        plain overlay networks stop working across nodes.
    type: bool
    default: false
  input_policy:
    description:
      - Policy of the table's input chain. V(accept) fences only the swarm ports. V(drop) fences the
        whole host, admitting only loopback, established traffic, O(ssh_ports), the swarm ports from
        peers, ICMP (see O(allow_icmp)) and O(allow).
    type: str
    choices: [accept, drop]
    default: accept
  allow:
    description: Public services admitted from anywhere with O(input_policy=drop).
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: Port number, 1 to 65535.
        type: int
        required: true
      protocol:
        description: Transport protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
  allow_icmp:
    description:
      - With O(input_policy=drop), accept ICMP and ICMPv6 (ping, path MTU discovery). With V(false) only
        IPv6 neighbour discovery is accepted, without which IPv6 stops working.
    type: bool
    default: true
  priority:
    description:
      - Priority of the input chain. Lower runs earlier. A drop in any table is final, so the priority
        only decides which table's counters see a packet first.
      - The output chain always runs at priority 0 (C(filter)), after the route chains that mark an
        encrypted network's packets for IPsec.
    type: int
    default: -10
  persist:
    description:
      - Write the applied table to O(persist_file) so that it can be loaded again at boot, by the
        unit of O(boot_unit).
      - With O(boot_unit=true), V(false) removes O(persist_file) and the boot unit; the live table
        stays until the next boot. With O(boot_unit=false), V(false) leaves O(persist_file) alone.
    type: bool
    default: true
  persist_file:
    description:
      - The JSON batch loaded at boot; this module owns it (mode 0600).
      - An absolute path without spaces, quotes, V(%) or V($) when O(boot_unit=true), because the unit names it.
    type: path
    default: /etc/ironclad-swarm/firewall.json
  boot_unit:
    description:
      - Also manage the systemd unit O(boot_unit_path) that loads O(persist_file) at boot, before
        C(network-pre.target) and C(docker.service), after and with C(nftables.service) (C(PartOf=)),
        in the same run and without further tasks.
      - With O(persist=true) and O(state=present) the module writes the unit (mode 0644), runs
        C(systemctl daemon-reload) only when the file changed, and C(systemctl enable) only when
        C(systemctl is-enabled) does not say V(enabled).
      - Otherwise (O(persist=false) or O(state=absent)) it disables the unit when it is enabled and
        removes it and O(persist_file), then reloads systemd.
      - C(daemon-reload) is skipped when systemd is not the running init (no C(/run/systemd/system)).
    type: bool
    default: false
  boot_unit_path:
    description: The boot unit's file; its name (the last component) is the unit's name for C(systemctl).
    type: path
    default: /etc/systemd/system/ironclad-swarm-firewall.service
  on_missing_nft:
    description:
      - What to do when C(nft) is not on the host.
      - V(fail) fails, saying to install the C(nftables) package.
      - V(report) changes nothing (no table, no file, no unit) and returns RV(nftables_missing=true), so that
        a play can install C(nftables) only where it is missing and call the module again, with no package
        query on hosts that have it.
      - Bad input fails either way, before C(nft) is looked for.
    type: str
    choices: [fail, report]
    default: fail
notes:
  - Docker 20.10 on Debian 12 writes its own rules through iptables-nft into tables C(ip filter) and
    C(ip nat). This module leaves them alone; M(ironclad.swarm.firewall_audit) reads them.
  - On nftables every base chain on the input hook sees a packet; a drop anywhere is final, an accept
    ends only its own chain. So this table can refuse what other tables accept, but cannot admit what
    another table drops.
requirements:
  - C(nft) 0.9.1 or later (Debian package C(nftables)) on the managed host.
  - C(systemctl) (systemd) on the managed host with O(boot_unit=true).
attributes:
  check_mode:
    support: full
    description:
      - Computes the change and has C(nft --check) validate the batch, without applying it.
      - With O(boot_unit=true) it asks C(systemctl is-enabled) and predicts the rest.
  diff_mode:
    support: full
    description: Shows the table before and after as nft-like text, and the persist file and the boot unit.
  idempotent:
    support: full
    description: Compares the live table's canonical form with the desired one; C(changed) only on a difference.
  platform:
    support: full
    platforms: posix
    description: Linux with nftables.
seealso:
  - module: ironclad.swarm.firewall_audit
  - name: nftables JSON format, libnftables-json(5)
    description: The JSON interface used to read and write the table.
    link: https://manpages.debian.org/bookworm/libnftables1/libnftables-json.5.en.html
"""

EXAMPLES = r"""
- name: Fence the swarm ports on every node
  ironclad.swarm.swarm_firewall:
    peers: [203.0.113.10, 203.0.113.11, 198.51.100.20, "2001:db8:1::10"]
    managers: [203.0.113.10]

- name: Every overlay is encrypted, so drop VXLAN that did not come through IPsec
  ironclad.swarm.swarm_firewall:
    peers: "{{ swarm_addresses }}"
    managers: "{{ swarm_manager_addresses }}"
    drop_unencrypted_vxlan: true

- name: Fence the whole host, with a web service and SSH on port 2222
  ironclad.swarm.swarm_firewall:
    peers: "{{ swarm_addresses }}"
    managers: "{{ swarm_manager_addresses }}"
    input_policy: drop
    ssh_ports: [2222]
    allow:
      - {port: 80}
      - {port: 443}
      - {port: 443, protocol: udp}

- name: Fence, persist and load the fence at boot with the module's systemd unit, in one task
  ironclad.swarm.swarm_firewall:
    peers: "{{ swarm_addresses }}"
    managers: "{{ swarm_manager_addresses }}"
    boot_unit: true

# No package query where nft is installed: install nftables only where the module says it is missing.
- name: Fence the swarm ports where nft is installed
  ironclad.swarm.swarm_firewall:
    peers: "{{ swarm_addresses }}"
    boot_unit: true
    on_missing_nft: report
  register: fence

- name: Install nftables where nft is missing
  ansible.builtin.apt:
    name: nftables
  when: fence.nftables_missing

- name: Fence the swarm ports now that nft is installed
  ironclad.swarm.swarm_firewall:
    peers: "{{ swarm_addresses }}"
    boot_unit: true
  when: fence.nftables_missing

- name: Keep the fence for now, but stop loading it at boot (removes the unit and the file)
  ironclad.swarm.swarm_firewall:
    peers: "{{ swarm_addresses }}"
    persist: false
    boot_unit: true

- name: Remove the fence
  ironclad.swarm.swarm_firewall:
    state: absent
    boot_unit: true
"""

RETURN = r"""
ruleset:
  description: The table after this run (in check mode, as it would be), as nft-like text; empty when absent.
  returned: always
  type: str
  sample: "table inet ironclad_swarm {\n\tset peers4 {\n\t\ttype ipv4_addr\n ..."
rules:
  description: Number of rules in the table after this run; it does not grow with the number of peers.
  returned: always
  type: int
  sample: 14
elements:
  description: Number of set elements (peer and manager addresses or networks) after this run.
  returned: always
  type: int
  sample: 4
differences:
  description: What differed between the live table and the desired one, in plain words (empty when nothing did).
  returned: always
  type: list
  elements: str
  sample: ["set peers4 lacks 203.0.113.12", "chain input lacks the rule \"meta l4proto esp counter drop\""]
persist_file:
  description: The file the table is persisted to.
  returned: when O(persist=true)
  type: str
  sample: /etc/ironclad-swarm/firewall.json
boot_unit:
  description: The boot unit after this run (in check mode, as it would be).
  returned: when O(boot_unit=true) and nft is installed
  type: dict
  contains:
    path:
      description: The unit file, O(boot_unit_path).
      type: str
      sample: /etc/systemd/system/ironclad-swarm-firewall.service
    state:
      description: V(enabled) (the file is written and the unit enabled) or V(absent) (no file).
      type: str
      sample: enabled
    actions:
      description: What this run did to the unit, in order (V(written), V(enabled), V(disabled), V(removed)).
      type: list
      elements: str
      sample: [written, enabled]
nftables_missing:
  description:
    - V(true) when C(nft) is not on the host and O(on_missing_nft=report); nothing was changed and
      RV(ruleset) is empty.
  returned: always
  type: bool
  sample: false
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import sync_file
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.boot_unit import (
    BOOT_UNIT_PATH,
    BOOT_UNIT_WANTED_BY,
    boot_unit_text,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.cleartext import carried_rules
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.nftio import (
    canonical_table,
    delete_batch,
    element_count,
    parse_ruleset,
    render_table,
    replace_batch,
    rule_count,
    table_absent,
    table_differences,
    table_objects,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec import (
    TABLE_FAMILY,
    TABLE_NAME,
    FieldError,
    build_spec,
    desired_objects,
)
from ansible_collections.ironclad.swarm.plugins.module_utils.common.systemd import Systemctl, sync_unit

TABLE_LABEL = 'nft table %s %s' % (TABLE_FAMILY, TABLE_NAME)


class NftCli(object):
    """nft through its JSON interface, argv lists only."""

    def __init__(self, module):
        self.module = module
        self.nft = module.get_bin_path('nft', opt_dirs=['/usr/sbin', '/sbin'])

    def installed(self):
        return self.nft is not None

    def require(self):
        if self.nft is None:
            self.module.fail_json(msg='nft not found on the host: install the nftables package '
                                      '(the ironclad.swarm.firewall role does).')

    def read_table(self):
        """Our table's objects, or None when it does not exist."""
        rc, out, err = self.module.run_command([self.nft, '-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME])
        if rc != 0:
            if table_absent(err):
                return None
            self.module.fail_json(msg='nft -j list table %s %s failed: %s' % (TABLE_FAMILY, TABLE_NAME, err.strip()), rc=rc)
        try:
            return table_objects(parse_ruleset(out))
        except ValueError as exc:
            self.module.fail_json(msg='Cannot read the JSON of nft -j list table: %s' % to_native(exc))

    def run_batch(self, batch, check=False):
        argv = [self.nft, '-j'] + (['-c'] if check else []) + ['-f', '-']
        rc, out, err = self.module.run_command(argv, data=json.dumps(batch))
        if rc != 0:
            self.module.fail_json(msg='nft %s the batch for table %s %s: %s' % (
                'refused (check)' if check else 'refused', TABLE_FAMILY, TABLE_NAME, (err or out).strip()), rc=rc)


class SwarmFirewall(object):

    def __init__(self, module, nft=None, systemctl=None):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.nft = nft if nft is not None else NftCli(module)
        self.systemctl = systemctl
        self.changed = False
        self.diff = []

    def fail_field(self, exc):
        self.module.fail_json(msg=str(exc), field=exc.field)

    def spec(self):
        try:
            spec = build_spec(self.params)
        except FieldError as exc:
            self.fail_field(exc)
        if spec.input_policy == 'drop':
            if not spec.ssh_ports:
                self.fail_field(FieldError('ssh_ports', 'is empty while input_policy=drop: SSH would be cut off; '
                                                        'list the port sshd listens on (default 22)'))
            port = self.ssh_connection_port()
            if port is not None and port not in spec.ssh_ports and port not in [entry[1] for entry in spec.allow]:
                self.fail_field(FieldError('ssh_ports', 'does not list %d, the port of the SSH connection running this '
                                                        'task, while input_policy=drop: add it' % port))
        return spec

    def unit_text(self):
        """The boot unit's content, checked before anything is touched (None without boot_unit)."""
        if not self.params['boot_unit']:
            return None
        try:
            return boot_unit_text(self.params['persist_file'])
        except FieldError as exc:
            self.fail_field(exc)

    def ssh_connection_port(self):
        parts = os.environ.get('SSH_CONNECTION', '').split()
        if len(parts) == 4 and parts[3].isdigit():
            return int(parts[3])
        return None

    def persist(self, content):
        diff = sync_file(self.module, self.params['persist_file'], content, '0600')
        if diff:
            self.changed = True
            self.diff.append(diff)

    def boot_unit(self, content):
        """Write and enable the unit (content), or disable and remove it (None)."""
        if self.systemctl is None:
            self.systemctl = Systemctl(self.module)
        path = self.params['boot_unit_path']
        done = sync_unit(self.module, self.systemctl, path, content, BOOT_UNIT_WANTED_BY)
        if done.changed:
            self.changed = True
        if done.diff:
            self.diff.append(done.diff)
        return {'path': path, 'state': 'enabled' if content is not None else 'absent', 'actions': done.actions}

    def nftables_missing(self):
        """nft is not installed and on_missing_nft=report: change nothing, say so."""
        self.module.exit_json(changed=False, nftables_missing=True, ruleset='', rules=0, elements=0,
                              differences=['nft is not installed: the table was neither read nor applied'])

    def run(self):
        state = self.params['state']
        spec = self.spec() if state == 'present' else None
        unit = self.unit_text() if state == 'present' and self.params['persist'] else None
        if not self.nft.installed() and self.params['on_missing_nft'] == 'report':
            self.nftables_missing()
        self.nft.require()
        live = self.nft.read_table()
        before = canonical_table(live)

        if state == 'present':
            objects = desired_objects(spec)
            after = canonical_table(objects)
            batch = replace_batch(objects)
        else:
            after, batch = None, (delete_batch() if live is not None else None)

        differences = table_differences(before, after)
        if before != after:
            self.changed = True
            self.diff.append({'before_header': TABLE_LABEL, 'after_header': TABLE_LABEL,
                              'before': render_table(before), 'after': render_table(after)})
            applied = batch
            if state == 'present' and live is not None:
                # The per-network cleartext rules are learned from Docker (the node agent keeps them), not
                # declared: a replaced table gets them back, with their counters restarted.
                applied = {'nftables': batch['nftables'] + [{'add': rule} for rule in carried_rules(live)]}
            self.nft.run_batch(applied, check=True)
            if not self.check_mode:
                self.nft.run_batch(applied)
                now = canonical_table(self.nft.read_table())
                if now != after:
                    self.module.fail_json(msg='nft applied the batch but lists table %s %s differently: %s' % (
                        TABLE_FAMILY, TABLE_NAME, '; '.join(table_differences(now, after))))

        result = {}
        if self.params['persist'] or self.params['boot_unit']:
            # With boot_unit, persist=false means "no longer load it at boot": the file goes too.
            content = None
            if state == 'present' and self.params['persist']:
                content = json.dumps(batch, indent=1, sort_keys=True) + '\n'
            self.persist(content)
        if self.params['persist']:
            result['persist_file'] = self.params['persist_file']
        if self.params['boot_unit']:
            result['boot_unit'] = self.boot_unit(unit)

        result.update(changed=self.changed, ruleset=render_table(after), rules=rule_count(after),
                      elements=element_count(after), differences=differences, nftables_missing=False)
        if self.module._diff and self.diff:
            result['diff'] = self.diff
        self.module.exit_json(**result)


ARGUMENT_SPEC = dict(
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    peers=dict(type='list', elements='str', default=[]),
    managers=dict(type='list', elements='str', default=[]),
    ssh_ports=dict(type='list', elements='int', default=[22]),
    data_path_port=dict(type='int', default=4789),
    drop_unencrypted_vxlan=dict(type='bool', default=False),
    input_policy=dict(type='str', choices=['accept', 'drop'], default='accept'),
    allow=dict(type='list', elements='dict', default=[], options=dict(
        port=dict(type='int', required=True),
        protocol=dict(type='str', choices=['tcp', 'udp'], default='tcp'),
    )),
    allow_icmp=dict(type='bool', default=True),
    priority=dict(type='int', default=-10),
    persist=dict(type='bool', default=True),
    persist_file=dict(type='path', default='/etc/ironclad-swarm/firewall.json'),
    boot_unit=dict(type='bool', default=False),
    boot_unit_path=dict(type='path', default=BOOT_UNIT_PATH),
    on_missing_nft=dict(type='str', choices=['fail', 'report'], default='fail'),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    SwarmFirewall(module).run()


if __name__ == '__main__':
    main()
