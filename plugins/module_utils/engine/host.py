# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# A Docker host as the engine role sees it, in one pass: which packages dpkg has
# installed, /etc/docker/daemon.json, the docker systemd unit, the Docker API
# socket and the Docker Engine's version. The parsers work on the commands' text
# so that they can be tested with recorded outputs; EngineHost runs the commands
# through an AnsibleModule (argv lists, never a shell) and honours check mode.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat

from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import ensure_directory, sync_owned_file


# One line per package dpkg knows: "docker.io installed", "apparmor not-installed",
# "docker.io config-files" (removed, configuration kept). Unknown packages only
# get a complaint on stderr, and exit code 1.
DPKG_QUERY_FORMAT = '${Package} ${db:Status-Status}\n'

# UnitFileState values for which `systemctl is-enabled` answers 0: the unit
# starts at boot, or cannot be enabled and needs no enabling (static).
ENABLED_STATES = frozenset(['enabled', 'enabled-runtime', 'alias', 'static', 'indirect', 'generated', 'transient'])

# ActiveState values of a unit that is running or on its way there: `systemctl start`
# would add nothing (Ansible's systemd_service module counts the same ones as started).
RUNNING_STATES = frozenset(['active', 'activating', 'reloading'])

# systemd's LoadState for a unit it has no file for (the package is not installed).
UNIT_NOT_FOUND = 'not-found'

SERVER_VERSION_FORMAT = '{{.Server.Version}}'

# The docker.socket drop-in that states the API socket's mode and owners (see EngineHost.socket_dropin).
SOCKET_DROPIN = '''# ironclad.swarm.engine: the Docker API socket is root on the host.
# Written by ironclad.swarm.engine_host; changes by hand are undone by its next run.
[Socket]
SocketMode=%(mode)s
SocketUser=%(owner)s
SocketGroup=%(group)s
'''


def last_line(*texts):
    """The last non-empty line of the first text that has one ('' when none has)."""
    for text in texts:
        lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return ''


def parse_dpkg_status(text):
    """dpkg-query output in DPKG_QUERY_FORMAT -> the set of installed package names."""
    installed = set()
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] == 'installed':
            installed.add(fields[0])
    return installed


def missing_packages(names, installed):
    """The names (in the given order, each once) that are not in installed."""
    missing = []
    for name in names:
        if name not in installed and name not in missing:
            missing.append(name)
    return missing


def octal_mode(mode):
    """A permission mode given as an octal string ('0660', '660') -> its int, or None when it is not one.

    A number is refused: YAML reads an unquoted 0660 as 432, which no check could tell from a mistake.
    """
    if not isinstance(mode, str) or not 3 <= len(mode) <= 4 or any(char not in '01234567' for char in mode):
        return None
    return int(mode, 8)


def socket_dropin(mode, owner, group):
    """The docker.socket drop-in's text for the socket's mode (an int) and owners."""
    return SOCKET_DROPIN % {'mode': '%04o' % mode, 'owner': owner, 'group': group}


def parse_systemctl_show(text):
    """`systemctl show --property=...` output (KEY=value lines) -> dict."""
    properties = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep:
            properties[key.strip()] = value.strip()
    return properties


def user_name(uid):
    """The user's name, or its number as text when the host has no such user."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    """The group's name, or its number as text when the host has no such group."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def lookup_user(module, name):
    """The uid of the user name; fail_json when the host has no such user."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        module.fail_json(msg='The host has no user %s' % name)


def lookup_group(module, name):
    """The gid of the group name; fail_json when the host has no such group."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        module.fail_json(msg='The host has no group %s (it comes with the Docker package)' % name)


