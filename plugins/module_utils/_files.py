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

import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native


def read_text(path):
    """The file's text, or None when it does not exist."""
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as handle:
        return handle.read().decode('utf-8', 'replace')


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
            module.fail_json(msg='Cannot remove %s: %s' % (path, to_native(exc)))
        return diff
    directory = os.path.dirname(path) or '.'
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(dir=module.tmpdir)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(to_bytes(content))
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write %s: %s' % (path, to_native(exc)))
    module.atomic_move(tmp, path)
    module.set_mode_if_different(path, mode, False)
    return diff
