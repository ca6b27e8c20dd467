# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# A Docker host as the engine role sees it, in one pass: which packages dpkg has
# installed, /etc/docker/daemon.json, the docker systemd unit and the Docker
# Engine's version. The parsers work on the commands' text so that they can be
# tested with recorded outputs; EngineHost runs the commands through an
# AnsibleModule (argv lists, never a shell) and honours check mode.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

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


def parse_systemctl_show(text):
    """`systemctl show --property=...` output (KEY=value lines) -> dict."""
    properties = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep:
            properties[key.strip()] = value.strip()
    return properties


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

    def write_daemon_json(self, path, content):
        """Make path hold content (mode 0644, root:root) in a directory of mode 0755, root:root; True when it changed."""
        diffs = ensure_directory(self.module, os.path.dirname(path), '0755', self.OWNER, self.GROUP)
        diffs += sync_owned_file(self.module, path, content, '0644', self.OWNER, self.GROUP)
        if diffs:
            self.changed = True
            self.diffs.extend(diffs)
        return any('before_header' in diff for diff in diffs)

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