class EngineHost(object):
    """The engine role's remote work on one host, through an AnsibleModule.

    Each step returns what it found and sets self.changed when it changed (or in
    check mode would change) something; self.diffs collects the diffs of the files.
    """

    # Who owns daemon.json and its directory.
    OWNER = 'root'
    GROUP = 'root'

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        self.changed = False
        self.diffs = []

    def run(self, argv, what):
        """Run argv; fail_json naming what was attempted when it exits non-zero."""
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.module.fail_json(msg='%s failed (%s): %s' % (
                what, ' '.join(argv), last_line(err, out) or 'exit code %d' % rc), rc=rc, stdout=out, stderr=err)
        return out

    def missing_packages(self, names):
        """The packages of names that dpkg does not list as installed."""
        dpkg_query = self.module.get_bin_path('dpkg-query', required=True)
        rc, out, err = self.module.run_command([dpkg_query, '--show', '--showformat=%s' % DPKG_QUERY_FORMAT] + list(names))
        # Exit code 1 with "no packages found matching" only means a package is unknown, so not installed.
        if rc not in (0, 1):
            self.module.fail_json(msg='dpkg-query could not tell which packages are installed: %s' % (
                last_line(err, out) or 'exit code %d' % rc), rc=rc, stdout=out, stderr=err)
        return missing_packages(names, parse_dpkg_status(out))

    def write_config(self, path, content):
        """Make path hold content (mode 0644, root:root) in a directory of mode 0755, root:root.

        True when the content changed (in check mode, would change); a mode or owner put right
        alone counts as a change of the host, not of the content.
        """
        diffs = ensure_directory(self.module, os.path.dirname(path), '0755', self.OWNER, self.GROUP)
        diffs += sync_owned_file(self.module, path, content, '0644', self.OWNER, self.GROUP)
        if diffs:
            self.changed = True
            self.diffs.extend(diffs)
        return any('before_header' in diff for diff in diffs)

    def socket_dropin(self, path, mode, owner, group):
        """Write the docker.socket drop-in at path and make it systemd's; True when its content changed.

        The Docker API socket is root on the host: whoever can write to it can start a privileged
        container. It stays mode 0660, owner root, group docker, as the audit wants it
        (docker_sock_open, docker_sock_group; CIS Docker Benchmark 3.15 and 3.16). systemd creates
        the socket from docker.socket, at boot and whenever the socket unit starts, so the drop-in
        states the mode and owners there, whatever the packaged unit says. A changed drop-in is
        followed by `systemctl daemon-reload` (not in check mode, where it was not written), so
        that it is the unit's for its next start.

        docker.socket is never restarted, although that would apply the drop-in at once:
        docker.service requires the socket unit, so systemd restarts the engine with it and every
        task on the node stops (swarm mode has no live-restore). The socket that already exists
        keeps its mode; live_socket puts it back.
        """
        changed = self.write_config(path, socket_dropin(mode, owner, group))
        if changed and not self.check_mode:
            systemctl = self.module.get_bin_path('systemctl', required=True)
            self.run([systemctl, 'daemon-reload'], 'Reloading systemd for %s' % path)
        return changed

    def live_socket(self, path, mode, owner, group):
        """Put the existing socket's mode, owner and group back when they differ (check mode: only tell).

        A chmod or chgrp by hand on the live socket lasts until the socket unit starts again,
        which the role never makes it do (see socket_dropin), so it is undone here, on the
        socket itself. A path that does not exist (the engine is not installed or not running,
        or a dry run on a host without Docker) is left alone, and so is one that is not a socket
        (with a warning: the socket unit cannot listen there).
        Returns {found, repaired} and, for a socket found, its mode, owner and group as found.
        """
        result = {'found': False, 'repaired': False}
        try:
            info = os.lstat(path)
        except OSError:
            return result
        if not stat.S_ISSOCK(info.st_mode):
            self.module.warn('%s is not a socket: left alone' % path)
            return result
        before = {'mode': '%04o' % stat.S_IMODE(info.st_mode), 'owner': user_name(info.st_uid),
                  'group': group_name(info.st_gid)}
        after = {'mode': '%04o' % mode, 'owner': owner, 'group': group}
        result.update(found=True, **before)
        differ = sorted(key for key in before if before[key] != after[key])
        if not differ:
            return result
        result['repaired'] = True
        self.changed = True
        self.diffs.append({'before': dict([('path', path)] + [(key, before[key]) for key in differ]),
                           'after': dict([('path', path)] + [(key, after[key]) for key in differ])})
        if self.check_mode:
            return result
        try:
            if 'owner' in differ or 'group' in differ:
                os.chown(path, lookup_user(self.module, owner), lookup_group(self.module, group))
            # After the chown, which may clear set-id bits (none are asked for here).
            os.chmod(path, mode)
        except OSError as exc:
            self.module.fail_json(msg='Cannot put back the mode and owners of %s: %s' % (path, exc))
        return result

    def service(self, name, state):
        """Ask systemd about the unit and, with state=started, enable and start it.

        Nothing is done to a unit systemd does not know (its package is not installed yet).
        """
        systemctl = self.module.get_bin_path('systemctl', required=True)
        shown = parse_systemctl_show(self.run(
            [systemctl, 'show', name, '--property=LoadState', '--property=UnitFileState', '--property=ActiveState'],
            'Asking systemd about %s' % name))
        result = {
            'name': name,
            'found': shown.get('LoadState', UNIT_NOT_FOUND) != UNIT_NOT_FOUND,
            'load_state': shown.get('LoadState', ''),
            'was_active': shown.get('ActiveState') in RUNNING_STATES,
            'was_enabled': shown.get('UnitFileState') in ENABLED_STATES,
            'enabled_now': False,
            'started_now': False,
        }
        if not result['found'] or state != 'started':
            return result
        if not result['was_enabled']:
            if not self.check_mode:
                self.run([systemctl, 'enable', name], 'Enabling %s' % name)
            result['enabled_now'] = True
            self.changed = True
        if not result['was_active']:
            if not self.check_mode:
                self.run([systemctl, 'start', name], 'Starting %s' % name)
            result['started_now'] = True
            self.changed = True
        return result

    def server_version(self):
        """(version, None) when the Docker Engine answers `docker version`, else (None, the reason)."""
        docker = self.module.get_bin_path('docker')
        if docker is None:
            return None, 'the docker command is not installed'
        rc, out, err = self.module.run_command([docker, 'version', '--format', SERVER_VERSION_FORMAT])
        version = out.strip()
        if rc != 0 or not version:
            return None, 'docker version: %s' % (last_line(err, out) or 'exit code %d' % rc)
        return version, None
