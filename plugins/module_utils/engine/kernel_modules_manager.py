# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""Kernel modules through an AnsibleModule: classify the requested ones, load them, persist them.

KernelModulesManager, shared by the kernel_modules and engine_host modules: modprobe (a dry run
to classify, a real run to load) and the modules-load.d file that loads them at boot. What the
kernel has is read by kernel_modules.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ironclad.swarm.plugins.module_utils.common.files import sync_file
from ansible_collections.ironclad.swarm.plugins.module_utils.engine.kernel_modules import (
    STATUS_LOADABLE,
    STATUS_LOADED,
    STATUS_MISSING,
    KernelState,
    ModuleStatus,
    parse_entry,
    resolve_entries,
)


PERSIST_HEADER = (
    '# Managed by the ironclad.swarm.kernel_modules Ansible module: edits are overwritten.\n'
    '# Kernel modules loaded at boot by systemd-modules-load (modules-load.d(5)).\n'
)


def render_persist_file(names):
    """Contents of a modules-load.d file listing names, or None for no file."""
    if not names:
        return None
    return PERSIST_HEADER + ''.join('%s\n' % name for name in names)


class KernelModulesManager(object):
    """Classify requested kernel modules through an AnsibleModule, then load and persist them.

    Shared by the kernel_modules and engine_host modules. The module supplies check mode,
    run_command, get_bin_path, warn and fail_json; the kernel's files are read through
    KernelState.from_system() unless a KernelState is given.
    """

    def __init__(self, module, kernel=None):
        self.module = module
        self.check_mode = module.check_mode
        self.kernel = kernel if kernel is not None else KernelState.from_system()
        self.modprobe = module.get_bin_path('modprobe', opt_dirs=['/usr/sbin', '/sbin'])
        self.changed = False
        self.diff = None
        self.loaded_now = set()

    @staticmethod
    def _last_line(*texts):
        for text in texts:
            lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return ''

    def probe(self, name):
        """Ask modprobe whether name can be loaded, without loading it."""
        if self.modprobe is None:
            return False, 'modprobe not found (install kmod)'
        rc, out, err = self.module.run_command([self.modprobe, '--dry-run', '--verbose', name])
        if rc == 0:
            detail = self._last_line(out)
            return True, 'modprobe --dry-run: %s' % detail if detail else 'modprobe --dry-run found it'
        return False, 'modprobe --dry-run: %s' % (self._last_line(err, out) or 'exit code %d' % rc)

    def load(self, status):
        """Load a loadable module; returns its new status."""
        if self.check_mode:
            self.loaded_now.add(status.name)
            return status
        rc, out, err = self.module.run_command([self.modprobe, status.name])
        if rc != 0:
            reason = self._last_line(err, out) or 'exit code %d' % rc
            self.module.warn('modprobe %s failed: %s' % (status.name, reason))
            return ModuleStatus(status.name, STATUS_MISSING, '%s; but modprobe %s failed: %s' % (status.source, status.name, reason))
        self.loaded_now.add(status.name)
        return ModuleStatus(status.name, STATUS_LOADED, 'loaded by modprobe')

    def parse(self, names, option='names'):
        """The entries of names, or fail_json naming option[index] and what is wrong."""
        entries = []
        for index, entry in enumerate(names):
            try:
                entries.append(parse_entry(entry))
            except ValueError as exc:
                self.module.fail_json(msg='%s[%d]: %s' % (option, index, exc))
        if not entries:
            self.module.fail_json(msg='%s is empty: give at least one kernel module name' % option)
        return entries

    def run(self, names, state='present', persist=True, persist_file=None, option='names'):
        """Classify names and, with state=present, load and persist; returns the kernel_modules result.

        self.changed and self.diff (the persist file's) tell what changed.
        """
        results = resolve_entries(self.parse(names, option), self.kernel, self.probe)
        statuses = {}
        for result in results:
            for status in result.statuses:
                statuses[status.name] = status

        if state == 'present':
            for result in results:
                chosen = result.chosen
                if chosen is not None and chosen.status == STATUS_LOADABLE and chosen.name not in self.loaded_now:
                    new = self.load(chosen)
                    statuses[new.name] = new
                    self.changed = True
                    result.statuses = [new if s.name == new.name else s for s in result.statuses]
                    result.chosen = new if new.present else None

        response = {
            'kernel_release': self.kernel.release,
            'modules': dict(
                (name, dict(status.as_dict(), loaded_now=name in self.loaded_now))
                for name, status in statuses.items()),
            'entries': [
                {
                    'entry': result.entry,
                    'satisfied_by': result.chosen.name if result.chosen else None,
                    'status': result.chosen.status if result.chosen else STATUS_MISSING,
                }
                for result in results],
            'missing': [result.entry for result in results if result.chosen is None],
        }

        if state == 'present' and persist:
            persisted = []
            for result in results:
                chosen = result.chosen
                if chosen is not None and chosen.status in (STATUS_LOADED, STATUS_LOADABLE) and chosen.name not in persisted:
                    persisted.append(chosen.name)
            diff = sync_file(self.module, persist_file, render_persist_file(persisted), '0644')
            if diff:
                self.changed = True
                self.diff = diff
            response['persist_file'] = persist_file
            response['persisted'] = persisted

        if state == 'present' and response['missing']:
            self.module.warn('The running kernel (%s) lacks %s' % (
                self.kernel.release, ', '.join(response['missing'])))
        return response
