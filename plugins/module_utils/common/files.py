# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
#
# Small files the collection's modules own on a node (a modules-load.d list, a
# persisted firewall batch): compare, then write atomically or remove, with a diff
# for --diff runs.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

# No import from Ansible: the node agent (audit/agent.py) runs this code without Ansible on the node.


def read_text(path):
    """The file's text, or None when it does not exist."""
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as handle:
        return handle.read().decode('utf-8', 'replace')


def read_json(path):
    """The file's JSON, or None when it is missing, unreadable or not JSON."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def sync_file(module, path, content, mode):
    """Make `path` hold `content` (None: no file). Returns None when nothing differs, else the diff.

    In check mode only the diff is computed. Writes go through a temporary file and
    module.atomic_move, so a reader never sees half a file; failures end the module
    with the path and the reason.
    """
    before = read_text(path)
    if before == content:
        return None
    diff = {'before_header': path, 'after_header': path, 'before': before or '', 'after': content or ''}
    if module.check_mode:
        return diff
    if content is None:
        try:
            os.unlink(path)
        except OSError as exc:
            module.fail_json(msg='Cannot remove %s: %s' % (path, exc))
        return diff
    directory = os.path.dirname(path) or '.'
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write %s: %s' % (path, exc))
    write_atomically(module, path, content)
    module.set_mode_if_different(path, mode, False)
    return diff


def write_atomically(module, path, content):
    """Write content to path through a temporary file and module.atomic_move."""
    try:
        fd, tmp = tempfile.mkstemp(dir=module.tmpdir)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content.encode('utf-8') if not isinstance(content, bytes) else content)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write %s: %s' % (path, exc))
    module.atomic_move(tmp, path)


def set_attributes(module, path, mode, owner=None, group=None):
    """Give the existing path mode, owner and group (check mode: only tell). Returns a diff, or None when all matched."""
    diff = {'before': {'path': path}, 'after': {'path': path}}
    changed = False
    if owner is not None:
        changed = module.set_owner_if_different(path, owner, changed, diff)
    if group is not None:
        changed = module.set_group_if_different(path, group, changed, diff)
    changed = module.set_mode_if_different(path, mode, changed, diff)
    return diff if changed else None


def ensure_directory(module, path, mode, owner=None, group=None):
    """Make path a directory with mode, owner and group. Returns the diffs, an empty list when nothing changed.

    Missing parents are created as well (mode 0755). In check mode only the diffs are computed.
    """
    if os.path.isdir(path):
        diff = set_attributes(module, path, mode, owner, group)
        return [diff] if diff else []
    diff = {'before': {'path': path, 'state': 'absent'}, 'after': {'path': path, 'state': 'directory'}}
    if module.check_mode:
        return [diff]
    try:
        os.makedirs(path, 0o755)
    except OSError as exc:
        module.fail_json(msg='Cannot create the directory %s: %s' % (path, exc))
    set_attributes(module, path, mode, owner, group)
    return [diff]


def sync_owned_file(module, path, content, mode, owner=None, group=None):
    """Make path hold content with mode, owner and group. Returns the diffs, an empty list when nothing changed.

    Unlike sync_file, the attributes are put right even when the content already matches.
    The content is written atomically; the directory must exist (see ensure_directory).
    In check mode only the diffs are computed.
    """
    before = read_text(path)
    diffs = []
    if before != content:
        diffs.append({'before_header': path, 'after_header': path, 'before': before or '', 'after': content})
        if module.check_mode:
            return diffs
        write_atomically(module, path, content)
    attributes = set_attributes(module, path, mode, owner, group)
    if attributes:
        diffs.append(attributes)
    return diffs
