# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record the unit-test fixtures of one Docker version from a container lab.

    .venv/bin/python tests/tooling/record_fixtures.py --suite trixie
    .venv/bin/python tests/tooling/record_fixtures.py --suite forky --firewall-backend nftables

Builds the `fw-dev`-shaped lab with playbooks/lab.yml (1 manager 172.27.0.2, workers .3 and
.4 on 172.27.0.0/24; overlay `fwsec` encrypted, created before `fwplain`, so their VNIs are
4097 and 4098), starts a global dnsrr service on both networks, then records, per node and
situation, what the parsers read (nft -j, iptables-save, docker inspect, ip xfrm, ip -j addr),
the hand edits included, into

    tests/unit/fixtures/nft/docker-MAJOR.MINOR[-SUFFIX]/
    tests/unit/fixtures/docker/docker-MAJOR.MINOR[-SUFFIX]/
    tests/unit/fixtures/xfrm/docker-MAJOR.MINOR[-SUFFIX]/

each with a README naming the suite, versions, kernel, date and the command behind every file.
Every hand edit is undone after its recording (the fence is loaded again from the file the
firewall role persisted). The lab is removed at the end unless --keep is given.

Run it as root on a machine with the lab images (tests/lab/build-images.sh SUITE) and the
venv (make venv collection). It talks to the local Docker Engine only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, 'molecule', 'shared'))
import platforms  # noqa: E402  pylint: disable=wrong-import-position
FIXTURES = os.path.join(REPO, 'tests', 'unit', 'fixtures')
SUBNET = '172.27.0.0/24'
MANAGER_IP, WORKER1_IP, WORKER2_IP = '172.27.0.2', '172.27.0.3', '172.27.0.4'
PEERS = [MANAGER_IP, WORKER1_IP, WORKER2_IP]
SERVICE = 'fwsvc'
IMAGE = 'ironclad-swarm-lab/probe:1'
PERSIST = '/etc/ironclad-swarm/firewall.json'

# The engine's view through the Docker SDK, as the modules get it (docker.APIClient).
SDK_SNIPPET = r'''
import json, sys, docker
api = docker.APIClient(version='auto')
what, args = sys.argv[1], sys.argv[2:]
if what == 'info':
    out = api.info()
elif what == 'version':
    out = api.version()
elif what == 'swarm':
    out = api.inspect_swarm()
elif what == 'nodes':
    out = api.nodes()
elif what == 'networks':
    out = api.networks()
elif what == 'network':
    out = api.inspect_network(args[0], verbose=len(args) > 1 and args[1] == 'verbose')
elif what == 'service':
    out = api.inspect_service(args[0])
elif what == 'attachment-tasks':
    out = api.tasks(filters={'runtime': 'attachment', 'desired-state': 'running'})
print(json.dumps(out, indent=2, sort_keys=True))
'''


def log(msg):
    print('[record] %s' % msg, flush=True)


