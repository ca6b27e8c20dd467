# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# systemd, through systemctl (argv lists only): a unit file the collection owns is
# written or removed with files.sync_file, systemd reloads its units only when the
# file changed, and the unit is enabled or disabled only when it is not already so.
# Check mode asks systemctl (is-enabled is read-only) and predicts the rest.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import read_text, sync_file

# sd_booted(3): systemd is the running init when this directory exists. Without it
# (a chroot, an image being built) units can still be enabled, but not reloaded.
SYSTEMD_RUNTIME_DIR = '/run/systemd/system'


class UnitResult(object):
    """What sync_unit did: changed, the unit file's diff (or None) and the actions, in order."""

    def __init__(self):
        self.changed = False
        self.diff = None
        self.actions = []

    def did(self, action):
        self.changed = True
        self.actions.append(action)


class Systemctl(object):
    """The systemctl commands a module needs; failures end the module naming the command."""

    def __init__(self, module, runtime_dir=None):
        self.module = module
        self.runtime_dir = runtime_dir or SYSTEMD_RUNTIME_DIR
        self.bin = module.get_bin_path('systemctl', opt_dirs=['/usr/bin', '/bin'])

    def require(self):
        if self.bin is None:
            self.module.fail_json(msg='systemctl not found on the host: the boot unit needs systemd '
                                      '(set boot_unit=false to persist the file only).')

    def booted(self):
        return os.path.isdir(self.runtime_dir)

    def run(self, *args):
        rc, out, err = self.module.run_command([self.bin] + list(args))
        if rc != 0:
            self.module.fail_json(msg='systemctl %s failed: %s' % (' '.join(args), (err or out).strip()), rc=rc)
        return out

    def is_enabled(self, name):
        """True when systemctl says the unit is enabled (rc 0 and "enabled"); any other state is False."""
        rc, out, dummy = self.module.run_command([self.bin, 'is-enabled', name])
        return rc == 0 and out.strip() == 'enabled'

    def daemon_reload(self):
        if self.booted():
            self.run('daemon-reload')

    def enable(self, name):
        self.run('enable', name)

    def disable(self, name):
        self.run('disable', name)


def dangling_links(path, wanted_by):
    """The links `systemctl enable` made for the unit at path (its [Install] WantedBy= targets) that remain."""
    name = os.path.basename(path)
    links = [os.path.join(os.path.dirname(path), target + '.wants', name) for target in wanted_by]
    return [link for link in links if os.path.lexists(link)]


def sync_unit(module, systemctl, path, content, wanted_by=()):
    """Make the unit file at `path` hold `content` and be enabled; content None: disabled and removed.

    Returns a UnitResult. systemd reloads its units only when the file changed; the unit
    is enabled (or disabled) only when systemctl says it is not already. In check mode
    nothing is written or run but `systemctl is-enabled`. wanted_by lists the unit's
    WantedBy= targets: a unit file deleted by hand leaves its links there (systemctl then
    says not-found), and removal disables it all the same, so no dangling link stays.
    """
    result = UnitResult()
    name = os.path.basename(path)
    systemctl.require()
    if content is None:
        exists = read_text(path) is not None
        if (exists and systemctl.is_enabled(name)) or (not exists and dangling_links(path, wanted_by)):
            result.did('disabled')
            if not module.check_mode:
                systemctl.disable(name)
        result.diff = sync_file(module, path, None, '0644')
        if result.diff:
            result.did('removed')
    else:
        result.diff = sync_file(module, path, content, '0644')
        if result.diff:
            result.did('written')
    if result.diff and not module.check_mode:
        systemctl.daemon_reload()
    if content is not None and not systemctl.is_enabled(name):
        result.did('enabled')
        if not module.check_mode:
            systemctl.enable(name)
    return result
