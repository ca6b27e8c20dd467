# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
#
# What the audit needs to know of one node beyond IPsec, read without changing anything:
# the daemon's effective settings (daemon.json and dockerd's command line), the API socket's
# mode, who listens on the swarm's management port, the node's swarm certificate (public) and
# the user each local swarm task runs as. The findings are made on the controller
# (plugins/module_utils/audit/rules.py); this file only reads and parses.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import json
import os
import pwd
import stat

DAEMON_JSON = '/etc/docker/daemon.json'
DOCKER_PIDFILE = '/var/run/docker.pid'
DOCKER_SOCKET = '/var/run/docker.sock'
NODE_CERT = '/var/lib/docker/swarm/certificates/swarm-node.crt'
MANAGEMENT_PORT = 2377

# dockerd flags the audit reads, with the daemon.json key each one overrides.
FLAG_KEYS = {
    '--icc': 'icc',
    '--userland-proxy': 'userland-proxy',
    '--no-new-privileges': 'no-new-privileges',
    '--live-restore': 'live-restore',
    '--tlsverify': 'tlsverify',
    '--tls': 'tls',
    '--log-driver': 'log-driver',
}
BOOL_FLAGS = ('--icc', '--userland-proxy', '--no-new-privileges', '--live-restore', '--tlsverify', '--tls')


def _bool(text):
    return str(text).strip().lower() not in ('false', '0', 'no', 'off')


def parse_dockerd_args(argv):
    """dockerd's command line -> (settings in daemon.json's terms, hosts)."""
    settings = {}
    hosts = []
    log_opts = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition('=')
        if name in ('-H', '--host'):
            if not eq and i + 1 < len(argv):
                i += 1
                value = argv[i]
            hosts.append(value)
        elif name == '--log-opt':
            if not eq and i + 1 < len(argv):
                i += 1
                value = argv[i]
            key, dummy, opt = value.partition('=')
            log_opts[key] = opt
        elif name in BOOL_FLAGS:
            settings[FLAG_KEYS[name]] = _bool(value) if eq else True
        elif name in FLAG_KEYS:
            if not eq and i + 1 < len(argv):
                i += 1
                value = argv[i]
            settings[FLAG_KEYS[name]] = value
        i += 1
    if log_opts:
        settings['log-opts'] = log_opts
    return settings, hosts


def effective_daemon(config, argv):
    """daemon.json (dict or None) merged with dockerd's flags: the settings the daemon runs with."""
    merged = dict(config or {})
    settings, hosts = parse_dockerd_args(argv or [])
    log_opts = dict(merged.get('log-opts') or {})
    log_opts.update(settings.pop('log-opts', {}))
    merged.update(settings)
    if log_opts:
        merged['log-opts'] = log_opts
    merged['hosts'] = list(merged.get('hosts') or []) + hosts
    return merged


def parse_proc_net_tcp(text, port, family):
    """Listening sockets on `port` from /proc/net/tcp (family 4) or tcp6 (family 6): their local addresses."""
    found = []
    for line in (text or '').splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != '0A':
            continue
        address, dummy, hexport = fields[1].partition(':')
        if int(hexport, 16) != port:
            continue
        raw = bytes.fromhex(address)
        if family == 4:
            found.append('.'.join(str(b) for b in reversed(raw)))
        else:
            words = [raw[j:j + 4][::-1] for j in range(0, 16, 4)]
            joined = b''.join(words)
            groups = ['%x' % int.from_bytes(joined[j:j + 2], 'big') for j in range(0, 16, 2)]
            found.append(_compress_v6(groups))
    return found


def _compress_v6(groups):
    """A textual IPv6 address in its short form (the longest run of zero groups as ::)."""
    best, start = (0, -1), None
    for j, group in enumerate(groups + ['x']):
        if group == '0' and start is None:
            start = j
        elif group != '0' and start is not None:
            if j - start > best[0]:
                best = (j - start, start)
            start = None
    if best[0] < 2:
        return ':'.join(groups)
    head = ':'.join(groups[:best[1]])
    tail = ':'.join(groups[best[1] + best[0]:])
    return head + '::' + tail


def read_file(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def daemon_json(path=DAEMON_JSON):
    """(dict or None, error or None)."""
    text = read_file(path)
    if text is None:
        return None, None
    try:
        value = json.loads(text)
    except ValueError as error:
        return None, '%s is not valid JSON: %s' % (path, error)
    return value if isinstance(value, dict) else None, None


def dockerd_argv(pidfile=DOCKER_PIDFILE):
    pid = (read_file(pidfile) or '').strip()
    if not pid.isdigit():
        return None
    text = read_file('/proc/%s/cmdline' % pid)
    if not text:
        return None
    return [part for part in text.split('\0') if part]


def socket_facts(path=DOCKER_SOCKET):
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    return {'path': path, 'mode': '%04o' % stat.S_IMODE(st.st_mode), 'owner': owner, 'group': group}


def listeners(port=MANAGEMENT_PORT):
    return sorted(set(parse_proc_net_tcp(read_file('/proc/net/tcp'), port, 4)
                      + parse_proc_net_tcp(read_file('/proc/net/tcp6'), port, 6)))


def gather(engine_info, bridge_icc, task_containers):
    """Everything above for this node, as a plain dict for the module's result."""
    config, config_error = daemon_json()
    argv = dockerd_argv()
    info = engine_info or {}
    return {
        'daemon': {
            'config_error': config_error,
            'effective': effective_daemon(config, argv),
            'cmdline_read': argv is not None,
            'live_restore': info.get('LiveRestoreEnabled'),
            'logging_driver': info.get('LoggingDriver'),
            'server_version': info.get('ServerVersion'),
            'bridge_icc': bridge_icc,
        },
        'socket': socket_facts(),
        'management_listeners': listeners(),
        'node_cert': read_file(NODE_CERT),
        'task_containers': task_containers,
    }