class Lab:
    def __init__(self, args):
        self.args = args
        self.name = args.lab_name or 'fx-%s' % args.suite
        self.manager = '%s-manager-1' % self.name
        self.worker1 = '%s-worker-1' % self.name
        self.worker2 = '%s-worker-2' % self.name
        self.nodes = {'manager-1': self.manager, 'worker-1': self.worker1, 'worker-2': self.worker2}
        self.inventory = os.path.join(REPO, '.build', '%s.yml' % self.name)
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
                        ANSIBLE_HOME=os.path.join(REPO, '.build', 'ansible-home'), ANSIBLE_PIPELINING='True',
                        ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
        self.bin = os.path.join(REPO, '.venv', 'bin')

    # running things

    def playbook(self, path, extra, tags=None, check=True):
        argv = [os.path.join(self.bin, 'ansible-playbook'), '-i', 'localhost,', path, '-e', json.dumps(extra)]
        if tags:
            argv += ['--tags', tags]
        log('$ ' + ' '.join(shlex.quote(a) for a in argv))
        result = subprocess.run(argv, cwd=REPO, env=self.env, check=False)
        if check and result.returncode != 0:
            sys.exit('ansible-playbook failed (rc %d)' % result.returncode)
        return result.returncode

    def sh(self, node, command, check=True):
        """stdout of `sh -c command` in a node; with check=False, (rc, out, err)."""
        result = subprocess.run(['docker', 'exec', node, 'sh', '-c', command], capture_output=True, text=True, check=False)
        if not check:
            return result.returncode, result.stdout, result.stderr
        if result.returncode != 0:
            sys.exit('%s: `%s` failed (rc %d): %s' % (node, command, result.returncode, result.stderr.strip()))
        return result.stdout

    def sdk(self, node, *what):
        argv = ['docker', 'exec', '-i', node, 'python3', '-', ] + list(what)
        result = subprocess.run(argv, input=SDK_SNIPPET, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit('%s: SDK %s failed: %s' % (node, ' '.join(what), result.stderr.strip()))
        return result.stdout

    def wait(self, what, test, timeout=240):
        deadline = time.time() + timeout
        while True:
            if test():
                return True
            if time.time() > deadline:
                log('gave up waiting for %s after %d s' % (what, timeout))
                return False
            time.sleep(3)

    # the lab

    def base_vars(self):
        return {
            'lab_name': self.name, 'lab_suite': self.args.suite, 'lab_subnet': SUBNET,
            'lab_inventory_file': self.inventory,
            'networks_overlay': [{'name': 'fwsec'}, {'name': 'fwplain', 'encrypted': False}],
            'audit_fail_on': 'none', 'audit_report_html': False,
            'audit_report_dir': os.path.join(REPO, '.build', '%s-audit' % self.name),
        }

    def up(self):
        extra = self.base_vars()
        if self.args.firewall_backend:
            # Docker 28 reads the backend from the environment only (DOCKER_FIREWALL_BACKEND;
            # daemon.json's firewall-backend arrived in 29 and 28 refuses to start with it).
            # The drop-in must be there before the engine role installs and starts docker.
            self.nodes_only(extra)
            for node in self.nodes.values():
                self.sh(node, 'mkdir -p /etc/systemd/system/docker.service.d && printf "[Service]\\n'
                              'Environment=DOCKER_FIREWALL_BACKEND=%s\\n" > /etc/systemd/system/docker.service.d/'
                              'firewall-backend.conf && systemctl daemon-reload' % self.args.firewall_backend)
        rc = self.playbook('playbooks/lab.yml', extra, check=not self.args.firewall_backend)
        return rc

    def nodes_only(self, extra):
        with tempfile.NamedTemporaryFile('w', suffix='.yml', dir=os.path.join(REPO, '.build'), delete=False) as handle:
            handle.write('- hosts: localhost\n  connection: local\n  gather_facts: false\n'
                         '  vars: {ansible_python_interpreter: "{{ ansible_playbook_python }}"}\n'
                         '  roles: [ironclad.swarm.lab]\n')
        try:
            self.playbook(handle.name, extra)
        finally:
            os.unlink(handle.name)

    def down(self):
        self.playbook('playbooks/lab.yml', {'lab_name': self.name, 'lab_state': 'absent'}, tags='lab')

    def exists(self):
        result = subprocess.run(['docker', 'inspect', self.manager], capture_output=True, check=False)
        return result.returncode == 0


class Recorder:
    """Writes fixture files and remembers, for the README, how each was made."""

    def __init__(self, lab, kind, folder):
        self.lab = lab
        self.kind = kind
        self.dir = os.path.join(FIXTURES, kind, folder)
        self.rows = []
        os.makedirs(self.dir, exist_ok=True)

    def write(self, name, text, node, command, note='', verbatim=False):
        if name.endswith('.json') and text.strip() and not verbatim:
            # readable diffs; key order means nothing in these JSON documents
            text = json.dumps(json.loads(text), indent=2, sort_keys=True) + '\n'
        with open(os.path.join(self.dir, name), 'w') as handle:
            handle.write(text)
        self.rows.append((name, node, command, note))
        log('%s/%s (%d bytes)' % (self.kind, name, len(text)))

    def run(self, name, node_key, command, note='', verbatim=False):
        node = self.lab.nodes[node_key]
        self.write(name, self.lab.sh(node, command), node_key, command, note, verbatim)

    def sdk(self, name, node_key, what, note=''):
        call = {'info': 'APIClient.info()', 'version': 'APIClient.version()', 'swarm': 'APIClient.inspect_swarm()',
                'nodes': 'APIClient.nodes()', 'networks': 'APIClient.networks()',
                'attachment-tasks': "APIClient.tasks(filters={'runtime': 'attachment', 'desired-state': 'running'})"}
        if what[0] == 'network':
            command = 'APIClient.inspect_network(%s%s)' % (what[1], ', verbose=True' if what[2:] else '')
        elif what[0] == 'service':
            command = 'APIClient.inspect_service(%s)' % what[1]
        else:
            command = call[what[0]]
        self.write(name, self.lab.sdk(self.lab.nodes[node_key], *what), node_key, command + ' (Docker SDK in the node)',
                   note)

    def readme(self, title, intro, facts):
        lines = ['# %s' % title, '']
        lines += intro
        lines += ['', '| | |', '|---|---|']
        lines += ['| %s | %s |' % (key, value) for key, value in facts]
        lines += ['', 'JSON is pretty-printed with sorted keys (`json.dumps(indent=2, sort_keys=True)`; key order means '
                  'nothing there) unless the table says verbatim; every other file is the command\'s output as it was.']
        lines += ['', '| File | Node | Command | Situation |', '|------|------|---------|-----------|']
        for name, node, command, note in self.rows:
            lines.append('| `%s` | %s | `%s` | %s |' % (name, node, command.replace('|', '\\|'), note))
        lines.append('')
        with open(os.path.join(self.dir, 'README.md'), 'w') as handle:
            handle.write('\n'.join(lines))


def node_facts(lab):
    m = lab.manager
    version = json.loads(lab.sdk(m, 'version'))
    facts = [
        ('Recorded', datetime.date.today().isoformat() + ' by `tests/tooling/record_fixtures.py --suite %s%s`' % (
            lab.args.suite, ' --firewall-backend %s' % lab.args.firewall_backend if lab.args.firewall_backend else '')),
        ('Lab', '`%s` (playbooks/lab.yml): manager-1 %s, worker-1 %s, worker-2 %s' % (lab.name, MANAGER_IP, WORKER1_IP,
                                                                                      WORKER2_IP)),
        ('Node OS', lab.sh(m, '. /etc/os-release && echo "$PRETTY_NAME"').strip()),
        ('Docker Engine', '%s (API %s), containerd %s' % (version['Version'], version['ApiVersion'], ', '.join(
            c['Version'] for c in version.get('Components', []) if c['Name'] == 'containerd'))),
        ('Docker CLI', lab.sh(m, 'docker version --format "{{.Client.Version}}"').strip()),
        ('iptables', lab.sh(m, 'iptables --version').strip()),
        ('nftables', lab.sh(m, 'nft --version').strip()),
        ('iproute2', lab.sh(m, 'ip -V').strip()),
        ('python3-docker', lab.sh(m, 'python3 -c "import docker; print(docker.__version__)"').strip()),
        ('Kernel (shared by the lab containers)', lab.sh(m, 'uname -r').strip()),
    ]
    backend = json.loads(lab.sdk(m, 'info')).get('FirewallBackend')
    if backend:
        facts.append(('Docker firewall backend', '`%s`' % json.dumps(backend, sort_keys=True)))
    return version, facts


def rules_programmed(lab, node, vni=4097):
    """Docker has installed its INPUT rules for the encrypted network on this node."""
    rc, out, _err = lab.sh(node, 'iptables-save -t filter', check=False)
    return rc == 0 and any(line.startswith('-A INPUT') and '4789' in line and 'DROP' in line
                           for line in out.splitlines())


def start_service(lab):
    rc, _out, _err = lab.sh(lab.manager, 'docker service inspect %s' % SERVICE, check=False)
    if rc != 0:
        lab.sh(lab.manager, 'docker service create --detach --quiet --name %s --mode global --endpoint-mode dnsrr '
                            '--network fwsec --network fwplain %s httpd -f -p 80 -h /www' % (SERVICE, IMAGE))

    def running():
        out = lab.sh(lab.manager, "docker service ps --filter desired-state=running --format '{{.CurrentState}}' %s"
                     % SERVICE)
        return len([line for line in out.splitlines() if line.startswith('Running')]) == 3

    lab.wait('3 running tasks of %s' % SERVICE, running)
    if not lab.args.firewall_backend:
        for node in lab.nodes.values():
            lab.wait("Docker's VXLAN rules on %s" % node, lambda n=node: rules_programmed(lab, n))
    else:
        time.sleep(15)


def restore_fence(lab, node, learn=True):
    """Load the persisted fence again; with learn, let the node agent fill the cleartext chains at once (as its
    next run would), so that every recording after a hand edit has them, whatever the timer's phase."""
    lab.sh(node, 'nft -j -f %s' % PERSIST)
    if learn:
        agent_run(lab, node)


def agent_run(lab, node):
    lab.sh(node, 'if systemctl cat ironclad-swarm-agent.service >/dev/null 2>&1; then '
                 'systemctl start ironclad-swarm-agent.service; fi')


def check_vnis(lab):
    nets = json.loads(lab.sh(lab.manager, 'docker network inspect fwsec fwplain'))
    vnis = dict((n['Name'], n['Options'].get('com.docker.network.driver.overlay.vxlanid_list')) for n in nets)
    if vnis != {'fwsec': '4097', 'fwplain': '4098'}:
        sys.exit('the VNIs are %s, not fwsec 4097 / fwplain 4098 as the 20.10 fixtures: start from a new lab' % vnis)


# --- nft / iptables ---------------------------------------------------------------------------------

def record_fence(lab, folder):
    rec = Recorder(lab, 'nft', folder)
    m, w1, w2 = 'manager-1', 'worker-1', 'worker-2'
    # 1. before any task: the manager without the fence
    lab.sh(lab.manager, 'nft delete table inet ironclad_swarm')
    try:
        rec.run('baseline-manager.nft.json', m, 'nft -j list ruleset', 'swarm and networks, no task yet; fence deleted')
        rec.run('baseline-manager.iptables-save', m, 'iptables-save', 'the same moment')
    finally:
        restore_fence(lab, lab.manager, learn=False)
    rec.run('table-fenced.json', m, 'nft -j list table inet ironclad_swarm', 'the fence as the firewall role persisted '
            'it, loaded again: its cleartext chains empty until the node agent runs')
    rec.run('persisted-firewall.json', m, 'cat %s' % PERSIST, 'the file swarm_firewall persisted; verbatim (the module '
            'compares its text)', verbatim=True)

    # 2. the policy-drop variant of the fence, made by the module itself on worker-2
    params = {'peers': PEERS + ['2001:db8::/64'], 'managers': [MANAGER_IP], 'input_policy': 'drop',
              'allow': [{'port': 443, 'protocol': 'tcp'}, {'port': 443, 'protocol': 'udp'}], 'allow_icmp': False,
              'drop_unencrypted_vxlan': True, 'ssh_ports': [22], 'persist_file': '/tmp/fx-policy-drop.json'}
    argv = [os.path.join(lab.bin, 'ansible'), '-i', lab.inventory, lab.worker2, '-m', 'ironclad.swarm.swarm_firewall',
            '-a', json.dumps(params)]
    log('$ ' + ' '.join(shlex.quote(a) for a in argv))
    subprocess.run(argv, cwd=REPO, env=lab.env, check=True, stdout=subprocess.DEVNULL)
    try:
        note = 'swarm_firewall with `%s`' % json.dumps(params, sort_keys=True)
        rec.run('table-policy-drop.json', w2, 'nft -j list table inet ironclad_swarm', note)
        rec.run('table-policy-drop.nft', w2, 'nft list table inet ironclad_swarm', 'the same, as text')
    finally:
        restore_fence(lab, lab.worker2)

    # 3. a task on every node: Docker programs its per-network rules, the node agent learns the networks
    start_service(lab)
    for node in lab.nodes.values():
        agent_run(lab, node)
    rec.run('manager-fenced.json', m, 'nft -j list ruleset', 'fence applied, %s running on both networks' % SERVICE)
    rec.run('manager-fenced.iptables-save', m, 'iptables-save', 'the same moment')
    rec.run('manager-fenced.ip6tables-save', m, 'ip6tables-save', 'the same moment')
    rec.run('manager-networks.json', m, 'docker network inspect fwsec fwplain ingress', '')
    rec.run('worker-networks.json', w1, 'docker network inspect fwsec fwplain ingress', '')
    rec.run('worker-ip-addr.json', w1, 'ip -j addr show', '')
    if 'FirewallBackend' in json.loads(lab.sdk(lab.manager, 'info')):
        # Docker 26.1's and 20.10's CLI refuse the field (a template error), so the file exists from 28 on only.
        rec.run('manager-firewall-backend.json', m, "docker info --format '{{json .FirewallBackend}}'",
                'what firewall_audit asks the engine')

    # 4. hand edits, each undone after its recording
    lab.sh(lab.worker1, 'iptables -I INPUT 1 -p udp --dport 4789 -j ACCEPT')
    try:
        note = "after `iptables -I INPUT 1 -p udp --dport 4789 -j ACCEPT` (ahead of Docker's drop)"
        rec.run('worker-shadowed.json', w1, 'nft -j list ruleset', note)
        rec.run('worker-shadowed.iptables-save', w1, 'iptables-save', note)
    finally:
        lab.sh(lab.worker1, 'iptables -D INPUT -p udp --dport 4789 -j ACCEPT')

    listing = json.loads(lab.sh(lab.worker2, 'nft -j -a list chain inet ironclad_swarm swarm_peer'))['nftables']
    handle = [o['rule']['handle'] for o in listing if 'rule' in o
              and {'match': {'op': '==', 'left': {'meta': {'key': 'l4proto'}}, 'right': 'esp'}} in o['rule']['expr']
              and any('accept' in e for e in o['rule']['expr'])][0]
    lab.sh(lab.worker2, 'nft delete rule inet ironclad_swarm swarm_peer handle %d' % handle)
    try:
        note = 'after `nft delete rule inet ironclad_swarm swarm_peer handle N` (the ESP accept)'
        rec.run('worker-edited.json', w2, 'nft -j list ruleset', note)
        rec.run('worker-edited.iptables-save', w2, 'iptables-save', note)
    finally:
        restore_fence(lab, lab.worker2)

    lab.sh(lab.worker2, 'nft insert rule inet ironclad_swarm input ip saddr %s meta l4proto esp counter drop' % WORKER1_IP)
    try:
        note = ('after `nft insert rule inet ironclad_swarm input ip saddr %s meta l4proto esp counter drop` '
                '(ESP from one peer dropped)' % WORKER1_IP)
        rec.run('worker-peer-esp-drop.json', w2, 'nft -j list ruleset', note)
        rec.run('worker-peer-esp-drop.iptables-save', w2, 'iptables-save', note)
    finally:
        restore_fence(lab, lab.worker2)

    lab.sh(lab.worker2, 'nft delete table inet ironclad_swarm')
    try:
        note = 'after `nft delete table inet ironclad_swarm`'
        rec.run('worker-no-table.json', w2, 'nft -j list ruleset', note)
        rec.run('worker-no-table.iptables-save', w2, 'iptables-save', note)
    finally:
        restore_fence(lab, lab.worker2)
    return rec


# --- docker inspect -----------------------------------------------------------------------------------

VARIANTS = [
    # file, network, `docker network create` options
    ('network-encrypted-opt-empty', 'fx-enc-empty', '--opt encrypted'),
    ('network-encrypted-opt-true', 'fx-enc-true', '--opt encrypted=true'),
    ('network-encrypted-opt-false', 'fx-enc-false', '--opt encrypted=false'),
    ('network-encrypted-typo', 'fx-enc-typo', '--opt encrytped=true'),
    ('network-plain', 'fx-plain', ''),
    ('network-plain-mtu', 'fx-plain-mtu', '--opt com.docker.network.driver.mtu=1400'),
    ('network-ipv6', 'fx-ipv6', '--ipv6 --subnet 10.51.0.0/24 --subnet fd00:51::/64'),
]
FULL = ('network-full-verbose', 'fx-full',
        '--attachable --internal --opt encrypted --opt com.docker.network.driver.mtu=1400 --label team=a '
        '--label tier=db --subnet 10.50.0.0/24 --gateway 10.50.0.1 --ip-range 10.50.0.128/25')


def record_engine(lab, folder):
    rec = Recorder(lab, 'docker', folder)
    m = lab.manager
    rec.sdk('info.json', 'manager-1', ('info',))
    rec.sdk('version.json', 'manager-1', ('version',))
    rec.write('info-swarm-worker.json', json.dumps(json.loads(lab.sdk(lab.worker1, 'info'))['Swarm']), 'worker-1',
              "APIClient.info()['Swarm'] (Docker SDK in the node)")
    swarm = json.loads(lab.sdk(lab.manager, 'swarm'))
    # a join token admits a node to the swarm: never commit one, even of a lab that is gone
    swarm['JoinTokens'] = dict((role, 'SWMTKN-1-REDACTED-%s' % role.lower()) for role in swarm.get('JoinTokens') or {})
    rec.write('swarm.json', json.dumps(swarm), 'manager-1', 'APIClient.inspect_swarm() (Docker SDK in the node)',
              'JoinTokens replaced by SWMTKN-1-REDACTED-manager / -worker')
    rec.sdk('nodes.json', 'manager-1', ('nodes',))
    rec.run('ip-addr-manager.json', 'manager-1', 'ip -j addr show')
    rec.run('docker-info.json', 'manager-1', "docker info --format '{{json .}}'", 'the CLI view (client and server)')
    rec.run('docker-version.json', 'manager-1', "docker version --format '{{json .}}'", 'the CLI view')
    for name in ('fwsec', 'fwplain', 'ingress'):
        rec.sdk('network-%s.json' % name, 'manager-1', ('network', name))
        rec.sdk('network-%s-verbose.json' % name, 'manager-1', ('network', name, 'verbose'))

    # the option spellings and field variants of overlay networks
    for _file, net, opts in VARIANTS + [FULL]:
        rc, _o, _e = lab.sh(m, 'docker network inspect %s' % net, check=False)
        if rc != 0:
            lab.sh(m, 'docker network create -d overlay %s %s' % (opts, net))
    rc, _o, _e = lab.sh(m, 'docker network inspect fx-bridge', check=False)
    if rc != 0:
        lab.sh(m, 'docker network create -d bridge fx-bridge')
    rc, _o, _e = lab.sh(m, 'docker service inspect fx-svc', check=False)
    if rc != 0:
        lab.sh(m, 'docker service create --detach --quiet --name fx-svc --replicas 3 --endpoint-mode dnsrr '
                  '--network name=fx-full,alias=db,alias=db-primary --network fx-plain %s httpd -f -p 80 -h /www'
                  % IMAGE)
    rc, _o, _e = lab.sh(lab.worker1, 'docker inspect fx-standalone', check=False)
    if rc != 0:
        lab.sh(lab.worker1, 'docker run -d --name fx-standalone --network fx-full %s sleep 100000' % IMAGE)
    lab.wait('3 running tasks of fx-svc', lambda: len([
        line for line in lab.sh(m, "docker service ps --filter desired-state=running --format '{{.CurrentState}}' "
                                   "fx-svc").splitlines() if line.startswith('Running')]) == 3)
    for file, net, opts in VARIANTS:
        rec.sdk(file + '.json', 'manager-1', ('network', net), '`docker network create -d overlay %s %s`' % (opts, net))
    rec.sdk('network-full-verbose.json', 'manager-1', ('network', 'fx-full', 'verbose'),
            '`docker network create -d overlay %s fx-full`; service fx-svc (3 replicas, aliases db, db-primary) and '
            'container fx-standalone (on worker-1) attached' % FULL[2])
    rec.sdk('network-bridge.json', 'manager-1', ('network', 'fx-bridge'), '`docker network create -d bridge fx-bridge`')
    rec.sdk('service-fx-svc.json', 'manager-1', ('service', 'fx-svc'))
    rec.sdk('tasks-attachment.json', 'manager-1', ('attachment-tasks',), 'fx-standalone running on worker-1')
    rec.sdk('networks.json', 'manager-1', ('networks',), 'every network above present')
    # leave the fw networks as they were for anything recorded after this
    lab.sh(lab.worker1, 'docker rm -f fx-standalone')
    lab.sh(m, 'docker service rm fx-svc')
    return rec


# --- xfrm ---------------------------------------------------------------------------------------------

def record_xfrm(lab, folder):
    rec = Recorder(lab, 'xfrm', folder)
    for key in ('manager-1', 'worker-1', 'worker-2'):
        rec.run('lab-%s-policy.txt' % key, key, 'ip xfrm policy list')
        rec.run('lab-%s-state.txt' % key, key, 'ip -s xfrm state list')
        rec.run('lab-%s-network-fwsec.json' % key, key, 'docker network inspect -v fwsec')
        rec.run('lab-%s-info-swarm.json' % key, key, "docker info --format '{{json .Swarm}}'")
    return rec


# --- the nftables backend: what there is to see -------------------------------------------------------

def record_backend(lab, folder, playbook_rc):
    rec = Recorder(lab, 'nft', folder)
    m = lab.manager
    rec.run('manager-docker-unit.txt', 'manager-1', 'systemctl show docker.service --property=Environment; '
                                                    'systemctl is-active docker.service || true')
    rec.run('manager-dockerd-journal.txt', 'manager-1', 'journalctl -u docker.service --no-pager -o cat | '
                                                        "grep -i -E 'firewall|nftables|iptables|swarm|error|warn' "
                                                        '| tail -60 || true')
    rec.run('manager-swarm-state.txt', 'manager-1', 'docker info --format "{{json .Swarm}}"; '
                                                    'docker info --format "{{json .FirewallBackend}}"; true')
    state = lab.sh(m, 'docker info --format "{{.Swarm.LocalNodeState}}"').strip()
    if state != 'active':
        # site.yml stopped at the swarm: ask the engine directly and keep its answer
        rc, out, err = lab.sh(m, 'docker swarm init --advertise-addr %s' % MANAGER_IP, check=False)
        rec.write('manager-swarm-init.txt', 'rc=%d\n--- stdout\n%s--- stderr\n%s' % (rc, out, err), 'manager-1',
                  'docker swarm init --advertise-addr %s' % MANAGER_IP, 'the engine\'s answer, verbatim')
    rec.run('manager-firewall-backend.json', 'manager-1', "docker info --format '{{json .FirewallBackend}}'",
            'what firewall_audit asks the engine')
    rec.run('manager-ruleset.json', 'manager-1', 'nft -j list ruleset', 'after site.yml (rc %d)' % playbook_rc)
    rec.run('manager-ruleset.nft', 'manager-1', 'nft list ruleset', 'the same, as text')
    rec.run('manager.iptables-save', 'manager-1', 'iptables-save', 'the same moment')
    return rec


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--suite', required=True, choices=platforms.lab_suites())
    parser.add_argument('--lab-name', help='default fx-SUITE')
    parser.add_argument('--firewall-backend', choices=['nftables'],
                        help='start dockerd with DOCKER_FIREWALL_BACKEND (Docker 28) and record what it does')
    parser.add_argument('--steps', default='fence,engine,xfrm', help='comma-separated: fence, engine, xfrm')
    parser.add_argument('--reuse', action='store_true', help='use a running lab of that name instead of building one')
    parser.add_argument('--keep', action='store_true', help='leave the lab running')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('run as root (docker exec into the lab nodes)')

    lab = Lab(args)
    playbook_rc = 0
    if not (args.reuse and lab.exists()):
        playbook_rc = lab.up()
    try:
        version, facts = node_facts(lab)
        major_minor = '.'.join(version['Version'].split('.')[:2])
        folder = 'docker-%s' % major_minor + ('-%s' % args.firewall_backend if args.firewall_backend else '')
        log('Docker %s: recording into */%s/' % (version['Version'], folder))
        if args.firewall_backend:
            rec = record_backend(lab, folder, playbook_rc)
            if json.loads(lab.sdk(lab.manager, 'info'))['Swarm'].get('LocalNodeState') == 'active':
                check_vnis(lab)
                start_service(lab)
                rec.run('manager-fenced.json', 'manager-1', 'nft -j list ruleset', '%s running on both networks' % SERVICE)
                rec.run('manager-fenced.nft', 'manager-1', 'nft list ruleset', 'the same, as text')
                rec.run('manager-fenced.iptables-save', 'manager-1', 'iptables-save', 'the same moment')
                rec.run('manager-networks.json', 'manager-1', 'docker network inspect fwsec fwplain ingress')
                rec.run('persisted-firewall.json', 'manager-1', 'cat %s' % PERSIST, 'the file swarm_firewall '
                        'persisted; verbatim (the module compares its text)', verbatim=True)
                rec.run('worker-ip-addr.json', 'worker-1', 'ip -j addr show')
                rec.run('worker-fenced.json', 'worker-1', 'nft -j list ruleset', 'the same on worker-1')
                rec.run('worker-fenced.iptables-save', 'worker-1', 'iptables-save', 'the same on worker-1')
            rec.readme('Docker %s with DOCKER_FIREWALL_BACKEND=%s' % (major_minor, args.firewall_backend),
                       ['The lab of record_fixtures.py with dockerd started with `DOCKER_FIREWALL_BACKEND=%s` (a '
                        'systemd drop-in written before the engine role installed docker.io). See docs/firewall.md.'
                        % args.firewall_backend], facts)
            return
        steps = args.steps.split(',')
        check_vnis(lab)
        intro = ['Recorded from the `fw-dev`-shaped lab of `tests/tooling/record_fixtures.py`: encrypted overlay '
                 '`fwsec` (VNI 4097), plain `fwplain` (VNI 4098), a global dnsrr service `%s` (busybox httpd) on both '
                 'once the fence and the networks are there. Peers in the fence: the three node addresses; manager '
                 '%s. Every hand edit was undone (`nft -j -f %s`, `iptables -D`) before the next.'
                 % (SERVICE, MANAGER_IP, PERSIST)]
        if 'fence' in steps:
            rec = record_fence(lab, folder)
            rec.readme('nftables / iptables recordings, Docker %s' % major_minor, intro, facts)
        else:
            start_service(lab)
        if 'xfrm' in steps:
            rec = record_xfrm(lab, folder)
            rec.readme('xfrm recordings, Docker %s' % major_minor, intro + [
                '', 'The shared kernel has XFRM_USER but no ESP: Docker installs its xfrm policies, the kernel '
                'refuses its SAs, so the state listings are empty.'], facts)
        if 'engine' in steps:
            rec = record_engine(lab, folder)
            rec.readme('Docker Engine recordings, Docker %s' % major_minor, intro + [
                '', 'Then the `fx-*` networks were created on the manager (one per option spelling or field), a '
                'service `fx-svc` and a standalone container `fx-standalone` attached to `fx-full`. JSON is what the '
                'Docker SDK (`docker.APIClient`) returns, pretty-printed with sorted keys.'], facts)
    finally:
        if not args.keep:
            lab.down()


if __name__ == '__main__':
    main()
